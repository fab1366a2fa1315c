/*
 * tstore_peers.c — the peers of one swarm: the dense entry array with its
 * class regions, the parallel peer-id array, and the address index (layout
 * in tstore_int.h).
 *
 * The array and the index are sized apart: the array grows by a quarter
 * (little slack for a few more copies; and halves when three quarters of it
 * stand empty), the index doubles
 * when it would pass three quarters full (and halves below one eighth).
 * Positions do not move when the array is reallocated, so the index is
 * rebuilt only when its own size changes. The index is hashed with SipHash
 * under the store's key, so a client choosing ports cannot make probes long.
 */
#include "tstore_int.h"

#include <stdlib.h>
#include <string.h>

#define MIN_PEERS 8u
#define MIN_INDEX 16u

/* ---- addresses ---- */

/* SipHash of (family, 16 address bytes, port): the same for an sh_addr and
 * for the entry that stores it. */
static uint64_t key_hash(const sh_tstore *t, uint8_t family, const uint8_t ip[16], uint16_t port)
{
    uint8_t k[19] = {family};
    memcpy(k + 1, ip, 16);
    k[17] = (uint8_t)(port >> 8);
    k[18] = (uint8_t)port;
    return sh_siphash(&t->key, k, sizeof k);
}

static uint64_t addr_hash(const sh_tstore *t, const sh_addr *a)
{
    uint8_t ip[16] = {0};
    memcpy(ip, a->ip, a->family == 4 ? 4 : 16);
    return key_hash(t, a->family, ip, a->port);
}

void sh_ts_peer_addr(const ts_swarm *s, uint32_t pos, sh_addr *out)
{
    ts_peer *p = ts_at(s, pos);
    memset(out, 0, sizeof *out);
    out->family = p->flags & TS_F_V6 ? 6 : 4;
    memcpy(out->ip, p->ip, 4);
    if (out->family == 6) memcpy(out->ip + 4, ts_ip_rest(p), 12);
    out->port = p->port;
}

static uint64_t entry_hash(const sh_tstore *t, const ts_swarm *s, uint32_t pos)
{
    sh_addr a;
    sh_ts_peer_addr(s, pos, &a);
    return addr_hash(t, &a);
}

static bool peer_is(ts_peer *p, const sh_addr *a)
{
    if (p->port != a->port || memcmp(p->ip, a->ip, 4) != 0) return false;
    if (a->family == 4) return !(p->flags & TS_F_V6);
    return (p->flags & TS_F_V6) && memcmp(ts_ip_rest(p), a->ip + 4, 12) == 0;
}

/* ---- the index ---- */

static uint32_t slot_val(uint64_t h, uint32_t pos)
{
    return (uint32_t)(h >> (64 - (32 - TS_POS_BITS))) << TS_POS_BITS | (pos + 1);
}

static uint32_t slot_pos(uint32_t v)
{
    return (v & TS_POS_MASK) - 1;
}

/* Cyclic distance from slot a forward to slot b. */
static uint32_t dist(uint32_t a, uint32_t b, uint32_t mask)
{
    return (b - a) & mask;
}

uint32_t sh_ts_peer_find(const sh_tstore *t, const ts_swarm *s, const sh_addr *a)
{
    if (!s->idx) return TS_NONE;
    uint64_t h = addr_hash(t, a);
    uint32_t tag = slot_val(h, 0) & ~TS_POS_MASK;
    for (uint32_t i = (uint32_t)h & s->idx_mask; s->idx[i]; i = (i + 1) & s->idx_mask) {
        uint32_t v = s->idx[i];
        if ((v & ~TS_POS_MASK) == tag && peer_is(ts_at(s, slot_pos(v)), a)) return slot_pos(v);
    }
    return TS_NONE;
}

static void idx_put(uint32_t *idx, uint32_t mask, uint64_t h, uint32_t pos)
{
    uint32_t i = (uint32_t)h & mask;
    while (idx[i])
        i = (i + 1) & mask;
    idx[i] = slot_val(h, pos);
}

/* The slot that holds position pos, whose address hashes to h. */
static uint32_t idx_slot(const ts_swarm *s, uint64_t h, uint32_t pos)
{
    uint32_t v = slot_val(h, pos), i = (uint32_t)h & s->idx_mask;
    while (s->idx[i] != v)
        i = (i + 1) & s->idx_mask;
    return i;
}

