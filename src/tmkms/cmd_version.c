#include <stdio.h>

#include "cli.h"

int cmd_version(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("Usage: tmkms version\n\nPrints the version and git revision.\n");
        return TM_EXIT_OK;
    }
    printf("tmkms %s (tmkms-nitro, git %s)\n", TMKMS_VERSION, TMKMS_GIT_REV);
    return TM_EXIT_OK;
}
