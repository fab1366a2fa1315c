/*
 * cmd_tracker.c — `shoal tracker`: run the tracker server (src/io/
 * tracker_srv.c) on one event loop until SIGINT or SIGTERM.
 *
 * Defaults are for a data center: HTTP on 0.0.0.0:6969, UDP only when asked
 * (--udp; two protocols are two attack surfaces, and most fleets need one),
 * and a 30 s announce interval, short enough that a fleet converges within
 * seconds of a host joining or leaving, long enough that 10 000 hosts cost
 * the tracker only a few hundred announces per second.
 */
#include "cli/cli.h"

#include "io/loop.h"
#include "io/net.h"
#include "io/readfile.h"
#include "io/tracker_srv.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define CMD "tracker"
#define ALLOW_FILE_MAX (64u << 20)
#define DEFAULT_PORT 6969

typedef struct tracker_args {
    sh_tracker_config cfg;
    const char *allow_file;
    uint8_t (*allow)[20];
    size_t n_allow;
    bool json_log;
} tracker_args;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: shoal tracker [options]\n"
            "\n"
            "Run a BitTorrent tracker: HTTP announce/scrape (BEP 3, 23, 48), optionally UDP\n"
            "(BEP 15), with a peer selection policy for fleets. Status page at /, JSON at\n"
            "/stats.json, Prometheus metrics at /metrics (on every HTTP address).\n"
            "\n"
            "options:\n"
            "  -l, --listen ADDR:PORT  HTTP address (default 0.0.0.0:%d; repeatable, up to %d;\n"
            "                          [::1]:PORT for IPv6; a bare PORT means 0.0.0.0:PORT)\n"
            "      --udp ADDR:PORT     also serve UDP (BEP 15) there (repeatable; off by default)\n"
            "      --interval SECONDS  announce interval told to clients (default 30; 1..86400)\n"
            "      --private           track only the info hashes listed by --allow\n"
            "      --allow FILE        allowed info hashes, 40 hex characters per line ('#'\n"
            "                          comments and blank lines ignored); implies --private\n"
            "      --max-peers N       peers tracked in total (default 1000000)\n"
            "      --max-swarms N      swarms tracked (default 100000)\n"
            "      --max-swarm-peers N peers per swarm (default 50000; at most 4194303)\n"
            "      --no-peer-ids       keep no peer ids (20 bytes less per peer); answers in\n"
            "                          the dictionary form (compact=0) then carry none\n"
            "      --policy P          whom an announce is answered with: 'fleet' (default:\n"
            "                          seeds to a few askers per interval, then peers that\n"
            "                          hold data, then newcomers) or 'random' (a uniform\n"
            "                          sample of the swarm, as classic trackers do);\n"
            "                          docs/tracker.md compares them\n"
            "      --ip-rate N         requests per second per source address, burst 2N\n"
            "                          (default 200; 0 disables; IPv6 counts per /64)\n"
            "      --max-conns N       HTTP connections in total (default 4096)\n"
            "      --conns-per-ip N    HTTP connections per source address (default 64)\n"
            "      --log-level L       error, warn (default), info, debug, trace\n"
            "      --json-log          log lines as JSON objects on stderr\n"
            "  -h, --help              show this help\n"
            "\n"
            "On start it prints one line per address: 'tracker listening on URL'.\n"
            "exit status: 0 after SIGINT/SIGTERM; 2 bad usage (bad address or number,\n"
            "unreadable or malformed --allow file); 1 could not start (e.g. address in use).\n",
            DEFAULT_PORT, SH_TRACKER_MAX_LISTEN);
}

/* ---------------------------------------------------------------- options */

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = (uint32_t)v;
    return 0;
}

/* "ADDR:PORT", "[V6]:PORT" or a bare "PORT" (0.0.0.0). */
static int parse_listen(const char *s, sh_addr *out)
{
    uint32_t port;
    if (parse_u32(s, 0, 65535, &port) == 0) {
        memset(out, 0, sizeof *out);
        out->family = 4;
        out->port = (uint16_t)port;
        return 0;
    }
    return sh_addr_parse(s, out) ? -1 : 0;
}

static int add_addr(sh_addr *list, unsigned *n, const char *opt, const char *val)
{
    if (*n >= SH_TRACKER_MAX_LISTEN)
        return cli_usage_error(CMD, "at most %d %s addresses", SH_TRACKER_MAX_LISTEN, opt);
    if (parse_listen(val, &list[*n]))
        return cli_usage_error(CMD,
                               "%s '%s': expected ADDR:PORT, e.g. 127.0.0.1:6969 or "
                               "[::1]:6969",
                               opt, val);
    (*n)++;
    return -1;
}

static int number(const char *opt, const char *val, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (parse_u32(val, lo, hi, out))
        return cli_usage_error(CMD, "%s '%s': expected a whole number from %u to %u", opt, val, lo,
                               hi);
    return -1;
}

enum {
    O_UDP = 256,
    O_INTERVAL,
    O_PRIVATE,
    O_ALLOW,
    O_MAX_PEERS,
    O_MAX_SWARMS,
    O_SWARM_PEERS,
    O_IP_RATE,
    O_MAX_CONNS,
    O_CONNS_IP,
    O_LOG,
    O_JSON_LOG,
    O_NO_PEER_IDS,
    O_POLICY,
};