static void idx_del(const sh_tstore *t, ts_swarm *s, uint32_t hole)
{
    uint32_t mask = s->idx_mask;
    for (uint32_t j = (hole + 1) & mask; s->idx[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)entry_hash(t, s, slot_pos(s->idx[j])) & mask;
        if (dist(home, j, mask) >= dist(hole, j, mask)) {
            s->idx[hole] = s->idx[j];
            hole = j;
        }
    }
    s->idx[hole] = 0;
}

/* Smallest power of two (at least MIN_INDEX) at most three quarters full with n. */
static uint32_t index_size(uint32_t n)
{
    uint64_t size = MIN_INDEX;
    while (size * 3 < (uint64_t)n * 4)
        size *= 2;
    return (uint32_t)size;
}

/* Rebuilds the index at size slots for the current entries. */
static int reindex(const sh_tstore *t, ts_swarm *s, uint32_t size)
{
    uint32_t *idx = calloc(size, sizeof *idx);
    if (!idx) return SH_ENOMEM;
    for (uint32_t i = 0; i < s->n; i++)
        idx_put(idx, size - 1, entry_hash(t, s, i), i);
    free(s->idx);
    s->idx = idx;
    s->idx_mask = size - 1;
    return 0;
}

/* ---- the arrays ---- */

void sh_ts_peers_free(ts_swarm *s)
{
    free(s->peers);
    free(s->ids);
    free(s->idx);
    s->peers = NULL;
    s->ids = NULL;
    s->idx = NULL;
}

/* Reallocates the entries (at stride) and ids to cap; positions keep. */
static int reshape(const sh_tstore *t, ts_swarm *s, uint32_t cap, uint32_t stride)
{
    uint8_t *peers;
    if (stride == s->stride) {
        peers = realloc(s->peers, (size_t)cap * stride);
        if (!peers) return SH_ENOMEM;
    } else { /* widen: each entry moves to its new offset, the tail zeroed */
        peers = calloc(cap, stride);
        if (!peers) return SH_ENOMEM;
        for (uint32_t i = 0; i < s->n; i++)
            memcpy(peers + (size_t)i * stride, s->peers + (size_t)i * s->stride, s->stride);
        free(s->peers);
    }
    s->peers = peers;
    s->stride = stride;
    if (!t->cfg.no_peer_ids) {
        uint8_t(*ids)[20] = realloc(s->ids, (size_t)cap * sizeof *ids);
        if (!ids) {
            /* keep the array consistent with the ids we still have */
            if (cap > s->cap) return SH_ENOMEM;
            ids = s->ids;
        }
        s->ids = ids;
    }
    s->cap = cap;
    return 0;
}

static int make_room(sh_tstore *t, ts_swarm *s, uint32_t stride)
{
    if (s->n == s->cap || stride != s->stride) {
        uint32_t cap = s->cap;
        if (s->n == s->cap) {
            cap = s->cap < MIN_PEERS ? MIN_PEERS : s->cap + s->cap / 4;
            if (cap > t->cfg.max_peers_swarm) cap = t->cfg.max_peers_swarm;
            if (cap <= s->n) return SH_ELIMIT;
        }
        int rc = reshape(t, s, cap, stride);
        if (rc) return rc;
    }
    uint32_t size = index_size(s->n + 1);
    if (!s->idx || size > s->idx_mask + 1) return reindex(t, s, size);
    return 0;
}

/* ---- classes ---- */

uint32_t sh_ts_region_start(const ts_swarm *s, int cls)
{
    uint32_t start = 0;
    for (int c = 0; c < cls; c++)
        start += s->cnt[c];
    return start;
}

int sh_ts_class_of(const ts_swarm *s, uint32_t pos)
{
    if (pos < s->cnt[CLS_SEED]) return CLS_SEED;
    return pos < s->cnt[CLS_SEED] + s->cnt[CLS_HOLDER] ? CLS_HOLDER : CLS_EMPTY;
}

