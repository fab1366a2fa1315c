/*
 * tstore_policy.c — whom the tracker hands to an asker. docs/tracker.md
 * explains the reasons and the knobs; this is the rule itself.
 *
 * Classes (tstore_int.h keeps each swarm's peers in three regions):
 *   seeds    left == 0
 *   holders  0 < left < the largest left the swarm has seen: they made
 *            progress, so they have pieces to trade
 *   empty    left == that largest left: newcomers with nothing yet
 * A peer's class is set when it announces, so when the largest left grows
 * (a bigger newcomer), others are reclassified at their next announce.
 *
 * The answer, filled in this order until numwant peers are chosen:
 *   (a) seeds — skipped when the asker is a seed. While at least one other
 *       peer holds data, each seed is handed out at most origin_handouts
 *       times per interval window (now / interval), counted per seed: the
 *       origin's upload then seeds a few peers, and the rest of the fleet
 *       pulls from those holders instead of all dialing the origin. When
 *       nobody else holds data, seeds are always handed out: someone must
 *       start the swarm.
 *   (b) holders, a uniform sample;
 *   (c) empty peers, a uniform sample.
 * The asker never receives itself (its own entry, or another entry with the
 * same peer id, compared by a 32-bit keyed hash: a collision merely leaves
 * one peer out of one answer); an IPv4 asker receives only IPv4 peers
 * unless it asked for peers6; peers that missed two intervals but have not
 * been swept yet are skipped.
 *
 * The random policy (SH_TSTORE_RANDOM, for comparison: what classic
 * trackers do) draws one uniform sample from the whole array, every class
 * at once, with the same exclusions and no seed quota; a seed asker gets
 * seeds too.
 *
 * Sampling is a partial Fisher–Yates shuffle over a region's index range:
 * the swaps are kept in a small scratch map instead of being applied to the
 * array, so a draw is O(1) and the array is not reordered. Each class gets
 * at most 4 × (still wanted) + 32 draws, which bounds the cost of an
 * announce by O(numwant) even when many candidates are refused (seeds over
 * their quota, peers of the other family). Each swarm also counts its seeds
 * at quota in the current window, so once all are, the seed class is
 * skipped without drawing. Handouts are counted in the swarm's window:
 * the first seed sample of a new window zeroes every seed's count, once
 * per window, so an entry needs no window number of its own. All
 * randomness comes from the store's generator, seeded from the config: one
 * seed, one sequence of answers.
 */
#include "tstore_int.h"

#include <string.h>

#define FY_MASK (TS_FY_SLOTS - 1)

bool sh_ts_stale(const sh_tstore *t, const ts_peer *p, uint32_t now_s)
{
    /* signed difference: a clock that steps back a little does not expire everyone */
    int64_t d = (int32_t)(now_s - p->seen);
    return d > 2 * (int64_t)t->cfg.interval;
}

/* ---- sparse Fisher–Yates: a virtual permutation of [0, m) ---- */

static void fy_reset(sh_tstore *t)
{
    if (++t->fy_gen == 0) { /* generation wrapped: stale stamps could look current */
        memset(t->fy, 0, TS_FY_SLOTS * sizeof *t->fy);
        t->fy_gen = 1;
    }
}

static ts_fy_slot *fy_lookup(sh_tstore *t, uint32_t key)
{
    uint32_t i = (key * 2654435761u) >> 21 & FY_MASK;
    while (t->fy[i].gen == t->fy_gen && t->fy[i].key != key)
        i = (i + 1) & FY_MASK;
    return &t->fy[i];
}

static uint32_t fy_get(sh_tstore *t, uint32_t key)
{
    ts_fy_slot *s = fy_lookup(t, key);
    return s->gen == t->fy_gen ? s->val : key;
}

static void fy_set(sh_tstore *t, uint32_t key, uint32_t val)
{
    ts_fy_slot *s = fy_lookup(t, key);
    s->gen = t->fy_gen;
    s->key = key;
    s->val = val;
}

/* Uniform in [0, n), n < 2^32 (Lemire's multiply-and-shift: a division
 * only in the rare case that needs rejection). */
static uint32_t below(sh_tstore *t, uint32_t n)
{
    uint64_t m = (sh_rng_next(&t->rng) >> 32) * n;
    if ((uint32_t)m < n) {
        uint32_t floor = -n % n;
        while ((uint32_t)m < floor)
            m = (sh_rng_next(&t->rng) >> 32) * n;
    }
    return (uint32_t)(m >> 32);
}

/* Step j of the shuffle of [0, m): the j-th element of a uniform permutation. */
static uint32_t fy_draw(sh_tstore *t, uint32_t j, uint32_t m)
{
    uint32_t r = j + below(t, m - j);
    uint32_t vr = fy_get(t, r), vj = fy_get(t, j);
    fy_set(t, r, vj);
    return vr;
}

/* ---- eligibility ---- */