static int one_option(int c, const char *val, tracker_args *a)
{
    sh_tracker_config *cfg = &a->cfg;
    switch (c) {
    case 'l':
        return add_addr(cfg->http, &cfg->n_http, "--listen", val);
    case O_UDP:
        return add_addr(cfg->udp, &cfg->n_udp, "--udp", val);
    case O_INTERVAL:
        return number("--interval", val, 1, 86400, &cfg->store.interval);
    case O_PRIVATE:
        cfg->store.private_mode = true;
        return -1;
    case O_ALLOW:
        a->allow_file = val;
        cfg->store.private_mode = true;
        return -1;
    case O_MAX_PEERS:
        return number("--max-peers", val, 1, 100000000, &cfg->store.max_peers_total);
    case O_MAX_SWARMS:
        return number("--max-swarms", val, 1, 10000000, &cfg->store.max_swarms);
    case O_SWARM_PEERS:
        return number("--max-swarm-peers", val, 1, 4194303, &cfg->store.max_peers_swarm);
    case O_IP_RATE:
        return number("--ip-rate", val, 0, 10000000, &cfg->ip_rate);
    case O_MAX_CONNS:
        return number("--max-conns", val, 1, 1000000, &cfg->max_conns);
    case O_CONNS_IP:
        return number("--conns-per-ip", val, 1, 1000000, &cfg->max_conns_per_ip);
    case O_LOG:
        if (cli_set_log_level(val)) return cli_usage_error(CMD, "unknown --log-level '%s'", val);
        return -1;
    case O_JSON_LOG:
        a->json_log = true;
        return -1;
    case O_NO_PEER_IDS:
        cfg->store.no_peer_ids = true;
        return -1;
    case O_POLICY:
        if (strcmp(val, "fleet") == 0) {
            cfg->store.policy = SH_TSTORE_FLEET;
        } else if (strcmp(val, "random") == 0) {
            cfg->store.policy = SH_TSTORE_RANDOM;
        } else {
            return cli_usage_error(CMD, "--policy '%s': expected 'fleet' or 'random'", val);
        }
        return -1;
    default:
        return cli_usage_error(CMD, "unknown option");
    }
}

/* Returns -1 to continue, or an exit code. */
static int parse_args(int argc, char **argv, tracker_args *a)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"udp", required_argument, NULL, O_UDP},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"private", no_argument, NULL, O_PRIVATE},
        {"allow", required_argument, NULL, O_ALLOW},
        {"max-peers", required_argument, NULL, O_MAX_PEERS},
        {"max-swarms", required_argument, NULL, O_MAX_SWARMS},
        {"max-swarm-peers", required_argument, NULL, O_SWARM_PEERS},
        {"ip-rate", required_argument, NULL, O_IP_RATE},
        {"max-conns", required_argument, NULL, O_MAX_CONNS},
        {"conns-per-ip", required_argument, NULL, O_CONNS_IP},
        {"log-level", required_argument, NULL, O_LOG},
        {"json-log", no_argument, NULL, O_JSON_LOG},
        {"no-peer-ids", no_argument, NULL, O_NO_PEER_IDS},
        {"policy", required_argument, NULL, O_POLICY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    a->cfg.ip_rate = 200;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":hl:", opts, NULL)) != -1) {
        int rc;
        switch (c) {
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case ':':
            return cli_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
        case '?':
            return cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        default:
            rc = one_option(c, optarg, a);
            if (rc >= 0) return rc;
        }
    }
    if (optind < argc) return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (a->cfg.store.private_mode && !a->allow_file)
        return cli_usage_error(CMD, "--private needs --allow FILE (the hashes to track)");
    /* "min interval" is only sent when non-zero, and libtorrent assumes 30 s
     * when it is absent: never let interval / 2 round down to nothing. */
    if (a->cfg.store.interval) {
        a->cfg.store.min_interval = a->cfg.store.interval / 2;
        if (!a->cfg.store.min_interval) a->cfg.store.min_interval = 1;
    }
    if (a->cfg.n_http == 0) {
        a->cfg.http[0] = (sh_addr){.family = 4, .port = DEFAULT_PORT};
        a->cfg.n_http = 1;
    }
    return -1;
}

/* ---------------------------------------------------------------- allow file */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* One line: blank, a comment, or 40 hex digits. 0, 1 (nothing), or -1. */
static int allow_line(const char *p, size_t n, uint8_t hash[20])
{
    while (n && is_space(*p))
        p++, n--;
    while (n && is_space(p[n - 1]))
        n--;
    if (n == 0 || *p == '#') return 1;
    if (n != 40 || sh_unhex(p, n, hash, 20)) return -1;
    return 0;
}

/* Reads the allow-list before anything binds, so a bad file costs nothing.
 * *hashes is malloc'd (may be NULL when *count is 0). */
