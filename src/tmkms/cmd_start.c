#include <stdio.h>

#include "cli.h"

int cmd_start(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tmkms start: not built yet\n");
    return TM_EXIT_FAIL;
}
