/*
 * cmd_dht.c — `shoal dht`: a standalone DHT node, typically a fleet's
 * bootstrap router that every peer's --dht-bootstrap names.
 *
 * It prints "dht node <hex id> listening on ADDR:PORT" once per node on
 * stdout, a one-line summary on stderr every --stats-every seconds, and on
 * SIGINT/SIGTERM saves its state (--state) and exits 0.
 *
 * Two hidden options serve tests and large fleets: --nodes N runs N nodes in
 * this one process on consecutive addresses (127.x.y.z + i on loopback,
 * otherwise consecutive ports), each a real node with its own UDP socket;
 * --control reads commands from stdin (dht_ctl.c).
 */
#include "cli/cli.h"
#include "cli/dht_fleet.h"

#include "io/clock.h"
#include "io/net.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define CMD "dht"
#define MAX_BOOTSTRAP 64

typedef struct dht_args {
    sh_addr listen;
    bool have_listen;
    sh_addr boot[MAX_BOOTSTRAP];
    uint32_t nboot;
    const char *state;
    double stats_every;
    uint32_t nodes;
    bool control;
} dht_args;

static void usage(FILE *f)
{
    fprintf(f, "usage: shoal dht -l ADDR:PORT [options]\n"
               "\n"
               "Run a DHT node (BitTorrent Kademlia, BEP 5) on its own, for instance as the\n"
               "bootstrap router of a fleet: peers started with --dht-bootstrap ADDR:PORT join\n"
               "the DHT through it. The node answers queries, stores announced peers and keeps\n"
               "its routing table; it downloads nothing.\n"
               "\n"
               "options:\n"
               "  -l, --listen ADDR:PORT     UDP address to bind (IPv4 or [IPv6]; the family of\n"
               "                             the address is the family of the node)\n"
               "      --bootstrap ADDR:PORT  a node to join the DHT through; repeat for more\n"
               "      --state FILE           keep the node id and routing table in FILE: loaded\n"
               "                             at start (missing is fine, unusable is a warning),\n"
               "                             saved every 5 minutes and at exit\n"
               "      --stats-every SECONDS  one summary line on stderr this often (default 60;\n"
               "                             0: never)\n"
               "      --log-level L          error, warn (default), info, debug, trace\n"
               "  -h, --help                 show this help\n"
               "\n"
               "stdout: \"dht node <hex id> listening on ADDR:PORT\" once the node is up.\n"
               "SIGINT or SIGTERM saves the state and exits 0.\n"
               "exit status: 0 stopped by a signal; 1 cannot bind or run; 2 bad usage.\n");
}

static int parse_count(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *s == '+' || *end || errno || v < 1 || v > max) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int add_bootstrap(dht_args *a, const char *s)
{
    sh_addr b;
    if (sh_addr_parse(s, &b) || b.port == 0)
        return cli_usage_error(CMD, "--bootstrap: '%s' is not ADDR:PORT with a nonzero port", s);
    if (a->nboot >= MAX_BOOTSTRAP)
        return cli_usage_error(CMD, "--bootstrap given more than %d times", MAX_BOOTSTRAP);
    a->boot[a->nboot++] = b;
    return 0;
}

/* Returns -1 to go on, or an exit code. */
static int handle(dht_args *a, int c, const char *arg, char **argv)
{
    switch (c) {
    case 'l':
        if (sh_addr_parse(arg, &a->listen))
            return cli_usage_error(CMD, "--listen: invalid address '%s' (want IP:PORT)", arg);
        a->have_listen = true;
        return -1;
    case 'b':
        return add_bootstrap(a, arg) ? EXIT_USAGE : -1;
    case 's':
        a->state = arg;
        return -1;
    case 'S':
        if (cli_parse_seconds(arg, &a->stats_every) || a->stats_every > 1e7)
            return cli_usage_error(CMD, "--stats-every: '%s' is not a number of seconds", arg);
        return -1;
    case 'L':
        if (cli_set_log_level(arg))
            return cli_usage_error(CMD, "--log-level: unknown level '%s'", arg);
        return -1;
    case 'n':
        if (parse_count(arg, DHT_FLEET_MAX_NODES, &a->nodes))
            return cli_usage_error(CMD, "--nodes: '%s' is not a count from 1 to %u", arg,
                                   DHT_FLEET_MAX_NODES);
        return -1;
    case 'c':
        a->control = true;
        return -1;
    case 'h':
        usage(stdout);
        return EXIT_OK;
    case ':':
        return cli_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
    default:
        return cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
    }
}

