/*
 * dht_ctl.c — the hidden control interface of `shoal dht --control`: one
 * command per line on stdin, answers and search results as lines on stdout
 * (flushed at once). Tests drive a fleet of nodes with it.
 *
 *   announce HEX PORT [NODE]   get_peers for HEX, then announce_peer PORT
 *   lookup HEX [NODE|all]      get_peers for HEX from one node or from all
 *   bootstrap ADDR:PORT [NODE] join through ADDR:PORT
 *   stats [NODE]               "stats node=I good=… dubious=… buckets=… …"
 *   quit                       stop (as SIGTERM)
 *
 * NODE defaults to 0. A started search answers "started HEX node=I
 * search=S", then "found HEX ADDR:PORT node=I search=S" for every peer and
 * "done HEX node=I search=S hops=H queried=Q". Errors are "error <why>".
 * Lines longer than the buffer are skipped whole; stdin is as untrusted as
 * anything else.
 */
#include "cli/cli.h"
#include "cli/dht_fleet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* A search line: printed now, or held until the running command has
 * answered (on OOM it is printed now: order matters less than the line). */
static void emit(dht_fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(dht_fleet *f, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (f->ctl_in_command) {
        char *h = realloc(f->ctl_held, f->ctl_held_len + len + 1);
        if (h) {
            memcpy(h + f->ctl_held_len, line, len);
            h[f->ctl_held_len + len] = '\n';
            f->ctl_held = h;
            f->ctl_held_len += len + 1;
            return;
        }
    }
    say("%s", line);
}

static void release_held(dht_fleet *f)
{
    if (f->ctl_held_len) {
        fwrite(f->ctl_held, 1, f->ctl_held_len, stdout);
        fflush(stdout);
    }
    free(f->ctl_held);
    f->ctl_held = NULL;
    f->ctl_held_len = 0;
}

void dht_ctl_on_search(sh_dht_node *n, const sh_dht_action *a, void *ud)
{
    (void)n;
    const dht_fleet_slot *s = ud;
    char hex[41], b[SH_ADDR_STRLEN];
    sh_hex(a->info_hash, 20, hex);
    if (a->type == SH_DHT_PEERS) {
        for (uint32_t i = 0; i < a->num_peers; i++)
            emit(s->fleet, "found %s %s node=%u search=%llu", hex,
                 sh_addr_format(&a->peers[i], b, sizeof b), s->index,
                 (unsigned long long)a->search);
    } else if (a->type == SH_DHT_SEARCH_DONE) {
        emit(s->fleet, "done %s node=%u search=%llu hops=%u queried=%u", hex, s->index,
             (unsigned long long)a->search, a->hops, a->nodes);
    }
}

/* Splits line into at most max words (in place). */
static int words(char *line, char **w, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r", &save); t;
         t = strtok_r(NULL, " \t\r", &save)) {
        if (n == max) return -1;
        w[n++] = t;
    }
    return n;
}

/* NODE argument: index, or -1 for "all" when allowed. */
static int node_arg(const dht_fleet *f, const char *s, bool all_ok, int64_t *out)
{
    if (!s) {
        *out = 0;
        return 0;
    }
    if (all_ok && !strcmp(s, "all")) {
        *out = -1;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || errno || *s == '-' || v >= f->count) return -1;
    *out = (int64_t)v;
    return 0;
}

static void start_search(dht_fleet *f, uint32_t i, const char *hex, const uint8_t ih[20],
                         uint16_t port)
{
    f->ctl_in_command = true;
    uint64_t id = sh_dht_node_search(f->nodes[i], ih, port);
    f->ctl_in_command = false;
    if (id)
        say("started %s node=%u search=%llu", hex, i, (unsigned long long)id);
    else
        say("error node %u runs too many searches", i);
    release_held(f);
}

static void cmd_search(dht_fleet *f, char **w, int n, bool announce)
{
    uint8_t ih[20];
    int need = announce ? 3 : 2;
    if (n < need || n > need + 1) {
        say("error usage: %s", announce ? "announce HEX PORT [NODE]" : "lookup HEX [NODE|all]");
        return;
    }
    if (strlen(w[1]) != 40 || sh_unhex(w[1], 40, ih, 20)) {
        say("error not a 40-digit hex info hash");
        return;
    }
    uint16_t port = 0;
    if (announce) {
        char *end;
        unsigned long p = strtoul(w[2], &end, 10);
        if (*end || p == 0 || p > 65535 || w[2][0] == '-') {
            say("error bad port");
            return;
        }
        port = (uint16_t)p;
    }
    int64_t node;
    if (node_arg(f, n > need ? w[need] : NULL, !announce, &node)) {
        say("error no such node");
        return;
    }
    for (uint32_t i = 0; i < f->count; i++)
        if (node < 0 || (int64_t)i == node) start_search(f, i, w[1], ih, port);
}