static bool eligible(const sh_tstore *t, const ts_asker *a, const ts_peer *p, uint32_t pos,
                     bool quota)
{
    if (pos == a->pos || p->pid == a->pid || sh_ts_stale(t, p, a->now_s)) return false;
    uint8_t family = p->flags & TS_F_V6 ? 6 : 4;
    if (family != a->family && !a->want_v6) return false;
    return !quota || p->handouts < t->cfg.origin_handouts;
}

/* Starts window w for the swarm's seed handouts (once per window). */
static void roll_window(ts_swarm *s, uint32_t w)
{
    if (s->qwin == w) return;
    s->qwin = w;
    s->qfull = 0;
    for (uint32_t i = 0; i < s->cnt[CLS_SEED]; i++)
        ts_at(s, i)->handouts = 0;
}

/* Copies the peer at pos into out; a seed's handout is counted. */
static void take(const sh_tstore *t, ts_swarm *s, uint32_t pos, bool seed, bool ids, sh_tpeer *out)
{
    ts_peer *p = ts_at(s, pos);
    memset(out, 0, sizeof *out);
    out->addr.family = p->flags & TS_F_V6 ? 6 : 4;
    memcpy(out->addr.ip, p->ip, 4);
    if (p->flags & TS_F_V6) memcpy(out->addr.ip + 4, ts_ip_rest(p), 12);
    out->addr.port = p->port;
    if (ids && s->ids) {
        memcpy(out->peer_id, s->ids[pos], 20);
        out->has_peer_id = true;
    }
    if (!seed) return;
    if (p->handouts < TS_MAX_HANDOUTS) p->handouts++;
    if (p->handouts == t->cfg.origin_handouts) s->qfull++;
}

/* The same step on a small class, as a plain array (no map lookups). */
static uint32_t dense_draw(sh_tstore *t, uint32_t *perm, uint32_t j, uint32_t m)
{
    uint32_t r = j + below(t, m - j), v = perm[r];
    perm[r] = perm[j];
    return v;
}

/* Draws up to need eligible peers of class cls into out; returns how many.
 * Candidates are drawn a batch at a time (as many as are still wanted) and
 * their entries prefetched before any is examined: the entries are random
 * positions of a large array, so the cache misses then overlap instead of
 * queueing. Draws happen in exactly the order of a one-by-one loop that
 * stops at need, and a class of up to DENSE_MAX peers is shuffled in a
 * plain array, which yields the very permutation the map would: the
 * answers depend on neither. */
#define BATCH_MAX 64u
#define DENSE_MAX 1024u
static uint32_t sample_range(sh_tstore *t, ts_swarm *s, uint32_t lo, uint32_t m, const ts_asker *a,
                             bool quota, bool seeds, uint32_t need, sh_tpeer *out)
{
    uint32_t budget = need * 4 + 32, got = 0, j = 0;
    if (budget > m) budget = m;
    if (budget == 0 || need == 0) return 0;
    if (quota && s->qfull >= m) return 0; /* every seed at quota */
    uint32_t perm[DENSE_MAX];
    bool dense = m <= DENSE_MAX;
    if (dense) {
        for (uint32_t i = 0; i < m; i++)
            perm[i] = i;
    } else {
        fy_reset(t);
    }
    while (j < budget && got < need) {
        uint32_t pos[BATCH_MAX], k = need - got;
        if (k > BATCH_MAX) k = BATCH_MAX;
        if (k > budget - j) k = budget - j;
        for (uint32_t i = 0; i < k; i++, j++) {
            pos[i] = lo + (dense ? dense_draw(t, perm, j, m) : fy_draw(t, j, m));
            __builtin_prefetch(ts_at(s, pos[i]));
        }
        for (uint32_t i = 0; i < k; i++) {
            if (!eligible(t, a, ts_at(s, pos[i]), pos[i], quota)) continue;
            take(t, s, pos[i], seeds, a->want_ids, &out[got++]);
        }
    }
    return got;
}

/* One class of the fleet policy; a seed's handout is counted. */
static uint32_t sample(sh_tstore *t, ts_swarm *s, int cls, const ts_asker *a, bool quota,
                       uint32_t need, sh_tpeer *out)
{
    return sample_range(t, s, sh_ts_region_start(s, cls), s->cnt[cls], a, quota, cls == CLS_SEED,
                        need, out);
}

uint32_t sh_ts_select(sh_tstore *t, ts_swarm *s, const ts_asker *a, uint32_t want, sh_tpeer *out)
{
    if (want > SH_NUMWANT_MAX) want = SH_NUMWANT_MAX; /* keeps the scratch map's bound */
    if (t->cfg.policy == SH_TSTORE_RANDOM)
        return sample_range(t, s, 0, s->n, a, false, false, want, out);
    int own = a->pos < s->n ? sh_ts_class_of(s, a->pos) : -1;
    uint32_t n = 0;
    if (own != CLS_SEED) {
        roll_window(s, a->window);
        uint32_t other_holders = s->cnt[CLS_HOLDER] - (own == CLS_HOLDER);
        n += sample(t, s, CLS_SEED, a, other_holders > 0, want, out);
    }
    n += sample(t, s, CLS_HOLDER, a, false, want - n, out + n);
    n += sample(t, s, CLS_EMPTY, a, false, want - n, out + n);
    return n;
}
