/*
 * test_io_http_client.c — HTTP GETs on the loop against a tiny HTTP server
 * in this test (a thread per connection on 127.0.0.2): fixed bodies,
 * statuses, gzip, redirects (and a refused redirect to ftp), a slow answer
 * that times out, bodies over the cap (declared and streamed), cancel,
 * refused connections, a callback that starts another request, the source
 * address and the headers the server sees.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/clock.h"
#include "io/http_client.h"
#include "io/loop.h"
#include "io/net.h"
#include <shoal/error.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the server ---- */

#define MAX_CONNS 64

typedef struct srv {
    int lfd;
    sh_addr addr;
    pthread_t th;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_t conns[MAX_CONNS];
    int nconns;
    char last_req[2048];
    sh_addr last_peer;
    int served;
} srv;

typedef struct conn {
    srv *s;
    int fd;
    sh_addr peer;
} conn;

static const char gz[] = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57\x48\xaf"
                         "\xca\x2c\xd0\x51\xc8\xc0\xca\x06\x00\xba\x31\x8e\x26\x22\x00\x00\x00";

static void put_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the client hung up, as some tests intend */
        c += w;
        n -= (size_t)w;
    }
}

static void answer(int fd, const char *status, const char *extra, const void *body, size_t len)
{
    char h[512];
    int n =
        snprintf(h, sizeof h, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                 status, len, extra);
    put_all(fd, h, (size_t)n);
    put_all(fd, body, len);
}

/* Blocks until the test ends (or 5 s): the client must give up first. */
static void stall(srv *s)
{
    for (int i = 0; i < 500 && !atomic_load(&s->stop); i++)
        usleep(10000);
}

static void serve(srv *s, int fd, const char *path)
{
    static char blob[100000];
    memset(blob, 'x', sizeof blob);
    if (strcmp(path, "/ok") == 0) {
        answer(fd, "200 OK", "", "hello", 5);
    } else if (strcmp(path, "/404") == 0) {
        answer(fd, "404 Not Found", "", "nope", 4);
    } else if (strcmp(path, "/empty") == 0) {
        answer(fd, "200 OK", "", "", 0);
    } else if (strcmp(path, "/gzip") == 0) {
        answer(fd, "200 OK", "Content-Encoding: gzip\r\n", gz, sizeof gz - 1);
    } else if (strcmp(path, "/redir") == 0) {
        answer(fd, "302 Found", "Location: /ok\r\n", "", 0);
    } else if (strcmp(path, "/redir-ftp") == 0) {
        answer(fd, "302 Found", "Location: ftp://127.0.0.2/x\r\n", "", 0);
    } else if (strcmp(path, "/exact") == 0) {
        answer(fd, "200 OK", "", blob, 4096);
    } else if (strcmp(path, "/big") == 0) {
        answer(fd, "200 OK", "", blob, 4097);
    } else if (strcmp(path, "/stream") == 0) {
        /* no length: the cap must stop it while it flows */
        const char *h = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        put_all(fd, h, strlen(h));
        put_all(fd, blob, sizeof blob);
    } else if (strcmp(path, "/slow") == 0) {
        stall(s);
    } else {
        answer(fd, "400 Bad Request", "", "?", 1);
    }
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    char req[2048] = "";
    size_t n = 0;
    while (n < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 2000) <= 0) break;
        ssize_t r = recv(c->fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        req[n] = 0;
    }
    req[n] = 0;
    char path[256] = "";
    sscanf(req, "GET %255s ", path);
    pthread_mutex_lock(&c->s->mu);
    snprintf(c->s->last_req, sizeof c->s->last_req, "%s", req);
    c->s->last_peer = c->peer;
    c->s->served++;
    pthread_mutex_unlock(&c->s->mu);
    serve(c->s, c->fd, path);
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_main(void *arg)
{
    srv *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0) continue;
        conn *c = calloc(1, sizeof *c);
        c->s = s;
        if (sh_net_accept(s->lfd, &c->fd, &c->peer, NULL) || s->nconns == MAX_CONNS) {
            free(c);
            continue;
        }
        pthread_create(&s->conns[s->nconns++], NULL, conn_main, c);
    }
    return NULL;
}

static void srv_start(srv *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    sh_addr bind = {.family = 4, .ip = {127, 0, 0, 2}};
    assert_int_equal(sh_net_listen(&bind, 16, &s->lfd, &s->addr, NULL), 0);
    pthread_create(&s->th, NULL, accept_main, s);
}

