/*
 * tstore.c — the tracker's memory: announces, scrapes, expiry, stats.
 *
 * An announce finds (or admits) the swarm and the peer, records what the
 * peer said, and asks tstore_policy.c whom to hand it. A peer is its address
 * (ip, port): announcing again from that address with a new peer id
 * replaces the old entry, since that is the same listening socket restarted.
 * Admission is bounded by the config; when full, newcomers are refused with
 * a reason and established peers are never evicted. Expiry sweeps a bounded
 * number of peers per call, round-robin over the swarm table, so the driver
 * can call it on every loop iteration.
 */
#include "tstore_int.h"

#include <stdlib.h>
#include <string.h>

#define EXPIRE_PEERS 1024u /* peers examined per sh_tstore_expire call */
#define EXPIRE_SLOTS 4096u /* swarm table slots visited per call */

static void resolve_config(const sh_tstore_config *in, sh_tstore_config *c)
{
    *c = *in;
    if (!c->max_swarms) c->max_swarms = 100000;
    if (!c->max_peers_swarm) c->max_peers_swarm = 50000;
    if (!c->max_peers_total) c->max_peers_total = 1000000;
    if (!c->interval) c->interval = 30;
    if (!c->min_interval) c->min_interval = c->interval / 2;
    if (!c->origin_handouts) c->origin_handouts = 8;
    if (c->origin_handouts > TS_MAX_HANDOUTS) c->origin_handouts = TS_MAX_HANDOUTS;
    if (c->max_peers_swarm > TS_MAX_SWARM_PEERS) c->max_peers_swarm = TS_MAX_SWARM_PEERS;
    /* twice the interval in seconds must fit the 32-bit peer clock */
    if (c->interval > 86400u * 365) c->interval = 86400u * 365;
}

int sh_tstore_new(const sh_tstore_config *cfg, sh_tstore **out)
{
    if (cfg->policy != SH_TSTORE_FLEET && cfg->policy != SH_TSTORE_RANDOM) return SH_EINVAL;
    sh_tstore *t = calloc(1, sizeof *t);
    if (!t) return SH_ENOMEM;
    resolve_config(cfg, &t->cfg);
    sh_rng_seed(&t->rng, cfg->seed);
    t->key.k0 = sh_rng_next(&t->rng);
    t->key.k1 = sh_rng_next(&t->rng);
    if (sh_ts_tables_init(t)) {
        sh_tstore_free(t);
        return SH_ENOMEM;
    }
    *out = t;
    return 0;
}

void sh_tstore_free(sh_tstore *t)
{
    if (!t) return;
    sh_ts_tables_free(t);
    free(t);
}

int sh_tstore_allow(sh_tstore *t, const uint8_t info_hash[20])
{
    return sh_ts_allow_add(t, info_hash);
}

/* ---- announce ---- */

static uint32_t seconds(sh_time now)
{
    return (uint32_t)(now / SH_SEC(1));
}

static int refuse(sh_tstore *t, sh_announce_reply *r, const char *why)
{
    t->refused++;
    size_t n = strlen(why);
    memcpy(r->failure, why, n + 1);
    return SH_ETRACKER;
}

static void counts(const ts_swarm *s, sh_announce_reply *r)
{
    if (!s) return;
    r->complete = s->cnt[CLS_SEED];
    r->incomplete = s->n - s->cnt[CLS_SEED];
    r->downloaded = s->downloaded;
}

/* stopped: forget the peer at once; the answer carries counts, no peers. */
static int stopped(sh_tstore *t, ts_swarm *s, const sh_announce_req *req, sh_announce_reply *r)
{
    if (s) {
        uint32_t pos = sh_ts_peer_find(t, s, &req->addr);
        if (pos != TS_NONE) sh_ts_peer_del(t, s, pos);
    }
    counts(s, r);
    return 0;
}

