#include <stdio.h>

#include "cli.h"

int cmd_softsign(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "tmkms softsign: not built yet\n");
    return TM_EXIT_FAIL;
}