static void srv_stop(srv *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->th, NULL);
    for (int i = 0; i < s->nconns; i++)
        pthread_join(s->conns[i], NULL);
    close(s->lfd);
    pthread_mutex_destroy(&s->mu);
}

/* ---- the client side ---- */

typedef struct result {
    int calls;
    uint64_t id;
    int status;
    char body[8192];
    size_t len;
    char err[512];
    bool had_err;
} result;

typedef struct fixture {
    sh_loop *loop;
    srv s;
    sh_http_client *c;
    int expected; /* callbacks to wait for */
    int got;
} fixture;

static fixture fx;

static void done_cb(void *ud, uint64_t id, int status, const uint8_t *body, size_t len,
                    const char *err)
{
    result *r = ud;
    r->calls++;
    r->id = id;
    r->status = status;
    r->len = len;
    assert_non_null(body);
    memcpy(r->body, body, len < sizeof r->body ? len : sizeof r->body);
    r->had_err = err != NULL;
    if (err) snprintf(r->err, sizeof r->err, "%s", err);
    if (++fx.got >= fx.expected) sh_loop_stop(fx.loop);
}

static void stop_cb(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    sh_loop_stop(l);
}

/* Runs the loop until `n` callbacks came or `ms` passed. */
static void run(int n, int ms)
{
    fx.expected = n;
    fx.got = 0;
    uint64_t t = sh_loop_timer(fx.loop, sh_clock_now() + SH_MS(ms), stop_cb, NULL);
    sh_loop_run(fx.loop);
    sh_loop_cancel(fx.loop, t);
}

static void url(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.2:%u%s", fx.s.addr.port, path);
}

static int setup(void **st)
{
    (void)st;
    assert_int_equal(sh_loop_new(&fx.loop), 0);
    srv_start(&fx.s);
    sh_http_config cfg = {.source_ip = "127.0.0.3", .max_body = 4096, .timeout = SH_MS(400)};
    assert_int_equal(sh_http_client_new(fx.loop, &cfg, &fx.c), 0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    sh_http_client_free(fx.c);
    srv_stop(&fx.s);
    sh_loop_free(fx.loop);
    return 0;
}

static void get(const char *path, result *r)
{
    char u[128];
    url(u, sizeof u, path);
    memset(r, 0, sizeof *r);
    uint64_t id = 0;
    assert_int_equal(sh_http_get(fx.c, u, done_cb, r, &id), 0);
    assert_true(id > 0);
    r->id = id; /* overwritten by the callback with the same value */
}

static void test_ok_and_headers(void **st)
{
    (void)st;
    result r;
    get("/ok", &r);
    uint64_t id = r.id;
    assert_int_equal(sh_http_pending(fx.c), 1);
    run(1, 3000);
    assert_int_equal(r.calls, 1);
    assert_true(r.id == id);
    assert_int_equal(r.status, 200);
    assert_false(r.had_err);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.body, "hello", 5);
    assert_int_equal(sh_http_pending(fx.c), 0);
    pthread_mutex_lock(&fx.s.mu);
    /* the tracker sees the address we serve on, and who we are */
    assert_int_equal(fx.s.last_peer.ip[3], 3);
    assert_non_null(strstr(fx.s.last_req, "GET /ok HTTP/1.1\r\n"));
    assert_non_null(strstr(fx.s.last_req, "\r\nUser-Agent: shoal/" SHOAL_VERSION "\r\n"));
    assert_non_null(strstr(fx.s.last_req, "\r\nAccept-Encoding: "));
    assert_non_null(strstr(fx.s.last_req, "gzip"));
    pthread_mutex_unlock(&fx.s.mu);
}

static void test_statuses_and_bodies(void **st)
{
    (void)st;
    result a, b, c, d, e;
    get("/404", &a);
    get("/gzip", &b);
    get("/redir", &c);
    get("/empty", &d);
    get("/exact", &e);
    run(5, 3000);
    assert_int_equal(a.calls + b.calls + c.calls + d.calls + e.calls, 5);
    assert_int_equal(a.status, 404);
    assert_int_equal(a.len, 4);
    assert_false(a.had_err);
    assert_int_equal(b.status, 200);
    assert_int_equal(b.len, 34);
    assert_memory_equal(b.body, "hello gzip, hello gzip, hello gzip", 34);
    assert_int_equal(c.status, 200);
    assert_memory_equal(c.body, "hello", 5);
    assert_int_equal(d.status, 200);
    assert_int_equal(d.len, 0);
    assert_int_equal(e.status, 200);
    assert_int_equal(e.len, 4096); /* exactly the cap is fine */
}