/* Finds or creates the swarm and the peer's entry, within the limits. */
static int admit(sh_tstore *t, ts_swarm **sp, const sh_announce_req *req, sh_announce_reply *r,
                 uint32_t *pos, bool *fresh)
{
    ts_swarm *s = *sp;
    *pos = s ? sh_ts_peer_find(t, s, &req->addr) : TS_NONE;
    *fresh = *pos == TS_NONE;
    if (!*fresh) return 0;
    if (!s && t->cfg.private_mode && !sh_ts_allowed(t, req->info_hash))
        return refuse(t, r, "unregistered torrent");
    if ((!s && t->nswarms >= t->cfg.max_swarms) || t->npeers >= t->cfg.max_peers_total)
        return refuse(t, r, "tracker full");
    if (s && s->n >= t->cfg.max_peers_swarm) return refuse(t, r, "swarm full");
    bool created = !s;
    if (created) {
        int rc = sh_ts_swarm_add(t, req->info_hash, &s);
        if (rc) return rc;
    }
    int rc = sh_ts_peer_add(t, s, &req->addr, pos);
    if (rc && created) {
        uint32_t slot;
        sh_ts_swarm_find(t, req->info_hash, &slot);
        sh_ts_swarm_del(t, slot); /* leave no empty swarm behind */
        return rc;
    }
    *sp = s;
    return rc;
}

static int class_for(const ts_swarm *s, uint64_t left)
{
    if (left == 0) return CLS_SEED;
    return left < s->max_left ? CLS_HOLDER : CLS_EMPTY;
}

static uint32_t id_hash(const sh_tstore *t, const uint8_t peer_id[20])
{
    return (uint32_t)sh_siphash(&t->key, peer_id, 20);
}

/* Records what the peer announced; returns its (possibly moved) position.
 * A peer that was not a seed had left > 0 at its last announce. */
static uint32_t record(sh_tstore *t, ts_swarm *s, uint32_t pos, bool fresh,
                       const sh_announce_req *req, uint32_t pid, sh_time now)
{
    ts_peer *p = ts_at(s, pos);
    bool was_leecher = !fresh && sh_ts_class_of(s, pos) != CLS_SEED;
    bool finished = req->event == SH_TEV_COMPLETED || (was_leecher && req->left == 0);
    if (finished && !(p->flags & TS_F_COMPLETED)) {
        p->flags |= TS_F_COMPLETED;
        if (s->downloaded < UINT32_MAX) s->downloaded++;
        t->completed++;
    }
    p->pid = pid;
    if (s->ids) memcpy(s->ids[pos], req->peer_id, 20);
    p->seen = seconds(now);
    if (req->left > s->max_left) s->max_left = req->left;
    return sh_ts_peer_set_class(t, s, pos, class_for(s, req->left));
}

int sh_tstore_announce(sh_tstore *t, const sh_announce_req *req, sh_time now,
                       sh_announce_reply *reply, sh_tpeer *peers_buf, uint32_t max)
{
    memset(reply, 0, sizeof *reply);
    reply->interval = t->cfg.interval;
    reply->min_interval = t->cfg.min_interval;
    reply->peers = peers_buf;
    if (req->addr.family != 4 && req->addr.family != 6) return SH_EINVAL;
    t->announces++;
    ts_swarm *s = sh_ts_swarm_find(t, req->info_hash, NULL);
    if (req->event == SH_TEV_STOPPED) return stopped(t, s, req, reply);
    uint32_t pos;
    bool fresh;
    int rc = admit(t, &s, req, reply, &pos, &fresh);
    if (rc) return rc;
    uint32_t pid = id_hash(t, req->peer_id);
    pos = record(t, s, pos, fresh, req, pid, now);
    counts(s, reply);
    uint32_t want = req->numwant < max ? req->numwant : max;
    ts_asker a = {.pos = pos,
                  .pid = pid,
                  .family = req->addr.family,
                  .want_v6 = req->want_v6,
                  .want_ids = !req->no_peer_id,
                  .now_s = seconds(now),
                  .window = seconds(now) / t->cfg.interval};
    reply->num_peers = want && peers_buf ? sh_ts_select(t, s, &a, want, peers_buf) : 0;
    return 0;
}

