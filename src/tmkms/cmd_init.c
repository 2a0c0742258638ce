#include <stdio.h>

#include "cli.h"

int cmd_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tmkms init: not built yet\n");
    return TM_EXIT_FAIL;
}
