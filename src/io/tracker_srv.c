/*
 * tracker_srv.c — the tracker server's life cycle and the request path both
 * protocols share: flood control, the store, counters, periodic expiry.
 */
#include "io/tracker_int.h"

#include "io/clock.h"

#include <shoal/log.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define EXPIRE_EVERY SH_MS(100)

/* Fills buf from the kernel's CSPRNG; fails rather than returning weak bytes. */
static int random_bytes(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return SH_EIO;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

const char *tr_refusal_name(tr_refusal why)
{
    static const char *const names[TR_NREF] = {"rate_limited", "bad_request", "bad_connection_id",
                                               "not_allowed", "full"};
    return (unsigned)why < TR_NREF ? names[why] : "other";
}

void tr_refuse(sh_tracker *t, tr_refusal why)
{
    if ((unsigned)why < TR_NREF) t->refused[why]++;
}

bool tr_admit(sh_tracker *t, const sh_addr *from, sh_time now)
{
    if (sh_floodgate_admit(t->flood, from, now)) return true;
    tr_refuse(t, TR_REF_RATE);
    return false;
}

/* Moves the per-second ring to now's second, zeroing the seconds skipped. */
static void ring_advance(sh_tracker *t, sh_time now)
{
    uint64_t sec = (now - t->started) / SH_SEC(1);
    if (sec <= t->ring_sec) return;
    uint64_t steps = sec - t->ring_sec;
    if (steps > TR_RATE_WINDOW + 1) steps = TR_RATE_WINDOW + 1;
    for (uint64_t i = 1; i <= steps; i++)
        t->ring[(t->ring_sec + i) % (TR_RATE_WINDOW + 1)] = 0;
    t->ring_sec = sec;
}

double tr_announce_rate(sh_tracker *t, sh_time now)
{
    ring_advance(t, now);
    /* The last TR_RATE_WINDOW whole seconds (the current one is partial);
     * a younger tracker divides by the seconds it has lived. */
    uint64_t sum = 0;
    for (unsigned i = 1; i <= TR_RATE_WINDOW; i++)
        sum += t->ring[(t->ring_sec + TR_RATE_WINDOW + 1 - i) % (TR_RATE_WINDOW + 1)];
    uint64_t secs = t->ring_sec < TR_RATE_WINDOW ? t->ring_sec : TR_RATE_WINDOW;
    return secs ? (double)sum / (double)secs : 0.0;
}

/* The store's refusal text tells "not allowed" from "full"; the store says
 * which in its failure reason, and anything else counts as full. */
static tr_refusal store_refusal(const sh_tracker *t, const char *failure)
{
    if (t->cfg.store.private_mode &&
        (strstr(failure, "not authorized") || strstr(failure, "not allowed") ||
         strstr(failure, "unregistered")))
        return TR_REF_DENIED;
    return TR_REF_FULL;
}

int tr_announce(sh_tracker *t, tr_proto p, const sh_announce_req *req, sh_time now,
                sh_announce_reply *reply)
{
    ring_advance(t, now);
    t->ring[t->ring_sec % (TR_RATE_WINDOW + 1)]++;
    t->announces[p]++;
    memset(reply, 0, sizeof *reply);
    uint32_t max = req->numwant < SH_NUMWANT_MAX ? req->numwant : SH_NUMWANT_MAX;
    int rc = sh_tstore_announce(t->store, req, now, reply, t->peers, max);
    if (rc == 0) return 0;
    if (!reply->failure[0]) snprintf(reply->failure, sizeof reply->failure, "%s", sh_strerror(rc));
    tr_refuse(t, store_refusal(t, reply->failure));
    return SH_ETRACKER;
}

/* sh_tstore_expire examines a bounded slice (about a thousand peers) per
 * call. Call it often enough that the whole store is swept about twice per
 * interval, however many peers there are, but never more than a few
 * milliseconds' worth per tick. */
#define EXPIRE_SLICE 1024u
#define EXPIRE_MAX_CALLS 64u

static unsigned expire_calls(const sh_tracker *t)
{
    sh_tstore_stats st;
    sh_tstore_stats_get(t->store, &st);
    uint64_t interval = t->cfg.store.interval ? t->cfg.store.interval : 30;
    uint64_t ticks = interval * (SH_SEC(1) / EXPIRE_EVERY) / 2; /* per half interval */
    uint64_t per_tick = st.peers / (ticks ? ticks : 1) + 1;
    uint64_t calls = (per_tick + EXPIRE_SLICE - 1) / EXPIRE_SLICE;
    return calls > EXPIRE_MAX_CALLS ? EXPIRE_MAX_CALLS : calls < 1 ? 1 : (unsigned)calls;
}

static void on_expire(sh_loop *l, uint64_t id, void *ud)
{
    sh_tracker *t = ud;
    (void)id;
    sh_time now = sh_loop_now(l);
    for (unsigned i = expire_calls(t); i > 0; i--)
        sh_tstore_expire(t->store, now);
    ring_advance(t, now);
    t->expire_timer = sh_loop_timer(l, now + EXPIRE_EVERY, on_expire, t);
}

static int make_core(sh_tracker *t, sh_errinfo *ei)
{
    uint8_t key[16];
    sh_tstore_config sc = t->cfg.store;
    if (random_bytes(t->udp_secret, sizeof t->udp_secret) || random_bytes(key, sizeof key) ||
        random_bytes(&sc.seed, sizeof sc.seed))
        return sh_errinfo_set(ei, SH_EIO, 0, "getrandom failed: %s", strerror(errno));
    int rc = sh_tstore_new(&sc, &t->store);
    if (rc) return sh_errinfo_set(ei, rc, 0, "tracker store: %s", sh_strerror(rc));
    rc = sh_floodgate_new(t->cfg.ip_rate, t->cfg.ip_burst, t->cfg.flood_slots, key, &t->flood);
    if (rc) return sh_errinfo_set(ei, rc, 0, "flood table: %s", sh_strerror(rc));
    return 0;
}

int sh_tracker_new(sh_loop *loop, const sh_tracker_config *cfg, sh_tracker **out, sh_errinfo *ei)
{
    if (!loop || !cfg || cfg->n_http > SH_TRACKER_MAX_LISTEN ||
        cfg->n_udp > SH_TRACKER_MAX_LISTEN || cfg->n_http + cfg->n_udp == 0)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "no listener configured");
    sh_tracker *t = calloc(1, sizeof *t);
    if (!t) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    t->loop = loop;
    t->cfg = *cfg;
    t->log = cfg->log;
    t->started = sh_loop_now(loop);
    t->started_wall = sh_clock_wall();
    int rc = make_core(t, ei);
    for (unsigned i = 0; !rc && i < cfg->n_http; i++) {
        rc = tr_http_start(t, &t->http[i], &cfg->http[i], ei);
        if (!rc) t->n_http++;
    }
    for (unsigned i = 0; !rc && i < cfg->n_udp; i++) {
        rc = tr_udp_start(t, &t->udp[i], &cfg->udp[i], ei);
        if (!rc) t->n_udp++;
    }
    if (!rc) {
        t->expire_timer = sh_loop_timer(loop, t->started + EXPIRE_EVERY, on_expire, t);
        if (!t->expire_timer) rc = sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    }
    if (rc) {
        sh_tracker_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void sh_tracker_free(sh_tracker *t)
{
    if (!t) return;
    if (t->expire_timer) sh_loop_cancel(t->loop, t->expire_timer);
    for (unsigned i = 0; i < t->n_http; i++)
        tr_http_stop(&t->http[i]);
    for (unsigned i = 0; i < t->n_udp; i++)
        tr_udp_stop(&t->udp[i]);
    sh_floodgate_free(t->flood);
    sh_tstore_free(t->store);
    free(t);
}

int sh_tracker_allow(sh_tracker *t, const uint8_t info_hash[20])
{
    return sh_tstore_allow(t->store, info_hash);
}

unsigned sh_tracker_http_addrs(const sh_tracker *t, sh_addr *out, unsigned max)
{
    unsigned n = 0;
    for (; n < t->n_http && n < max; n++)
        out[n] = t->http[n].bound;
    return n;
}

unsigned sh_tracker_udp_addrs(const sh_tracker *t, sh_addr *out, unsigned max)
{
    unsigned n = 0;
    for (; n < t->n_udp && n < max; n++)
        out[n] = t->udp[n].bound;
    return n;
}
