/*
 * http_client.c — libcurl's multi interface driven by sh_loop.
 *
 * curl tells us which sockets to watch (socket callback → sh_loop_add/mod/
 * del) and when to wake it (timer callback → one loop timer). Events go
 * back through curl_multi_socket_action; finished transfers are collected
 * with curl_multi_info_read into a done list first, and only then are the
 * user's callbacks run, so a callback that starts or cancels requests never
 * runs inside curl and never invalidates the message queue being read.
 */
#include "io/http_client.h"

#include "io/clock.h"
#include <shoal/error.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct http_req {
    struct http_req *next;
    uint64_t id;
    CURL *easy;
    sh_http_done_fn fn;
    void *ud;
    size_t max_body;
    uint8_t *body;
    size_t len, cap;
    bool too_big;
    bool cancelled;
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
} http_req;

struct sh_http_client {
    sh_loop *loop;
    CURLM *multi;
    char iface[80]; /* "host!<ip>", or empty */
    size_t max_body;
    long timeout_ms;
    uint64_t timer; /* loop timer for curl, 0 if none */
    uint64_t next_id;
    http_req *active; /* transfers curl is running */
    size_t nactive;
    http_req *done; /* finished, callbacks not yet run */
    int *fds;       /* sockets registered with the loop for curl */
    size_t nfds, capfds;
    bool closing;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- sockets and timer: curl → loop ---- */

static void process_done(sh_http_client *c);

static void on_fd(sh_loop *l, int fd, uint32_t events, void *ud)
{
    (void)l;
    sh_http_client *c = ud;
    int mask = 0, running = 0;
    if (events & SH_EV_READ) mask |= CURL_CSELECT_IN;
    if (events & SH_EV_WRITE) mask |= CURL_CSELECT_OUT;
    if (events & SH_EV_ERROR) mask |= CURL_CSELECT_ERR;
    curl_multi_socket_action(c->multi, fd, mask, &running);
    process_done(c);
}

static int remember_fd(sh_http_client *c, int fd)
{
    if (c->nfds == c->capfds) {
        size_t cap = c->capfds ? c->capfds * 2 : 8;
        int *v = realloc(c->fds, cap * sizeof *v);
        if (!v) return SH_ENOMEM;
        c->fds = v;
        c->capfds = cap;
    }
    c->fds[c->nfds++] = fd;
    return 0;
}

static void forget_fd(sh_http_client *c, int fd)
{
    for (size_t i = 0; i < c->nfds; i++) {
        if (c->fds[i] == fd) {
            c->fds[i] = c->fds[--c->nfds];
            return;
        }
    }
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    sh_http_client *c = userp;
    if (what == CURL_POLL_REMOVE) {
        if (socketp) {
            sh_loop_del(c->loop, s);
            forget_fd(c, s);
        }
        return 0;
    }
    uint32_t ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= SH_EV_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= SH_EV_WRITE;
    if (socketp) return sh_loop_mod(c->loop, s, ev) ? -1 : 0;
    if (remember_fd(c, s)) return -1;
    if (sh_loop_add(c->loop, s, ev, on_fd, c)) {
        forget_fd(c, s);
        return -1;
    }
    curl_multi_assign(c->multi, s, c); /* non-NULL socketp: registered */
    return 0;
}

static void on_timer(sh_loop *l, uint64_t id, void *ud)
{
    (void)l;
    (void)id;
    sh_http_client *c = ud;
    int running = 0;
    c->timer = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process_done(c);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    sh_http_client *c = userp;
    if (c->timer) sh_loop_cancel(c->loop, c->timer);
    c->timer = 0;
    if (timeout_ms < 0 || c->closing) return 0;
    /* never from inside curl: even a 0 ms timeout goes through the loop */
    c->timer = sh_loop_timer(c->loop, sh_clock_now() + SH_MS(timeout_ms), on_timer, c);
    return c->timer ? 0 : -1;
}

/* ---- requests ---- */

static void req_free(http_req *r)
{
    if (!r) return;
    if (r->easy) curl_easy_cleanup(r->easy);
    free(r->body);
    free(r);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_req *r = userdata;
    size_t n = size * nmemb;
    if (n > r->max_body - r->len) {
        r->too_big = true;
        return 0; /* curl stops the transfer with CURLE_WRITE_ERROR */
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n)
            cap *= 2;
        if (cap > r->max_body) cap = r->max_body;
        uint8_t *b = realloc(r->body, cap);
        if (!b) return 0;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    return n;
}

static bool setup(sh_http_client *c, http_req *r, const char *url)
{
    CURL *e = r->easy;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_PRIVATE, r) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, r) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_NOPROXY, "*") == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_USERAGENT, "shoal/" SHOAL_VERSION) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body) == CURLE_OK;
    if (ok && c->iface[0]) ok = curl_easy_setopt(e, CURLOPT_INTERFACE, c->iface) == CURLE_OK;
    return ok;
}

