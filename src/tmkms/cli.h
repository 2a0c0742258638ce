/* Shared declarations of the tmkms subcommands: one file per subcommand (cmd_*.c), each
 * exporting one entry point listed in main.c's table. */
#ifndef TMKMS_CLI_H
#define TMKMS_CLI_H

int cmd_ha(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_pubkey(int argc, char **argv);
int cmd_softsign(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_version(int argc, char **argv);

/* Exit statuses: 0 ok, 1 runtime failure, 2 usage or configuration error. */
#define TM_EXIT_OK 0
#define TM_EXIT_FAIL 1
#define TM_EXIT_USAGE 2

/* True when argv[i] is -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
