/* tmkms: a Tendermint/CometBFT key management system. Subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct subcommand subcommands[] = {
    {"init", cmd_init, "write a starter tmkms.toml, key and state directories"},
    {"start", cmd_start, "serve the validators in a config file"},
    {"pubkey", cmd_pubkey, "print a chain's consensus public key"},
    {"softsign", cmd_softsign, "create or import software-held ed25519 keys"},
    {"state", cmd_state, "create, show, export or import a chain's double-sign state"},
    {"status", cmd_status, "show what a running tmkms is doing (chains, validators, persistence)"},
    {"ha", cmd_ha, "show the high-availability cluster's records and etcd endpoints"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: tmkms <command> [options]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\nRun 'tmkms <command> --help' for a command's options.\n");
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TM_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return TM_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tmkms: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return TM_EXIT_USAGE;
}
