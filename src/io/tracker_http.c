/*
 * tracker_http.c — the HTTP front of the tracker: libmicrohttpd in its
 * external epoll mode, driven from the sh_loop (MHD's epoll fd is one of the
 * loop's fds, MHD's timeout one of its timers), so requests run on the loop
 * thread and the store needs no lock.
 *
 * The announce query is read raw from the URI log callback: MHD's decoded
 * key/value API cuts a binary info_hash at its first %00, so the undecoded
 * query goes to sh_http_announce_parse instead. Clients expect HTTP 200 for
 * tracker failures (a bencoded "failure reason"); only the flood limit
 * answers 429.
 */
#include "io/tracker_int.h"

#include "io/net.h"

#include <shoal/log.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN_MEMORY (16u * 1024u) /* per connection: bounds request line and headers */
#define MAX_TIMEOUT_MS 3600000ull

/* One HTTP request, made in the URI callback: the raw query, undecoded. */
typedef struct tr_req {
    bool seen; /* the first call (headers parsed) has happened */
    bool answered;
    size_t qlen;
    char q[]; /* what followed '?', NUL-terminated */
} tr_req;

/* ---------------------------------------------------------------- replies */

/* Queues status + body (malloc'd; ownership passes to MHD). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               void *body, size_t len)
{
    struct MHD_Response *r;
    if (body)
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_TOO_MANY_REQUESTS)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result respond_benc(struct MHD_Connection *c, unsigned status, sh_bbuf *b)
{
    size_t len;
    uint8_t *data = sh_bbuf_take(b, &len);
    if (!data) return MHD_NO; /* out of memory: MHD closes the connection */
    return respond(c, status, "text/plain", data, len);
}

static enum MHD_Result respond_failure(struct MHD_Connection *c, unsigned status,
                                       const char *reason)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_http_failure_encode(&b, reason, 0);
    return respond_benc(c, status, &b);
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *type,
                                    const char *text)
{
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (!copy) return MHD_NO;
    memcpy(copy, text, len + 1);
    return respond(c, status, type, copy, len);
}

/* ---------------------------------------------------------------- routes */

