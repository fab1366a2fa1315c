/*
 * http_client.h — HTTP GETs on the event loop, through libcurl's multi
 * interface: curl's sockets are watched by sh_loop, curl's timer is a loop
 * timer, and nothing ever blocks (curl resolves names in its own thread).
 *
 * Made for tracker announces (and later web seeds): small answers, a hard
 * cap on the body, a total timeout per request, gzip accepted, outgoing
 * connections bound to the IP we serve on so the other side sees it, and
 * no proxy taken from the environment (a data-center tracker is reached
 * directly). Only http:// and https:// are followed, redirects included.
 *
 * It never calls back from inside a curl callback, and never after a
 * request was cancelled or the client freed. A completion callback may start
 * and cancel requests, but must not free the client.
 */
#ifndef SHOAL_IO_HTTP_CLIENT_H
#define SHOAL_IO_HTTP_CLIENT_H

#include <shoal/types.h>

#include "io/loop.h"

#define SH_HTTP_MAX_BODY_DEFAULT (1u << 20)
#define SH_HTTP_TIMEOUT_DEFAULT SH_SEC(15)

typedef struct sh_http_config {
    const char *source_ip; /* IP literal to send from; NULL, "" or an "any" address: any */
    size_t max_body;       /* bytes (after decompression); 0 → SH_HTTP_MAX_BODY_DEFAULT */
    sh_time timeout;       /* whole request; 0 → SH_HTTP_TIMEOUT_DEFAULT */
} sh_http_config;

/*
 * A request finished. status: the HTTP status, or 0 when no HTTP answer
 * came (then err says why: refused, timed out, body too large, ...).
 * body/len: the answer's body (valid during the call only; may be empty).
 */
typedef void (*sh_http_done_fn)(void *ud, uint64_t id, int status, const uint8_t *body, size_t len,
                                const char *err);

typedef struct sh_http_client sh_http_client;

int sh_http_client_new(sh_loop *loop, const sh_http_config *cfg, sh_http_client **out);
/* Abandons every request (no callbacks) and releases the sockets. */
void sh_http_client_free(sh_http_client *c);

/* Starts a GET of url. *id (> 0, never reused) names it for cancel and the
 * callback. 0, SH_ENOMEM, or SH_EINVAL for a URL curl refuses outright. */
int sh_http_get(sh_http_client *c, const char *url, sh_http_done_fn fn, void *ud, uint64_t *id);
/* Abandons a request: its callback will not run. Unknown ids are ignored. */
void sh_http_cancel(sh_http_client *c, uint64_t id);
/* Requests started and neither finished nor cancelled. */
size_t sh_http_pending(const sh_http_client *c);

#endif
