#include <stdio.h>

#include "cli.h"

int cmd_pubkey(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tmkms pubkey: not built yet\n");
    return TM_EXIT_FAIL;
}