static enum MHD_Result do_announce(sh_tracker *t, struct MHD_Connection *c, const tr_req *r,
                                   const sh_addr *from, sh_time now)
{
    sh_announce_req req;
    sh_errinfo ei = {{0}, 0};
    if (sh_http_announce_parse(r->q, r->qlen, from, &req, &ei)) {
        tr_refuse(t, TR_REF_BAD);
        return respond_failure(c, MHD_HTTP_OK, ei.msg[0] ? ei.msg : "invalid announce");
    }
    sh_announce_reply reply;
    if (tr_announce(t, TR_HTTP, &req, now, &reply))
        return respond_failure(c, MHD_HTTP_OK, reply.failure);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_http_announce_encode(&b, &reply, req.compact, req.no_peer_id);
    if (SH_LOG_ON(t->log, SH_LOG_DEBUG)) {
        char a[SH_ADDR_STRLEN], h[41];
        sh_log(t->log, SH_LOG_DEBUG, TR_COMPONENT, "http announce %s %s event %d: %u peers",
               sh_addr_format(&req.addr, a, sizeof a), sh_hex(req.info_hash, 20, h), (int)req.event,
               reply.num_peers);
    }
    return respond_benc(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result do_scrape(sh_tracker *t, struct MHD_Connection *c, const tr_req *r)
{
    uint8_t hashes[SH_SCRAPE_MAX][20];
    sh_scrape_entry e[SH_SCRAPE_MAX];
    uint32_t n = 0;
    sh_errinfo ei = {{0}, 0};
    if (sh_http_scrape_parse(r->q, r->qlen, hashes, SH_SCRAPE_MAX, &n, &ei)) {
        tr_refuse(t, TR_REF_BAD);
        return respond_failure(c, MHD_HTTP_OK, ei.msg[0] ? ei.msg : "invalid scrape");
    }
    if (n == 0) {
        /* A full scrape of a large tracker is an easy way to make it work
         * hard; the status page and /stats.json give the overview instead. */
        tr_refuse(t, TR_REF_BAD);
        return respond_failure(c, MHD_HTTP_OK, "full scrape is disabled: give info_hash");
    }
    t->scrapes[TR_HTTP]++;
    for (uint32_t i = 0; i < n; i++)
        sh_tstore_scrape(t->store, hashes[i], &e[i]);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_http_scrape_encode(&b, e, n);
    return respond_benc(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result do_web(struct MHD_Connection *c, const char *type, char *body, size_t len)
{
    if (!body) return MHD_NO;
    return respond(c, MHD_HTTP_OK, type, body, len);
}

/* "/announce", "/announce/…": a path segment, not a prefix of a word. */
static bool path_is(const char *url, const char *base)
{
    size_t n = strlen(base);
    return !strncmp(url, base, n) && (url[n] == '\0' || url[n] == '/');
}

static int remote_addr(struct MHD_Connection *c, sh_addr *out)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return SH_EINVAL;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    return sh_net_from_sockaddr(sa, len, out);
}

static enum MHD_Result route(sh_tracker *t, struct MHD_Connection *c, const char *url,
                             const tr_req *r, const sh_addr *from)
{
    sh_time now = sh_loop_now(t->loop);
    size_t len = 0;
    if (path_is(url, "/announce")) return do_announce(t, c, r, from, now);
    if (path_is(url, "/scrape")) return do_scrape(t, c, r);
    if (!strcmp(url, "/")) {
        char *body = tr_web_status_html(t, now, &len);
        return do_web(c, "text/html; charset=utf-8", body, len);
    }
    if (!strcmp(url, "/stats.json")) {
        char *body = tr_web_stats_json(t, now, &len);
        return do_web(c, "application/json", body, len);
    }
    if (!strcmp(url, "/metrics")) {
        char *body = tr_web_metrics(t, now, &len);
        return do_web(c, "text/plain; version=0.0.4; charset=utf-8", body, len);
    }
    return respond_text(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **ctx)
{
    tr_http *h = cls;
    sh_tracker *t = h->t;
    tr_req *r = *ctx;
    (void)version;
    (void)upload_data;
    if (!r) return MHD_NO; /* the URI callback ran out of memory */
    /* Answer only once the request is complete: a response queued on the
     * first call (headers just parsed) makes MHD close the connection, which
     * would cost every keep-alive client a new TCP handshake per announce. */
    if (!r->seen || *upload_size) {
        r->seen = true;
        *upload_size = 0; /* a body we do not want: discard it */
        return MHD_YES;
    }
    if (r->answered) return MHD_YES;
    r->answered = true;
    sh_addr from;
    if (remote_addr(c, &from)) return MHD_NO;
    if (!tr_admit(t, &from, sh_loop_now(t->loop)))
        return respond_failure(c, MHD_HTTP_TOO_MANY_REQUESTS,
                               "too many requests from your address; slow down");
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "only GET\n");
    return route(t, c, url, r, &from);
}

/* Called before MHD touches the URI: keep the raw query. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    const char *q = strchr(uri, '?');
    size_t qlen = q ? strlen(q + 1) : 0;
    tr_req *r = malloc(sizeof *r + qlen + 1);
    if (!r) return NULL;
    r->seen = false;
    r->answered = false;
    r->qlen = qlen;
    if (q) memcpy(r->q, q + 1, qlen);
    r->q[qlen] = '\0';
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*ctx);
    *ctx = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **sctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    tr_http *h = cls;
    (void)c;
    (void)sctx;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        h->t->http_conns++;
    else if (h->t->http_conns)
        h->t->http_conns--;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    tr_http *h = cls;
    if (!SH_LOG_ON(h->t->log, SH_LOG_DEBUG)) return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    sh_log(h->t->log, SH_LOG_DEBUG, TR_COMPONENT, "http: %s", msg);
}

/* ---------------------------------------------------------------- loop glue */

static void drive(tr_http *h);

static void on_timer(sh_loop *l, uint64_t id, void *ud)
{
    tr_http *h = ud;
    (void)l;
    (void)id;
    h->timer = 0;
    drive(h);
}

/* Keeps one loop timer at MHD's next deadline (0 ms: work is already
 * pending, e.g. data MHD read but has not processed yet). */
static void arm(tr_http *h)
{
    sh_loop *l = h->t->loop;
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(h->d, &ms) != MHD_YES) {
        if (h->timer) sh_loop_cancel(l, h->timer);
        h->timer = 0;
        return;
    }
    if (ms > MAX_TIMEOUT_MS) ms = MAX_TIMEOUT_MS;
    sh_time when = sh_loop_now(l) + SH_MS(ms);
    if (h->timer && h->timer_at == when) return;
    if (h->timer) sh_loop_cancel(l, h->timer);
    h->timer = sh_loop_timer(l, when, on_timer, h);
    h->timer_at = when;
}

static void drive(tr_http *h)
{
    MHD_run(h->d);
    arm(h);
}

static void on_epoll(sh_loop *l, int fd, uint32_t events, void *ud)
{
    (void)l;
    (void)fd;
    (void)events;
    drive(ud);
}

static struct MHD_Daemon *start_daemon(tr_http *h)
{
    const sh_tracker_config *cfg = &h->t->cfg;
    unsigned limit = cfg->max_conns ? cfg->max_conns : 4096;
    unsigned per_ip = cfg->max_conns_per_ip ? cfg->max_conns_per_ip : 64;
    unsigned timeout = cfg->conn_timeout ? cfg->conn_timeout : 10;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    if (h->bound.family == 6) flags |= MHD_USE_IPv6;
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, h->lfd, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        h, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONN_MEMORY, MHD_OPTION_END);
}

int tr_http_start(sh_tracker *t, tr_http *h, const sh_addr *addr, sh_errinfo *ei)
{
    memset(h, 0, sizeof *h);
    h->t = t;
    h->epfd = -1;
    char a[SH_ADDR_STRLEN];
    int rc = sh_net_listen(addr, 0, &h->lfd, &h->bound, ei);
    if (rc) {
        char why[sizeof ei->msg];
        snprintf(why, sizeof why, "%s", ei ? ei->msg : "");
        return sh_errinfo_set(ei, rc, 0, "HTTP %s: %s", sh_addr_format(addr, a, sizeof a), why);
    }
    h->d = start_daemon(h);
    if (!h->d) {
        /* MHD may or may not have closed the socket it was given. */
        if (fcntl(h->lfd, F_GETFD) >= 0) close(h->lfd);
        return sh_errinfo_set(ei, SH_EIO, 0, "HTTP %s: libmicrohttpd failed to start",
                              sh_addr_format(&h->bound, a, sizeof a));
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->epfd = di ? di->epoll_fd : -1;
    rc = h->epfd >= 0 ? sh_loop_add(t->loop, h->epfd, SH_EV_READ, on_epoll, h) : SH_EIO;
    if (rc) {
        MHD_stop_daemon(h->d);
        h->d = NULL;
        return sh_errinfo_set(ei, rc, 0, "HTTP %s: cannot watch libmicrohttpd's epoll fd",
                              sh_addr_format(&h->bound, a, sizeof a));
    }
    arm(h);
    return 0;
}

void tr_http_stop(tr_http *h)
{
    if (!h->d) return;
    if (h->timer) sh_loop_cancel(h->t->loop, h->timer);
    h->timer = 0;
    sh_loop_del(h->t->loop, h->epfd);
    MHD_stop_daemon(h->d); /* closes the listening socket and every connection */
    h->d = NULL;
}