int sh_http_get(sh_http_client *c, const char *url, sh_http_done_fn fn, void *ud, uint64_t *id)
{
    if (!c || !url || !fn || c->closing) return SH_EINVAL;
    http_req *r = calloc(1, sizeof *r);
    if (!r) return SH_ENOMEM;
    r->easy = curl_easy_init();
    if (!r->easy) {
        free(r);
        return SH_ENOMEM;
    }
    if (!setup(c, r, url)) {
        req_free(r);
        return SH_EINVAL;
    }
    r->id = ++c->next_id;
    r->fn = fn;
    r->ud = ud;
    r->max_body = c->max_body;
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        req_free(r);
        return SH_ENOMEM;
    }
    r->next = c->active;
    c->active = r;
    c->nactive++;
    if (id) *id = r->id;
    return 0;
}

static http_req *unlink_req(http_req **list, uint64_t id)
{
    for (http_req **p = list; *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            http_req *r = *p;
            *p = r->next;
            r->next = NULL;
            return r;
        }
    }
    return NULL;
}

void sh_http_cancel(sh_http_client *c, uint64_t id)
{
    if (!c) return;
    http_req *r = unlink_req(&c->active, id);
    if (r) {
        c->nactive--;
        curl_multi_remove_handle(c->multi, r->easy);
        req_free(r);
        return;
    }
    for (r = c->done; r; r = r->next)
        if (r->id == id) r->cancelled = true; /* finished, callback not yet run */
}

size_t sh_http_pending(const sh_http_client *c)
{
    return c ? c->nactive : 0;
}

/* ---- completions ---- */

static void collect(sh_http_client *c)
{
    http_req **tail = &c->done;
    while (*tail)
        tail = &(*tail)->next;
    CURLMsg *m;
    int left = 0;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        http_req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode result = m->data.result;
        if (!r || !unlink_req(&c->active, r->id)) continue;
        c->nactive--;
        curl_multi_remove_handle(c->multi, r->easy); /* m is invalid from here */
        r->result = result;
        *tail = r;
        tail = &r->next;
    }
}

static void deliver(sh_http_client *c, http_req *r)
{
    static const uint8_t empty[1] = {0};
    const uint8_t *body = r->body ? r->body : empty;
    if (r->result == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        r->fn(r->ud, r->id, (int)status, body, r->len, NULL);
        return;
    }
    char err[CURL_ERROR_SIZE + 64];
    if (r->too_big || r->result == CURLE_FILESIZE_EXCEEDED)
        snprintf(err, sizeof err, "answer larger than %zu bytes", c->max_body);
    else
        snprintf(err, sizeof err, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
    r->fn(r->ud, r->id, 0, body, 0, err);
}

static void process_done(sh_http_client *c)
{
    collect(c);
    while (c->done) {
        http_req *r = c->done;
        c->done = r->next;
        r->next = NULL;
        if (!r->cancelled) deliver(c, r);
        req_free(r);
    }
}

/* ---- lifetime ---- */

static void set_iface(sh_http_client *c, const char *ip)
{
    sh_addr a;
    if (!ip || !ip[0] || sh_addr_parse_ip(ip, strlen(ip), &a)) return;
    bool any = true;
    for (int i = 0; i < (a.family == 4 ? 4 : 16); i++)
        any = any && a.ip[i] == 0;
    if (!any) snprintf(c->iface, sizeof c->iface, "host!%s", ip);
}

int sh_http_client_new(sh_loop *loop, const sh_http_config *cfg, sh_http_client **out)
{
    if (!loop || !out) return SH_EINVAL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) return SH_EIO;
    sh_http_client *c = calloc(1, sizeof *c);
    if (!c) return SH_ENOMEM;
    c->loop = loop;
    c->max_body = cfg && cfg->max_body ? cfg->max_body : SH_HTTP_MAX_BODY_DEFAULT;
    sh_time t = cfg && cfg->timeout ? cfg->timeout : SH_HTTP_TIMEOUT_DEFAULT;
    c->timeout_ms = (long)((t + SH_MS(1) - 1) / SH_MS(1));
    if (cfg) set_iface(c, cfg->source_ip);
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return SH_ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    *out = c;
    return 0;
}

void sh_http_client_free(sh_http_client *c)
{
    if (!c) return;
    c->closing = true;
    while (c->active)
        sh_http_cancel(c, c->active->id);
    while (c->done) {
        http_req *r = c->done;
        c->done = r->next;
        req_free(r);
    }
    /* curl may keep idle connections open: take them off the loop before
     * curl closes them, so no stale registration outlives the fd */
    for (size_t i = 0; i < c->nfds; i++)
        sh_loop_del(c->loop, c->fds[i]);
    c->nfds = 0;
    curl_multi_cleanup(c->multi);
    if (c->timer) sh_loop_cancel(c->loop, c->timer);
    free(c->fds);
    free(c);
}
