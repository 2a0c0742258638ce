#include <stdio.h>

#include "cli.h"

int cmd_state(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tmkms state: not built yet\n");
    return TM_EXIT_FAIL;
}
