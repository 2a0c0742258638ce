/* What the `status` subcommands of tmkms and tmkms-nitro-helper share: their options and
 * the lines they print from a status document. See status_socket.h. */
#include <getopt.h>
#include <stdio.h>

#include "tmkms/status_socket.h"

void tm_status_print_duration(int64_t s)
{
    if (s < 120)
        printf("%llds", (long long)s);
    else if (s < 7200)
        printf("%lldm", (long long)(s / 60));
    else if (s < 172800)
        printf("%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
    else
        printf("%lldd", (long long)(s / 86400));
}

const char *tm_status_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "?";
}

void tm_status_print_head(const json_t *doc, const char *extra)
{
    printf("%s %s (pid %lld, up ", tm_status_str(doc, "program"), tm_status_str(doc, "version"),
           (long long)json_integer_value(json_object_get(doc, "pid")));
    tm_status_print_duration(json_integer_value(json_object_get(doc, "uptime_seconds")));
    printf("%s)\n", extra);
}

void tm_status_print_chain(const json_t *chain, const char *verb)
{
    printf("chain %s: last %s %lld/%lld/%s", tm_status_str(chain, "id"), verb,
           (long long)json_integer_value(json_object_get(chain, "height")),
           (long long)json_integer_value(json_object_get(chain, "round")), tm_status_str(chain, "step"));
    const json_t *age = json_object_get(chain, "last_signature_age_seconds");
    if (json_is_integer(age)) {
        printf(", ");
        tm_status_print_duration(json_integer_value(age));
        printf(" ago");
    } else {
        printf(", nothing new %s since start", verb);
    }
    json_int_t failures = json_integer_value(json_object_get(chain, "persist_failures"));
    if (failures)
        printf("; PERSISTENCE FAILURES %lld, last: %s\n", (long long)failures,
               tm_status_str(chain, "last_persist_error"));
    else
        printf("; persistence ok\n");
}

void tm_status_print_link(const json_t *v)
{
    bool connected = json_is_true(json_object_get(v, "connected"));
    printf("%s", connected ? "connected" : "DOWN");
    const json_t *since = json_object_get(v, "state_seconds");
    if (json_is_integer(since)) {
        printf(" for ");
        tm_status_print_duration(json_integer_value(since));
    }
    json_int_t sessions = json_integer_value(json_object_get(v, "sessions"));
    printf(" (%lld session%s)", (long long)sessions, sessions == 1 ? "" : "s");
    const char *err = json_string_value(json_object_get(v, "last_error"));
    if (!connected && err) printf(": %s", err);
    printf("\n");
}

int tm_status_parse_args(int argc, char **argv, const char *command, void (*usage)(FILE *out),
                         const char **config_path, bool *as_json)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c') {
            *config_path = optarg;
        } else if (c == 'j') {
            *as_json = true;
        } else if (c == 'h') {
            usage(stdout);
            return 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", command, argv[optind]);
        return 2;
    }
    return 0;
}