static int load_allow(const char *path, uint8_t (**hashes)[20], size_t *count)
{
    uint8_t *buf;
    size_t len;
    int e;
    int rc = sh_readfile(path, ALLOW_FILE_MAX, &buf, &len, &e);
    if (rc == SH_ELIMIT)
        return cli_cmd_error(EXIT_USAGE, CMD, "%s: larger than %u MiB", path, ALLOW_FILE_MAX >> 20);
    if (rc == SH_EIO) return cli_cmd_error(EXIT_USAGE, CMD, "%s: %s", path, strerror(e));
    if (rc) return cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", path, sh_strerror(rc));
    /* At most one hash per 41 bytes (40 digits and a newline), plus one. */
    size_t cap = len / 41 + 1;
    uint8_t(*v)[20] = malloc(cap * sizeof *v);
    if (!v) {
        free(buf);
        return cli_cmd_error(EXIT_FAIL, CMD, "%s: out of memory", path);
    }
    const char *p = (const char *)buf, *end = p + len;
    size_t n = 0;
    for (unsigned line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        uint8_t h[20];
        int r = allow_line(p, l, h);
        if (r < 0) {
            free(buf);
            free(v);
            return cli_cmd_error(EXIT_USAGE, CMD,
                                 "%s:%u: expected an info hash (40 hex characters)", path, line);
        }
        if (r == 0 && n < cap) memcpy(v[n++], h, 20);
        p += l + 1;
    }
    free(buf);
    *hashes = v;
    *count = n;
    return 0;
}

/* ---------------------------------------------------------------- running */

static void json_sink(void *ud, sh_log_level level, const char *component, const char *msg)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *o = json_pack("{s:f, s:s, s:s, s:s}", "ts", (double)ts.tv_sec + ts.tv_nsec / 1e9,
                          "level", sh_log_level_name(level), "component", component, "msg", msg);
    if (!o) return;
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (s) fprintf(stderr, "%s\n", s);
    free(s);
}

static void on_signal(sh_loop *l, int signo, void *ud)
{
    (void)ud;
    sh_log(&cli_logger, SH_LOG_INFO, CMD, "signal %d: stopping", signo);
    sh_loop_stop(l);
}

/* Many HTTP clients need many fds: take what the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void banner(const sh_tracker *t)
{
    sh_addr a[SH_TRACKER_MAX_LISTEN];
    char s[SH_ADDR_STRLEN];
    unsigned n = sh_tracker_http_addrs(t, a, SH_TRACKER_MAX_LISTEN);
    for (unsigned i = 0; i < n; i++)
        printf("tracker listening on http://%s/announce\n", sh_addr_format(&a[i], s, sizeof s));
    n = sh_tracker_udp_addrs(t, a, SH_TRACKER_MAX_LISTEN);
    for (unsigned i = 0; i < n; i++)
        printf("tracker listening on udp://%s/announce\n", sh_addr_format(&a[i], s, sizeof s));
    fflush(stdout);
}

static int serve(tracker_args *a)
{
    sh_loop *loop = NULL;
    sh_tracker *t = NULL;
    sh_errinfo ei = {{0}, 0};
    int code = EXIT_FAIL, rc = sh_loop_new(&loop);
    if (rc) return cli_cmd_error(EXIT_FAIL, CMD, "event loop: %s", sh_strerror(rc));
    /* A shell starts background jobs with SIGINT ignored, and an ignored
     * signal never reaches the signalfd: take both back explicitly. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (sh_loop_signal(loop, SIGINT, on_signal, NULL) ||
        sh_loop_signal(loop, SIGTERM, on_signal, NULL)) {
        cli_cmd_error(EXIT_FAIL, CMD, "cannot watch SIGINT/SIGTERM");
        goto out;
    }
    rc = sh_tracker_new(loop, &a->cfg, &t, &ei);
    if (rc) {
        cli_cmd_error(EXIT_FAIL, CMD, "%s", ei.msg[0] ? ei.msg : sh_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < a->n_allow; i++) {
        rc = sh_tracker_allow(t, a->allow[i]);
        if (rc) {
            cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", a->allow_file, sh_strerror(rc));
            goto out;
        }
    }
    if (a->allow_file)
        sh_log(&cli_logger, SH_LOG_INFO, CMD, "private: %zu info hashes allowed", a->n_allow);
    sh_log(&cli_logger, SH_LOG_INFO, CMD, "selection policy: %s",
           a->cfg.store.policy == SH_TSTORE_RANDOM ? "random" : "fleet");
    banner(t);
    rc = sh_loop_run(loop);
    code = rc ? cli_cmd_error(EXIT_FAIL, CMD, "event loop: %s", sh_strerror(rc)) : EXIT_OK;
out:
    sh_tracker_free(t);
    sh_loop_free(loop);
    return code;
}

int cmd_tracker(int argc, char **argv)
{
    tracker_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    if (a.json_log) cli_logger.fn = json_sink;
    a.cfg.log = &cli_logger;
    if (a.allow_file) {
        rc = load_allow(a.allow_file, &a.allow, &a.n_allow);
        if (rc) return rc;
    }
    raise_fd_limit();
    sh_net_ignore_sigpipe();
    rc = serve(&a);
    free(a.allow);
    return rc;
}
