/*
 * announcer_udp.c — the client half of BEP 15: connect, then announce with
 * the connection id (cached for a minute), each request retransmitted after
 * 2 s, 4 s, 8 s and given up after 4 tries.
 *
 * An answer is matched to its request by the tracker's resolved address and
 * the transaction id, both of which a forger off the path must guess; a
 * packet that matches neither is dropped without a trace in the tracker's
 * state. A packet that does match but cannot be decoded is the tracker's
 * fault and counts as a failure.
 */
#include "announcer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void transmit(sh_announcer *a, ann_tracker *t, sh_time now)
{
    t->tries++;
    t->deadline = now + (ANN_UDP_RTO << (t->tries - 1));
    uint8_t *copy = malloc(t->pkt_len);
    if (!copy) return; /* as if lost: the retransmission timer covers it */
    memcpy(copy, t->pkt, t->pkt_len);
    sh_ann_action act = {
        .type = SH_ANN_UDP_SEND, .host = t->host, .port = t->port, .data = copy, .len = t->pkt_len};
    ann_push(a, &act, copy, NULL);
}

static void send_connect(sh_announcer *a, ann_tracker *t, sh_time now)
{
    t->phase = PH_UDP_CONNECT;
    t->txid = (uint32_t)sh_rng_next(&a->rng);
    t->tries = 0;
    t->pkt_len = sh_udp_connect_request(t->pkt, t->txid);
    transmit(a, t, now);
}

static void send_announce(sh_announcer *a, ann_tracker *t, sh_time now)
{
    sh_announce_req r;
    ann_build_req(a, t->event, &r);
    t->phase = PH_UDP_ANNOUNCE;
    t->txid = (uint32_t)sh_rng_next(&a->rng);
    t->tries = 0;
    t->pkt_len = sh_udp_announce_request(t->pkt, t->conn_id, t->txid, &r);
    transmit(a, t, now);
}

static bool conn_fresh(const ann_tracker *t, sh_time now)
{
    return t->has_conn && now >= t->conn_at && now - t->conn_at < ANN_UDP_CONN_TTL;
}

void ann_udp_start(sh_announcer *a, ann_tracker *t, sh_time now)
{
    if (conn_fresh(t, now))
        send_announce(a, t, now);
    else
        send_connect(a, t, now);
}

void ann_udp_timer(sh_announcer *a, ann_tracker *t, sh_time now)
{
    if (t->tries < ANN_UDP_TRIES) {
        transmit(a, t, now);
        return;
    }
    char why[96];
    bool connecting = t->phase == PH_UDP_CONNECT;
    snprintf(why, sizeof why, "timeout: no answer to %s after %u tries",
             connecting ? "connect" : "announce", ANN_UDP_TRIES);
    /* silence after a connect may mean the tracker forgot our id */
    if (!connecting) t->has_conn = false;
    ann_failure(a, t, why, now);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static ann_tracker *match(sh_announcer *a, const sh_addr *from, uint32_t txid)
{
    for (uint32_t i = 0; i < a->ntrk; i++) {
        ann_tracker *t = &a->trk[i];
        bool waiting = t->phase == PH_UDP_CONNECT || t->phase == PH_UDP_ANNOUNCE;
        if (waiting && t->resolved && t->txid == txid && sh_addr_eq(&t->addr, from)) return t;
    }
    return NULL;
}

static void on_answer(sh_announcer *a, ann_tracker *t, uint32_t action, uint64_t cid,
                      sh_announce_reply *r, sh_time now)
{
    if (t->phase == PH_UDP_CONNECT && action == SH_UDP_CONNECT) {
        t->has_conn = true;
        t->conn_id = cid;
        t->conn_at = now;
        send_announce(a, t, now);
    } else if (t->phase == PH_UDP_ANNOUNCE && action == SH_UDP_ANNOUNCE) {
        ann_success(a, t, r, now);
    } else {
        char why[64];
        snprintf(why, sizeof why, "bad answer: unexpected UDP action %u", action);
        ann_failure(a, t, why, now);
    }
}

void sh_announcer_udp_recv(sh_announcer *a, const sh_addr *from, const uint8_t *pkt, size_t len,
                           sh_time now)
{
    if (!from || !pkt || len < 8) return;
    ann_tracker *t = match(a, from, be32(pkt + 4));
    if (!t) {
        char as[SH_ADDR_STRLEN];
        sh_log(&a->cfg.log, SH_LOG_DEBUG, ANN_COMPONENT, "UDP packet from %s matches no request",
               sh_addr_format(from, as, sizeof as));
        return;
    }
    uint32_t action = 0;
    uint64_t cid = 0;
    sh_announce_reply r;
    memset(&r, 0, sizeof r);
    int rc = sh_udp_reply_decode(pkt, len, t->txid, from->family, &action, &cid, &r);
    char why[200];
    if (rc == 0) {
        on_answer(a, t, action, cid, &r, now);
    } else if (rc == SH_ETRACKER) {
        t->has_conn = false; /* an error may be about the id: get a fresh one next time */
        snprintf(why, sizeof why, "failure reason \"%.150s\"", r.failure);
        ann_failure(a, t, why, now);
    } else {
        snprintf(why, sizeof why, "bad answer: malformed UDP packet (%zu bytes)", len);
        ann_failure(a, t, why, now);
    }
    sh_announce_reply_free(&r);
}

static bool host_eq(const char *x, const char *y)
{
    for (;; x++, y++) {
        char cx = *x >= 'A' && *x <= 'Z' ? (char)(*x - 'A' + 'a') : *x;
        char cy = *y >= 'A' && *y <= 'Z' ? (char)(*y - 'A' + 'a') : *y;
        if (cx != cy) return false;
        if (!cx) return true;
    }
}

static bool is(const ann_tracker *t, const char *host, uint16_t port)
{
    return t->kind == KIND_UDP && t->port == port && host && host_eq(t->host, host);
}

void sh_announcer_udp_failed(sh_announcer *a, const char *host, uint16_t port, sh_time now)
{
    for (uint32_t i = 0; i < a->ntrk; i++) {
        ann_tracker *t = &a->trk[i];
        if (!is(t, host, port) || t->phase == PH_IDLE) continue;
        char why[ANN_HOST_MAX + 48];
        snprintf(why, sizeof why, "cannot resolve or reach %s:%u", t->host, (unsigned)port);
        ann_failure(a, t, why, now);
    }
}

void sh_announcer_udp_resolved(sh_announcer *a, const char *host, uint16_t port,
                               const sh_addr *addr)
{
    if (!addr || (addr->family != 4 && addr->family != 6)) return;
    for (uint32_t i = 0; i < a->ntrk; i++) {
        ann_tracker *t = &a->trk[i];
        if (!is(t, host, port)) continue;
        sh_addr next = *addr;
        next.port = port;
        if (t->resolved && !sh_addr_eq(&t->addr, &next)) t->has_conn = false; /* new server */
        t->addr = next;
        t->resolved = true;
    }
}
