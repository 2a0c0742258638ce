/* tmkms start: load the config, open every chain (key + state), serve the validators. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "service.h"
#include "tmkms/log.h"

static void start_usage(FILE *out)
{
    fprintf(out, "Usage: tmkms start [-c FILE] [-v] [--log-level SPEC] [--log-format FORMAT]\n\n"
                 "Connects to every [[validator]] of the config and signs for its chain.\n\n"
                 "Options:\n"
                 "  -c, --config FILE        configuration file (default: tmkms.toml)\n"
                 "  -v, --verbose            debug logging (same as --log-level debug)\n"
                 "      --log-level SPEC     error, warn, info (default) or debug, optionally with\n"
                 "                           levels per module: info,sign=warn,conn=debug\n"
                 "                           (modules: tmkms, chain, conn, sign, state, ha, systemd)\n"
                 "      --log-format FORMAT  human (default) or json: one object per line with\n"
                 "                           ts, level, module, chain (when known) and msg\n"
                 "  -h, --help               this help\n\n"
                 "Every chain needs its state file (tmkms state init) and its consensus key\n"
                 "([[providers.softsign]]). Stops cleanly on SIGINT or SIGTERM.\n\n"
                 "Under systemd (Type=notify, NOTIFY_SOCKET set): READY=1 once every chain's key\n"
                 "and state are loaded and the validator connections started, STATUS= with the\n"
                 "connected validators, WATCHDOG=1 while every chain's signing lock can be taken\n"
                 "(WatchdogSec=), STOPPING=1 on SIGTERM.\n");
}

int cmd_start(int argc, char **argv)
{
    enum { O_LEVEL = 256, O_FORMAT };
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"verbose", no_argument, NULL, 'v'},
                                            {"log-level", required_argument, NULL, O_LEVEL},
                                            {"log-format", required_argument, NULL, O_FORMAT},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *config_path = "tmkms.toml";
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'v': tm_log_set_level(TM_LOG_DEBUG); break;
        case O_LEVEL: {
            char why[160];
            if (tm_log_set_spec(optarg, why, sizeof(why)) != 0) {
                fprintf(stderr, "tmkms start: --log-level: %s\n", why);
                return TM_EXIT_USAGE;
            }
            break;
        }
        case O_FORMAT: {
            int format = tm_log_parse_format(optarg);
            if (format < 0) {
                fprintf(stderr, "tmkms start: --log-format: '%s' is not human or json\n", optarg);
                return TM_EXIT_USAGE;
            }
            tm_log_set_format((tm_log_format)format);
            break;
        }
        case 'h': start_usage(stdout); return TM_EXIT_OK;
        default: start_usage(stderr); return TM_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tmkms start: unexpected argument '%s'\n", argv[optind]);
        return TM_EXIT_USAGE;
    }
    if (tm_crypto_init() != TM_OK || tm_process_harden() != TM_OK) {
        fprintf(stderr, "tmkms start: %s\n", tm_err_msg());
        return TM_EXIT_FAIL;
    }

    tm_config *config = NULL;
    tm_status status = tm_config_load(config_path, &config);
    if (status != TM_OK) {
        fprintf(stderr, "tmkms start: %s\n", tm_err_msg());
        return status == TM_ERR_CONFIG ? TM_EXIT_USAGE : TM_EXIT_FAIL;
    }
    tm_log_info("tmkms", "tmkms %s (git %s) starting with %s", TMKMS_VERSION, TMKMS_GIT_REV, config->path);

    tm_service service;
    status = tm_service_open(config, &service);
    if (status != TM_OK) {
        tm_log_error("tmkms", "%s", tm_err_msg());
        tm_config_free(config);
        return status == TM_ERR_CONFIG ? TM_EXIT_USAGE : TM_EXIT_FAIL;
    }
    return tm_service_run(&service); /* does not return: exits after a clean shutdown */
}