static void cmd_bootstrap(dht_fleet *f, char **w, int n)
{
    sh_addr a;
    int64_t node;
    if (n < 2 || n > 3 || sh_addr_parse(w[1], &a) || a.port == 0 ||
        node_arg(f, n > 2 ? w[2] : NULL, false, &node)) {
        say("error usage: bootstrap ADDR:PORT [NODE]");
        return;
    }
    sh_dht_node_bootstrap(f->nodes[node], &a);
    say("ok bootstrap node=%u", (unsigned)node);
}

static void cmd_stats(dht_fleet *f, char **w, int n)
{
    int64_t node;
    if (n > 2 || node_arg(f, n > 1 ? w[1] : NULL, false, &node)) {
        say("error usage: stats [NODE]");
        return;
    }
    sh_dht_node_stats s;
    sh_dht_node_stats_get(f->nodes[node], &s);
    say("stats node=%u good=%u dubious=%u buckets=%u searches=%u stored_hashes=%u "
        "stored_peers=%u queries_in=%llu replies_in=%llu dropped_in=%llu queries_out=%llu "
        "rx=%llu rx_oversize=%llu tx=%llu tx_dropped=%llu",
        (unsigned)node, s.dht.good, s.dht.dubious, s.dht.buckets, s.dht.searches,
        s.dht.stored_hashes, s.dht.stored_peers, (unsigned long long)s.dht.in_queries,
        (unsigned long long)s.dht.in_replies, (unsigned long long)s.dht.in_dropped,
        (unsigned long long)s.dht.out_queries, (unsigned long long)s.rx_datagrams,
        (unsigned long long)s.rx_oversize, (unsigned long long)s.tx_datagrams,
        (unsigned long long)s.tx_dropped);
}

static void command(dht_fleet *f, char *line)
{
    char *w[6];
    int n = words(line, w, 6);
    if (n == 0) return;
    if (n < 0)
        say("error too many words");
    else if (!strcmp(w[0], "announce"))
        cmd_search(f, w, n, true);
    else if (!strcmp(w[0], "lookup"))
        cmd_search(f, w, n, false);
    else if (!strcmp(w[0], "bootstrap"))
        cmd_bootstrap(f, w, n);
    else if (!strcmp(w[0], "stats"))
        cmd_stats(f, w, n);
    else if (!strcmp(w[0], "quit"))
        sh_loop_stop(f->loop);
    else
        say("error unknown command");
}

/* Feeds read bytes through the line buffer, running each complete line. */
static void feed(dht_fleet *f, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\n') {
            if (!f->ctl_skipping) {
                f->ctl_line[f->ctl_len] = 0;
                command(f, f->ctl_line);
            } else {
                say("error line too long");
            }
            f->ctl_len = 0;
            f->ctl_skipping = false;
        } else if (!f->ctl_skipping) {
            if (f->ctl_len + 1 >= sizeof f->ctl_line)
                f->ctl_skipping = true;
            else
                f->ctl_line[f->ctl_len++] = c == 0 ? ' ' : c;
        }
    }
}

static void on_stdin(sh_loop *l, int fd, uint32_t events, void *ud)
{
    (void)l;
    (void)events;
    dht_fleet *f = ud;
    char buf[4096];
    /* One read per readiness: it cannot block, and stdin stays as it was. */
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (r <= 0) { /* end of input: the nodes keep running */
        dht_ctl_stop(f);
        return;
    }
    feed(f, buf, (size_t)r);
}

int dht_ctl_start(dht_fleet *f)
{
    if (sh_loop_add(f->loop, 0, SH_EV_READ, on_stdin, f)) return -1;
    f->ctl_registered = true;
    return 0;
}

void dht_ctl_stop(dht_fleet *f)
{
    release_held(f);
    if (!f->ctl_registered) return;
    sh_loop_del(f->loop, 0);
    f->ctl_registered = false;
}