static void swap_peers(const sh_tstore *t, ts_swarm *s, uint32_t a, uint32_t b)
{
    if (a == b) return;
    uint64_t ha = entry_hash(t, s, a), hb = entry_hash(t, s, b);
    uint32_t sa = idx_slot(s, ha, a), sb = idx_slot(s, hb, b);
    uint8_t tmp[TS_WIDE];
    memcpy(tmp, ts_at(s, a), s->stride);
    memcpy(ts_at(s, a), ts_at(s, b), s->stride);
    memcpy(ts_at(s, b), tmp, s->stride);
    if (s->ids) {
        memcpy(tmp, s->ids[a], 20);
        memcpy(s->ids[a], s->ids[b], 20);
        memcpy(s->ids[b], tmp, 20);
    }
    s->idx[sa] = slot_val(ha, b);
    s->idx[sb] = slot_val(hb, a);
}

uint32_t sh_ts_peer_set_class(sh_tstore *t, ts_swarm *s, uint32_t pos, int cls)
{
    int c = sh_ts_class_of(s, pos);
    if (c == cls) return pos;
    ts_peer *p = ts_at(s, pos);
    if (c == CLS_SEED) { /* its handouts count in window qwin, like qfull */
        if (p->handouts >= t->cfg.origin_handouts) s->qfull--;
        t->nseeds--;
    }
    if (cls == CLS_SEED) {
        p->handouts = 0; /* not handed out as a seed yet */
        t->nseeds++;
    }
    while (c > cls) { /* to the front: becomes the last of region c - 1 */
        uint32_t first = sh_ts_region_start(s, c);
        swap_peers(t, s, pos, first);
        pos = first;
        s->cnt[c]--;
        s->cnt[--c]++;
    }
    while (c < cls) { /* to the back: becomes the first of region c + 1 */
        uint32_t last = sh_ts_region_start(s, c) + s->cnt[c] - 1;
        swap_peers(t, s, pos, last);
        pos = last;
        s->cnt[c]--;
        s->cnt[++c]++;
    }
    return pos;
}

/* ---- joining and leaving ---- */

int sh_ts_peer_add(sh_tstore *t, ts_swarm *s, const sh_addr *a, uint32_t *pos)
{
    int rc = make_room(t, s, a->family == 6 ? TS_WIDE : s->stride);
    if (rc) return rc;
    uint32_t i = s->n;
    ts_peer *p = ts_at(s, i);
    memset(p, 0, s->stride);
    memcpy(p->ip, a->ip, 4);
    if (a->family == 6) {
        memcpy(ts_ip_rest(p), a->ip + 4, 12);
        p->flags = TS_F_V6;
    }
    p->port = a->port;
    if (s->ids) memset(s->ids[i], 0, 20);
    idx_put(s->idx, s->idx_mask, addr_hash(t, a), i);
    s->n++;
    s->cnt[CLS_EMPTY]++;
    t->npeers++;
    *pos = i;
    return 0;
}

void sh_ts_peer_del(sh_tstore *t, ts_swarm *s, uint32_t pos)
{
    pos = sh_ts_peer_set_class(t, s, pos, CLS_EMPTY);
    swap_peers(t, s, pos, s->n - 1);
    idx_del(t, s, idx_slot(s, entry_hash(t, s, s->n - 1), s->n - 1));
    s->n--;
    s->cnt[CLS_EMPTY]--;
    t->npeers--;
    /* give memory back after a crowd leaves; a failed shrink changes nothing */
    if (s->cap > 4 * MIN_PEERS && s->n < s->cap / 4) (void)reshape(t, s, s->cap / 2, s->stride);
    if (s->idx_mask + 1 > MIN_INDEX && s->n < (s->idx_mask + 1) / 8)
        (void)reindex(t, s, index_size(s->n));
}

size_t sh_ts_mem_bytes(const sh_tstore *t)
{
    size_t bytes = sizeof *t + (size_t)(t->tab_mask + 1) * sizeof *t->tab +
                   (size_t)(t->allow_mask + 1) * 21 + TS_FY_SLOTS * sizeof *t->fy;
    for (uint32_t i = 0; i <= t->tab_mask; i++) {
        const ts_swarm *s = t->tab[i];
        if (!s) continue;
        bytes += sizeof *s + (size_t)s->cap * s->stride;
        bytes += s->ids ? (size_t)s->cap * sizeof *s->ids : 0;
        bytes += s->idx ? (size_t)(s->idx_mask + 1) * sizeof *s->idx : 0;
    }
    return bytes;
}