static void test_errors(void **st)
{
    (void)st;
    result big, stream, slow, ftp;
    get("/big", &big);
    get("/stream", &stream);
    get("/slow", &slow);
    get("/redir-ftp", &ftp);
    sh_time t0 = sh_clock_now();
    run(4, 3000);
    sh_time took = sh_clock_now() - t0;
    assert_int_equal(big.calls + stream.calls + slow.calls + ftp.calls, 4);
    assert_int_equal(big.status, 0);
    assert_string_equal(big.err, "answer larger than 4096 bytes");
    assert_int_equal(stream.status, 0);
    assert_string_equal(stream.err, "answer larger than 4096 bytes");
    assert_int_equal(slow.status, 0);
    if (!strstr(slow.err, "timed out")) fail_msg("slow: %s", slow.err);
    assert_true(took >= SH_MS(390) && took < SH_MS(2000));
    assert_int_equal(ftp.status, 0);
    if (!strstr(ftp.err, "ftp")) fail_msg("ftp: %s", ftp.err);

    /* nobody listening */
    sh_addr bind = {.family = 4, .ip = {127, 0, 0, 2}};
    int fd;
    sh_addr free_port;
    assert_int_equal(sh_net_listen(&bind, 1, &fd, &free_port, NULL), 0);
    close(fd);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.2:%u/ok", free_port.port);
    result refused;
    memset(&refused, 0, sizeof refused);
    assert_int_equal(sh_http_get(fx.c, u, done_cb, &refused, NULL), 0);
    run(1, 3000);
    assert_int_equal(refused.calls, 1);
    assert_int_equal(refused.status, 0);
    if (!strstr(refused.err, "onnect")) fail_msg("refused: %s", refused.err);
}

static void cancel_cb(sh_loop *l, uint64_t id, void *ud)
{
    (void)l;
    (void)id;
    sh_http_cancel(fx.c, *(uint64_t *)ud);
}

static void test_cancel(void **st)
{
    (void)st;
    result r;
    get("/slow", &r);
    uint64_t id = r.id;
    sh_loop_timer(fx.loop, sh_clock_now() + SH_MS(100), cancel_cb, &id);
    run(1, 700); /* past the client's 400 ms timeout: still no callback */
    assert_int_equal(r.calls, 0);
    assert_int_equal(sh_http_pending(fx.c), 0);
    sh_http_cancel(fx.c, id);   /* twice: harmless */
    sh_http_cancel(fx.c, 9999); /* unknown: harmless */
    assert_int_equal(sh_http_get(fx.c, NULL, done_cb, &r, NULL), SH_EINVAL);
}

/* A callback that starts the next request, and one that cancels a finished sibling. */
static result chain_second;
static uint64_t sibling;
static void chain_cb(void *ud, uint64_t id, int status, const uint8_t *body, size_t len,
                     const char *err)
{
    done_cb(ud, id, status, body, len, err);
    sh_http_cancel(fx.c, sibling);
    char u[128];
    url(u, sizeof u, "/ok");
    memset(&chain_second, 0, sizeof chain_second);
    assert_int_equal(sh_http_get(fx.c, u, done_cb, &chain_second, NULL), 0);
}

static void test_reentrant(void **st)
{
    (void)st;
    result first, sib;
    memset(&first, 0, sizeof first);
    memset(&sib, 0, sizeof sib);
    char u[128];
    url(u, sizeof u, "/ok");
    assert_int_equal(sh_http_get(fx.c, u, chain_cb, &first, NULL), 0);
    url(u, sizeof u, "/slow");
    assert_int_equal(sh_http_get(fx.c, u, done_cb, &sib, &sibling), 0);
    run(2, 3000);
    assert_int_equal(first.calls, 1);
    assert_int_equal(sib.calls, 0); /* cancelled from the first callback */
    assert_int_equal(chain_second.calls, 1);
    assert_int_equal(chain_second.status, 200);
}

/* Freeing with requests in flight: no callbacks, nothing leaked (ASan). */
static void test_free_busy(void **st)
{
    (void)st;
    result r;
    get("/slow", &r);
    get("/ok", &r);
    run(1, 50);
    sh_http_client_free(fx.c);
    sh_http_config cfg = {0};
    assert_int_equal(sh_http_client_new(fx.loop, &cfg, &fx.c), 0);
    run(1, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses_and_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reentrant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_busy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