static int parse_args(int argc, char **argv, dht_args *a)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"state", required_argument, NULL, 's'},
        {"stats-every", required_argument, NULL, 'S'},
        {"log-level", required_argument, NULL, 'L'},
        {"nodes", required_argument, NULL, 'n'}, /* hidden: tests, fleet routers */
        {"control", no_argument, NULL, 'c'},     /* hidden: commands on stdin */
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (dht_args){.stats_every = 60, .nodes = 1};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":l:h", opts, NULL)) != -1) {
        int rc = handle(a, c, optarg, argv);
        if (rc >= 0) return rc;
    }
    if (optind < argc) return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!a->have_listen) return cli_usage_error(CMD, "missing -l ADDR:PORT");
    for (uint32_t i = 0; i < a->nboot; i++)
        if (a->boot[i].family != a->listen.family)
            return cli_usage_error(CMD, "--bootstrap: an IPv%d node cannot join through IPv%d",
                                   a->listen.family, a->boot[i].family);
    return -1;
}

/* Node i's address: consecutive IPs on loopback (each its own host, as
 * DESIGN.md's tests want), consecutive ports elsewhere. */
static int node_addr(const sh_addr *base, uint32_t i, sh_addr *out)
{
    *out = *base;
    if (i == 0) return 0;
    if (base->family == 4 && base->ip[0] == 127) {
        uint32_t v = (uint32_t)base->ip[0] << 24 | (uint32_t)base->ip[1] << 16 |
                     (uint32_t)base->ip[2] << 8 | base->ip[3];
        if (i > 0x7fffffffu - v) return -1; /* would leave 127/8 */
        v += i;
        for (int k = 0; k < 4; k++)
            out->ip[k] = (uint8_t)(v >> (24 - 8 * k));
        return 0;
    }
    if (base->port == 0) return 0; /* ephemeral ports: all distinct anyway */
    if (i > 65535u - base->port) return -1;
    out->port = (uint16_t)(base->port + i);
    return 0;
}

/* ---- stats and signals ----------------------------------------------------------- */

typedef struct run_ctx {
    dht_fleet *fleet;
    sh_time every;
    uint64_t timer;
} run_ctx;

static void print_stats(const dht_fleet *f)
{
    sh_dht_node_stats t = {0};
    for (uint32_t i = 0; i < f->count; i++) {
        sh_dht_node_stats s;
        sh_dht_node_stats_get(f->nodes[i], &s);
        t.dht.good += s.dht.good;
        t.dht.dubious += s.dht.dubious;
        t.dht.buckets += s.dht.buckets;
        t.dht.searches += s.dht.searches;
        t.dht.stored_hashes += s.dht.stored_hashes;
        t.dht.stored_peers += s.dht.stored_peers;
        t.dht.in_queries += s.dht.in_queries;
        t.dht.in_replies += s.dht.in_replies;
        t.dht.in_dropped += s.dht.in_dropped;
        t.dht.out_queries += s.dht.out_queries;
        t.tx_dropped += s.tx_dropped;
        t.tx_errors += s.tx_errors;
        t.rx_oversize += s.rx_oversize;
    }
    fprintf(stderr,
            "dht: nodes=%u good=%u dubious=%u buckets=%u stored_hashes=%u stored_peers=%u "
            "searches=%u queries_in=%llu replies_in=%llu dropped_in=%llu queries_out=%llu "
            "send_dropped=%llu send_errors=%llu\n",
            f->count, t.dht.good, t.dht.dubious, t.dht.buckets, t.dht.stored_hashes,
            t.dht.stored_peers, t.dht.searches, (unsigned long long)t.dht.in_queries,
            (unsigned long long)t.dht.in_replies,
            (unsigned long long)(t.dht.in_dropped + t.rx_oversize),
            (unsigned long long)t.dht.out_queries, (unsigned long long)t.tx_dropped,
            (unsigned long long)t.tx_errors);
}

static void on_stats(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    run_ctx *r = ud;
    print_stats(r->fleet);
    r->timer = sh_loop_timer(l, sh_loop_now(l) + r->every, on_stats, r);
}