/* ---- scrape, stats, listing ---- */

static void entry(const ts_swarm *s, sh_scrape_entry *e)
{
    memcpy(e->info_hash, s->info_hash, 20);
    e->complete = s->cnt[CLS_SEED];
    e->incomplete = s->n - s->cnt[CLS_SEED];
    e->downloaded = s->downloaded;
}

void sh_tstore_scrape(sh_tstore *t, const uint8_t info_hash[20], sh_scrape_entry *out)
{
    t->scrapes++;
    const ts_swarm *s = sh_ts_swarm_find(t, info_hash, NULL);
    memset(out, 0, sizeof *out);
    memcpy(out->info_hash, info_hash, 20);
    if (s) entry(s, out);
}

void sh_tstore_stats_get(const sh_tstore *t, sh_tstore_stats *st)
{
    memset(st, 0, sizeof *st);
    st->swarms = t->nswarms;
    st->peers = t->npeers;
    st->seeders = t->nseeds;
    st->leechers = t->npeers - t->nseeds;
    st->completed = t->completed;
    st->announces = t->announces;
    st->scrapes = t->scrapes;
    st->refused = t->refused;
}

static int cmp_entry(const void *a, const void *b)
{
    return memcmp(((const sh_scrape_entry *)a)->info_hash, ((const sh_scrape_entry *)b)->info_hash,
                  20);
}

void sh_tstore_each(const sh_tstore *t, sh_tstore_visit_fn fn, void *ud)
{
    sh_scrape_entry *v = t->nswarms ? malloc((size_t)t->nswarms * sizeof *v) : NULL;
    uint32_t n = 0;
    for (uint32_t i = 0; i <= t->tab_mask; i++) {
        if (!t->tab[i]) continue;
        if (!v) { /* out of memory: visit unsorted rather than not at all */
            sh_scrape_entry e;
            entry(t->tab[i], &e);
            fn(ud, &e);
            continue;
        }
        entry(t->tab[i], &v[n++]);
    }
    if (!v) return;
    qsort(v, n, sizeof *v, cmp_entry);
    for (uint32_t i = 0; i < n; i++)
        fn(ud, &v[i]);
    free(v);
}

/* ---- expiry ---- */

/* Sweeps the swarm at the cursor; returns the peers examined. */
static uint32_t sweep_swarm(sh_tstore *t, ts_swarm *s, uint32_t budget, uint32_t now_s)
{
    uint32_t used = 0;
    while (t->exp_pos < s->n && used < budget) {
        /* a removal moves an unexamined peer into exp_pos: look again there */
        if (sh_ts_stale(t, ts_at(s, t->exp_pos), now_s))
            sh_ts_peer_del(t, s, t->exp_pos);
        else
            t->exp_pos++;
        used++;
    }
    return used;
}

void sh_tstore_expire(sh_tstore *t, sh_time now)
{
    uint32_t now_s = seconds(now), peers = EXPIRE_PEERS, slots = EXPIRE_SLOTS;
    if (slots > t->tab_mask + 1) slots = t->tab_mask + 1; /* at most one pass per call */
    while (peers > 0 && slots > 0 && t->nswarms > 0) {
        uint32_t slot = t->exp_slot & t->tab_mask;
        ts_swarm *s = t->tab[slot];
        if (s) peers -= sweep_swarm(t, s, peers, now_s);
        if (s && t->exp_pos < s->n) break; /* budget spent inside this swarm */
        slots--;
        t->exp_pos = 0;
        if (s && s->n == 0) {
            sh_ts_swarm_del(t, slot); /* a later swarm may shift into slot: revisit it */
            continue;
        }
        t->exp_slot = (slot + 1) & t->tab_mask;
    }
}
