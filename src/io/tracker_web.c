/*
 * tracker_web.c — what the tracker shows about itself: a small HTML status
 * page, /stats.json for programs (jansson), and /metrics in the Prometheus
 * text exposition format 0.0.4.
 *
 * Everything shown comes from counters and the store; info hashes are
 * printed as hex, so no client-supplied text reaches a page. Per-swarm
 * listings are capped (a tracker may hold 100 000 swarms); metrics carry no
 * per-swarm labels, to keep their cardinality fixed.
 */
#include "io/tracker_int.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 1000u /* swarms listed on the page and in JSON */

typedef struct tr_view {
    sh_tstore_stats st;
    double uptime;
    double rate;
    uint64_t announces, scrapes;
} tr_view;

static void view_get(sh_tracker *t, sh_time now, tr_view *v)
{
    sh_tstore_stats_get(t->store, &v->st);
    v->uptime = (double)(now - t->started) / 1e9;
    v->rate = tr_announce_rate(t, now);
    v->announces = t->announces[TR_HTTP] + t->announces[TR_UDP];
    v->scrapes = t->scrapes[TR_HTTP] + t->scrapes[TR_UDP];
}

static void bprintf(sh_bbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(sh_bbuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        sh_bbuf_raw(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->err = SH_ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sh_bbuf_raw(b, big, (size_t)n);
    free(big);
}

/* Hands the buffer over NUL-terminated (sh_bbuf_take frees it on error). */
static char *finish(sh_bbuf *b, size_t *len)
{
    sh_bbuf_raw(b, "", 1);
    size_t n;
    uint8_t *p = sh_bbuf_take(b, &n);
    if (!p) return NULL;
    *len = n - 1;
    return (char *)p;
}

/* ---------------------------------------------------------------- HTML */

typedef struct row_ctx {
    sh_bbuf *b;
    json_t *list;
    unsigned n;
    bool truncated;
} row_ctx;

static void html_row(void *ud, const sh_scrape_entry *e)
{
    row_ctx *rc = ud;
    if (rc->n >= LIST_MAX) {
        rc->truncated = true;
        return;
    }
    rc->n++;
    char h[41];
    bprintf(rc->b, "<tr><td><code>%s</code></td><td>%u</td><td>%u</td><td>%u</td></tr>\n",
            sh_hex(e->info_hash, 20, h), e->complete, e->incomplete, e->downloaded);
}

static void fmt_uptime(double s, char *buf, size_t len)
{
    unsigned long t = (unsigned long)s;
    snprintf(buf, len, "%lud %02lu:%02lu:%02lu", t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
}

char *tr_web_status_html(sh_tracker *t, sh_time now, size_t *len)
{
    tr_view v;
    view_get(t, now, &v);
    char up[64];
    fmt_uptime(v.uptime, up, sizeof up);
    sh_bbuf b;
    sh_bbuf_init(&b);
    bprintf(&b,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"refresh\" content=\"5\"><title>shoal tracker</title>\n"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
            "td:first-child{text-align:left}</style></head><body>\n"
            "<h1>shoal tracker</h1>\n<table>\n"
            "<tr><th>uptime</th><td>%s</td></tr>\n"
            "<tr><th>swarms</th><td>%u</td></tr>\n"
            "<tr><th>peers</th><td>%llu</td></tr>\n"
            "<tr><th>seeders</th><td>%llu</td></tr>\n"
            "<tr><th>leechers</th><td>%llu</td></tr>\n"
            "<tr><th>completed</th><td>%llu</td></tr>\n"
            "<tr><th>announces</th><td>%llu</td></tr>\n"
            "<tr><th>announces/s (last %u s)</th><td>%.1f</td></tr>\n"
            "<tr><th>scrapes</th><td>%llu</td></tr>\n"
            "<tr><th>interval</th><td>%u s</td></tr>\n</table>\n",
            up, v.st.swarms, (unsigned long long)v.st.peers, (unsigned long long)v.st.seeders,
            (unsigned long long)v.st.leechers, (unsigned long long)v.st.completed,
            (unsigned long long)v.announces, TR_RATE_WINDOW, v.rate, (unsigned long long)v.scrapes,
            t->cfg.store.interval ? t->cfg.store.interval : 30);
    bprintf(&b, "<h2>swarms</h2>\n<table>\n<tr><th>info hash</th><th>seeders</th>"
                "<th>leechers</th><th>completed</th></tr>\n");
    row_ctx rc = {&b, NULL, 0, false};
    sh_tstore_each(t->store, html_row, &rc);
    bprintf(&b, "</table>\n");
    if (rc.truncated) bprintf(&b, "<p>(first %u swarms shown)</p>\n", LIST_MAX);
    bprintf(&b, "<p><a href=\"/stats.json\">stats.json</a> &middot; "
                "<a href=\"/metrics\">metrics</a></p>\n</body></html>\n");
    return finish(&b, len);
}

/* ---------------------------------------------------------------- JSON */

static void json_row(void *ud, const sh_scrape_entry *e)
{
    row_ctx *rc = ud;
    if (rc->n >= LIST_MAX) {
        rc->truncated = true;
        return;
    }
    rc->n++;
    char h[41];
    json_array_append_new(
        rc->list, json_pack("{s:s, s:I, s:I, s:I}", "info_hash", sh_hex(e->info_hash, 20, h),
                            "seeders", (json_int_t)e->complete, "leechers",
                            (json_int_t)e->incomplete, "completed", (json_int_t)e->downloaded));
}

static json_t *json_refused(const sh_tracker *t)
{
    json_t *o = json_object();
    for (unsigned i = 0; o && i < TR_NREF; i++)
        json_object_set_new(o, tr_refusal_name((tr_refusal)i),
                            json_integer((json_int_t)t->refused[i]));
    return o;
}

char *tr_web_stats_json(sh_tracker *t, sh_time now, size_t *len)
{
    tr_view v;
    view_get(t, now, &v);
    json_t *list = json_array();
    row_ctx rc = {NULL, list, 0, false};
    if (list) sh_tstore_each(t->store, json_row, &rc);
    json_t *o = json_pack(
        "{s:s, s:f, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:f, "
        "s:{s:I, s:I}, s:I, s:o, s:I, s:o, s:b}",
        "version", SHOAL_VERSION, "uptime_s", v.uptime, "started_unix", (json_int_t)t->started_wall,
        "interval", (json_int_t)(t->cfg.store.interval ? t->cfg.store.interval : 30), "private",
        (int)t->cfg.store.private_mode, "swarms", (json_int_t)v.st.swarms, "peers",
        (json_int_t)v.st.peers, "seeders", (json_int_t)v.st.seeders, "leechers",
        (json_int_t)v.st.leechers, "completed", (json_int_t)v.st.completed, "announces", "http",
        (json_int_t)t->announces[TR_HTTP], "udp", (json_int_t)t->announces[TR_UDP], "total",
        (json_int_t)v.announces, "announces_per_s", v.rate, "scrapes", "http",
        (json_int_t)t->scrapes[TR_HTTP], "udp", (json_int_t)t->scrapes[TR_UDP], "udp_connects",
        (json_int_t)t->udp_connects, "refused", json_refused(t), "http_connections",
        (json_int_t)t->http_conns, "torrents", list ? list : json_array(), "torrents_truncated",
        (int)rc.truncated);
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) return NULL;
    *len = strlen(s);
    return s;
}

/* ---------------------------------------------------------------- metrics */

static void metric_head(sh_bbuf *b, const char *name, const char *type, const char *help)
{
    bprintf(b, "# HELP shoal_tracker_%s %s\n# TYPE shoal_tracker_%s %s\n", name, help, name, type);
}

char *tr_web_metrics(sh_tracker *t, sh_time now, size_t *len)
{
    tr_view v;
    view_get(t, now, &v);
    sh_bbuf b;
    sh_bbuf_init(&b);
    metric_head(&b, "swarms", "gauge", "Swarms tracked now.");
    bprintf(&b, "shoal_tracker_swarms %u\n", v.st.swarms);
    metric_head(&b, "peers", "gauge", "Peers tracked now, by state.");
    bprintf(&b, "shoal_tracker_peers{state=\"seeder\"} %llu\n", (unsigned long long)v.st.seeders);
    bprintf(&b, "shoal_tracker_peers{state=\"leecher\"} %llu\n", (unsigned long long)v.st.leechers);
    metric_head(&b, "announces_total", "counter", "Announces received, by protocol.");
    bprintf(&b, "shoal_tracker_announces_total{proto=\"http\"} %llu\n",
            (unsigned long long)t->announces[TR_HTTP]);
    bprintf(&b, "shoal_tracker_announces_total{proto=\"udp\"} %llu\n",
            (unsigned long long)t->announces[TR_UDP]);
    metric_head(&b, "scrapes_total", "counter", "Scrapes answered.");
    bprintf(&b, "shoal_tracker_scrapes_total %llu\n", (unsigned long long)v.scrapes);
    metric_head(&b, "refused_total", "counter", "Requests refused or dropped, by reason.");
    for (unsigned i = 0; i < TR_NREF; i++)
        bprintf(&b, "shoal_tracker_refused_total{reason=\"%s\"} %llu\n",
                tr_refusal_name((tr_refusal)i), (unsigned long long)t->refused[i]);
    metric_head(&b, "completed_total", "counter", "Downloads reported completed.");
    bprintf(&b, "shoal_tracker_completed_total %llu\n", (unsigned long long)v.st.completed);
    metric_head(&b, "udp_connects_total", "counter", "BEP 15 connect requests answered.");
    bprintf(&b, "shoal_tracker_udp_connects_total %llu\n", (unsigned long long)t->udp_connects);
    metric_head(&b, "http_connections", "gauge", "HTTP connections open now.");
    bprintf(&b, "shoal_tracker_http_connections %llu\n", (unsigned long long)t->http_conns);
    metric_head(&b, "announce_rate", "gauge", "Announces per second over the last 10 s.");
    bprintf(&b, "shoal_tracker_announce_rate %.3f\n", v.rate);
    metric_head(&b, "uptime_seconds", "gauge", "Seconds since the tracker started.");
    bprintf(&b, "shoal_tracker_uptime_seconds %.3f\n", v.uptime);
    return finish(&b, len);
}
