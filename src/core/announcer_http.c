/*
 * announcer_http.c — an HTTP announce as the announcer sees it: a URL out,
 * a status and a body back, or silence for ANN_HTTP_TIMEOUT, which cancels
 * the request. The body is decoded here; the fetching is the driver's.
 */
#include "announce_int.h"
#include "announcer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ann_http_start(sh_announcer *a, ann_tracker *t, sh_time now)
{
    sh_announce_req r;
    ann_build_req(a, t->event, &r);
    char *url = sh_http_announce_url(t->url, &r);
    t->phase = PH_HTTP;
    t->req = ++a->next_req;
    t->deadline = now + ANN_HTTP_TIMEOUT;
    sh_ann_action act = {.type = SH_ANN_HTTP_GET, .req = t->req, .url = url};
    if (!url || ann_push(a, &act, url, NULL)) ann_failure(a, t, "out of memory", now);
}

void ann_http_cancel(sh_announcer *a, ann_tracker *t)
{
    sh_ann_action act = {.type = SH_ANN_CANCEL, .req = t->req};
    ann_push(a, &act, NULL, NULL);
}

void ann_http_timer(sh_announcer *a, ann_tracker *t, sh_time now)
{
    ann_http_cancel(a, t);
    ann_failure(a, t, "timeout: no answer in 15 s", now);
}

static ann_tracker *find_req(sh_announcer *a, uint64_t req)
{
    for (uint32_t i = 0; i < a->ntrk; i++)
        if (a->trk[i].phase == PH_HTTP && a->trk[i].req == req) return &a->trk[i];
    return NULL;
}

/* A non-200 answer: the status, and the tracker's own reason if the body has one. */
static void http_error(sh_announcer *a, ann_tracker *t, int status, const uint8_t *body, size_t len,
                       sh_time now)
{
    char why[160];
    sh_announce_reply r;
    memset(&r, 0, sizeof r);
    if (body && sh_http_announce_decode(body, len, &r, NULL) == SH_ETRACKER)
        snprintf(why, sizeof why, "HTTP %d: failure reason \"%.100s\"", status, r.failure);
    else
        snprintf(why, sizeof why, "HTTP %d", status);
    sh_announce_reply_free(&r);
    ann_failure(a, t, why, now);
}

static void transport_error(sh_announcer *a, ann_tracker *t, const uint8_t *body, size_t len,
                            sh_time now)
{
    char text[100], why[128];
    sh_ann_copy_text(text, sizeof text, body ? body : (const uint8_t *)"", body ? len : 0);
    snprintf(why, sizeof why, "connection failed%s%s", text[0] ? ": " : "", text);
    ann_failure(a, t, why, now);
}

void sh_announcer_http_done(sh_announcer *a, uint64_t req, int http_status, const uint8_t *body,
                            size_t len, sh_time now)
{
    ann_tracker *t = find_req(a, req);
    if (!t) return; /* cancelled or unknown: late answers change nothing */
    if (http_status == 0) {
        transport_error(a, t, body, len, now);
        return;
    }
    if (http_status != 200) {
        http_error(a, t, http_status, body, len, now);
        return;
    }
    sh_announce_reply r;
    memset(&r, 0, sizeof r);
    sh_errinfo ei = {{0}, 0};
    int rc = body ? sh_http_announce_decode(body, len, &r, &ei) : SH_EPROTO;
    char why[200];
    if (rc == 0) {
        ann_success(a, t, &r, now);
    } else if (rc == SH_ETRACKER) {
        snprintf(why, sizeof why, "failure reason \"%.150s\"", r.failure);
        ann_failure(a, t, why, now);
    } else {
        snprintf(why, sizeof why, "bad answer: %.150s", body ? ei.msg : "empty body");
        ann_failure(a, t, why, now);
    }
    sh_announce_reply_free(&r);
}