static void on_signal(sh_loop *l, int signo, void *ud)
{
    (void)signo;
    (void)ud;
    sh_loop_stop(l);
}

/* ---- the fleet ------------------------------------------------------------------- */

static char *state_path_of(const char *state, uint32_t i)
{
    if (!state) return NULL;
    size_t n = strlen(state) + 16;
    char *p = malloc(n);
    if (!p) return NULL;
    if (i == 0)
        snprintf(p, n, "%s", state);
    else
        snprintf(p, n, "%s.%u", state, i);
    return p;
}

static int start_node(dht_fleet *f, const dht_args *a, uint32_t i)
{
    sh_dht_node_config c = {.log = cli_logger};
    if (node_addr(&a->listen, i, &c.bind))
        return cli_usage_error(CMD, "--nodes %u does not fit after the -l address", a->nodes);
    char *state = state_path_of(a->state, i);
    if (a->state && !state) return cli_error(EXIT_FAIL, "out of memory");
    c.state_path = state;
    sh_errinfo ei = {{0}, 0};
    int rc = sh_dht_node_new(f->loop, &c, &f->nodes[i], &ei);
    free(state);
    if (rc) {
        char b[SH_ADDR_STRLEN];
        return cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", sh_addr_format(&c.bind, b, sizeof b),
                             ei.msg[0] ? ei.msg : sh_strerror(rc));
    }
    f->slots[i] = (dht_fleet_slot){f, i};
    f->count = i + 1;
    if (a->control) sh_dht_node_on_search(f->nodes[i], dht_ctl_on_search, &f->slots[i]);
    char hex[41], b[SH_ADDR_STRLEN];
    sh_addr bound = sh_dht_node_addr(f->nodes[i]);
    printf("dht node %s listening on %s\n", sh_hex(sh_dht_node_id(f->nodes[i]), 20, hex),
           sh_addr_format(&bound, b, sizeof b));
    return 0;
}

static void join(dht_fleet *f, const dht_args *a)
{
    sh_addr first = sh_dht_node_addr(f->nodes[0]);
    for (uint32_t i = 0; i < f->count; i++) {
        for (uint32_t k = 0; k < a->nboot; k++)
            sh_dht_node_bootstrap(f->nodes[i], &a->boot[k]);
        /* Without a router outside, the first node of the process is one. */
        if (i > 0 && !sh_net_is_any(&first)) sh_dht_node_bootstrap(f->nodes[i], &first);
    }
}

static int run(dht_fleet *f, const dht_args *a)
{
    int rc = 0;
    for (uint32_t i = 0; i < a->nodes && rc == 0; i++)
        rc = start_node(f, a, i);
    fflush(stdout);
    if (rc) return rc;
    join(f, a);
    if (a->control && dht_ctl_start(f) < 0)
        sh_log(&cli_logger, SH_LOG_WARN, CMD, "--control: cannot watch stdin; no commands");
    run_ctx r = {f, (sh_time)(a->stats_every * 1e9), 0};
    if (r.every) r.timer = sh_loop_timer(f->loop, sh_loop_now(f->loop) + r.every, on_stats, &r);
    if (sh_loop_signal(f->loop, SIGINT, on_signal, NULL) ||
        sh_loop_signal(f->loop, SIGTERM, on_signal, NULL))
        return cli_error(EXIT_FAIL, "cannot handle signals");
    rc = sh_loop_run(f->loop);
    if (r.timer) sh_loop_cancel(f->loop, r.timer);
    dht_ctl_stop(f);
    if (rc) return cli_cmd_error(EXIT_FAIL, CMD, "event loop failed: %s", sh_strerror(rc));
    return EXIT_OK;
}

int cmd_dht(int argc, char **argv)
{
    dht_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    dht_fleet f = {.control = a.control};
    if (sh_loop_new(&f.loop)) return cli_error(EXIT_FAIL, "cannot create the event loop");
    f.nodes = calloc(a.nodes, sizeof *f.nodes);
    f.slots = calloc(a.nodes, sizeof *f.slots);
    if (!f.nodes || !f.slots)
        rc = cli_error(EXIT_FAIL, "out of memory");
    else
        rc = run(&f, &a);
    for (uint32_t i = 0; i < f.count; i++)
        sh_dht_node_free(f.nodes[i]); /* saves each node's state */
    free(f.nodes);
    free(f.slots);
    sh_loop_free(f.loop);
    return rc;
}
