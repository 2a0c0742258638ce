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
    fprintf(out, "Usage: tmkms start [-c FILE] [-v] [--log-level LEVEL]\n\n"
                 "Connects to every [[validator]] of the config and signs for its chain.\n\n"
                 "Options:\n"
                 "  -c, --config FILE      configuration file (default: tmkms.toml)\n"
                 "  -v, --verbose          debug logging (same as --log-level debug)\n"
                 "      --log-level LEVEL  error, warn, info (default) or debug\n"
                 "  -h, --help             this help\n\n"
                 "Every chain needs its state file (tmkms state init) and its consensus key\n"
                 "([[providers.softsign]]). Stops cleanly on SIGINT or SIGTERM.\n");
}

int cmd_start(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"verbose", no_argument, NULL, 'v'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *config_path = "tmkms.toml";
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'v': tm_log_set_level(TM_LOG_DEBUG); break;
        case 'l': {
            int level = tm_log_parse_level(optarg);
            if (level < 0) {
                fprintf(stderr, "tmkms start: --log-level: '%s' is not error, warn, info or debug\n", optarg);
                return TM_EXIT_USAGE;
            }
            tm_log_set_level((tm_log_level)level);
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
