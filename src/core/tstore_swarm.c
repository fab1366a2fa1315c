/*
 * tstore_swarm.c — the tracker store's tables: swarms by info hash, the
 * private-mode allow-list, and each swarm's dense peer array with its
 * address index and class regions (layout in tstore_int.h).
 *
 * Every table is open addressing with linear probing, sized to a power of
 * two at most half full, and hashed with SipHash under the store's key, so
 * a client choosing info hashes or ports cannot make probes long. Deletion
 * shifts later entries back instead of leaving tombstones, so a table that
 * sees heavy churn never degrades.
 */
#include "tstore_int.h"

#include <stdlib.h>
#include <string.h>

#define MIN_TABLE 16u
#define MIN_PEERS 8u

/* Smallest power of two >= 2 * n (at least MIN_TABLE), or 0 if too large. */
static uint32_t table_size(uint32_t n)
{
    uint64_t want = (uint64_t)n * 2, size = MIN_TABLE;
    while (size < want)
        size *= 2;
    return size > (1ull << 31) ? 0 : (uint32_t)size;
}

/* Cyclic distance from slot a forward to slot b. */
static uint32_t dist(uint32_t a, uint32_t b, uint32_t mask)
{
    return (b - a) & mask;
}

/* ---- swarms ---- */

static uint64_t ih_hash(const sh_tstore *t, const uint8_t ih[20])
{
    return sh_siphash(&t->key, ih, 20);
}

int sh_ts_tables_init(sh_tstore *t)
{
    t->tab_mask = MIN_TABLE - 1;
    t->tab = calloc(MIN_TABLE, sizeof *t->tab);
    t->allow_mask = MIN_TABLE - 1;
    t->allow = calloc(MIN_TABLE, sizeof *t->allow);
    t->allow_used = calloc(MIN_TABLE, 1);
    t->fy = calloc(TS_FY_SLOTS, sizeof *t->fy);
    return t->tab && t->allow && t->allow_used && t->fy ? 0 : SH_ENOMEM;
}

static void swarm_free(ts_swarm *s)
{
    if (!s) return;
    free(s->peers);
    free(s->idx);
    free(s);
}

void sh_ts_tables_free(sh_tstore *t)
{
    for (uint32_t i = 0; t->tab && i <= t->tab_mask; i++)
        swarm_free(t->tab[i]);
    free(t->tab);
    free(t->allow);
    free(t->allow_used);
    free(t->fy);
}

ts_swarm *sh_ts_swarm_find(const sh_tstore *t, const uint8_t ih[20], uint32_t *slot)
{
    uint64_t h = ih_hash(t, ih);
    for (uint32_t i = (uint32_t)h & t->tab_mask;; i = (i + 1) & t->tab_mask) {
        ts_swarm *s = t->tab[i];
        if (!s) return NULL;
        if (s->hash == h && memcmp(s->info_hash, ih, 20) == 0) {
            if (slot) *slot = i;
            return s;
        }
    }
}

static void tab_put(ts_swarm **tab, uint32_t mask, ts_swarm *s)
{
    uint32_t i = (uint32_t)s->hash & mask;
    while (tab[i])
        i = (i + 1) & mask;
    tab[i] = s;
}

static int tab_grow(sh_tstore *t)
{
    uint32_t size = table_size(t->nswarms + 1);
    if (size == 0) return SH_ENOMEM;
    if (size <= t->tab_mask + 1) return 0;
    ts_swarm **nt = calloc(size, sizeof *nt);
    if (!nt) return SH_ENOMEM;
    for (uint32_t i = 0; i <= t->tab_mask; i++)
        if (t->tab[i]) tab_put(nt, size - 1, t->tab[i]);
    free(t->tab);
    t->tab = nt;
    t->tab_mask = size - 1;
    t->exp_pos = 0; /* the expiry cursor now names another slot: start that swarm afresh */
    return 0;
}

int sh_ts_swarm_add(sh_tstore *t, const uint8_t ih[20], ts_swarm **out)
{
    int rc = tab_grow(t);
    if (rc) return rc;
    ts_swarm *s = calloc(1, sizeof *s);
    if (!s) return SH_ENOMEM;
    memcpy(s->info_hash, ih, 20);
    s->hash = ih_hash(t, ih);
    tab_put(t->tab, t->tab_mask, s);
    t->nswarms++;
    *out = s;
    return 0;
}

void sh_ts_swarm_del(sh_tstore *t, uint32_t slot)
{
    ts_swarm *s = t->tab[slot];
    t->npeers -= s->n;
    t->nseeds -= s->cnt[CLS_SEED];
    swarm_free(s);
    t->nswarms--;
    uint32_t mask = t->tab_mask, hole = slot;
    for (uint32_t j = (hole + 1) & mask; t->tab[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)t->tab[j]->hash & mask;
        if (dist(home, j, mask) >= dist(hole, j, mask)) {
            t->tab[hole] = t->tab[j];
            hole = j;
        }
    }
    t->tab[hole] = NULL;
}

/* ---- the allow-list ---- */

static uint32_t allow_slot(const sh_tstore *t, const uint8_t ih[20])
{
    uint32_t i = (uint32_t)ih_hash(t, ih) & t->allow_mask;
    while (t->allow_used[i] && memcmp(t->allow[i], ih, 20) != 0)
        i = (i + 1) & t->allow_mask;
    return i;
}

bool sh_ts_allowed(const sh_tstore *t, const uint8_t ih[20])
{
    return t->allow_used[allow_slot(t, ih)];
}

static int allow_grow(sh_tstore *t)
{
    uint32_t size = table_size(t->nallow + 1);
    if (size == 0) return SH_ELIMIT;
    if (size <= t->allow_mask + 1) return 0;
    uint8_t(*keys)[20] = calloc(size, sizeof *keys);
    uint8_t *used = calloc(size, 1);
    if (!keys || !used) {
        free(keys);
        free(used);
        return SH_ENOMEM;
    }
    uint8_t(*old)[20] = t->allow;
    uint8_t *old_used = t->allow_used;
    uint32_t old_size = t->allow_mask + 1;
    t->allow = keys;
    t->allow_used = used;
    t->allow_mask = size - 1;
    for (uint32_t i = 0; i < old_size; i++) {
        if (!old_used[i]) continue;
        uint32_t j = allow_slot(t, old[i]);
        memcpy(t->allow[j], old[i], 20);
        t->allow_used[j] = 1;
    }
    free(old);
    free(old_used);
    return 0;
}

int sh_ts_allow_add(sh_tstore *t, const uint8_t ih[20])
{
    if (sh_ts_allowed(t, ih)) return 0;
    int rc = allow_grow(t);
    if (rc) return rc;
    uint32_t i = allow_slot(t, ih);
    memcpy(t->allow[i], ih, 20);
    t->allow_used[i] = 1;
    t->nallow++;
    return 0;
}

/* ---- peers: the address index ---- */

static uint32_t addr_hash(const sh_tstore *t, const sh_addr *a)
{
    uint8_t k[19] = {a->family};
    memcpy(k + 1, a->ip, a->family == 4 ? 4 : 16);
    k[17] = (uint8_t)(a->port >> 8);
    k[18] = (uint8_t)a->port;
    return (uint32_t)sh_siphash(&t->key, k, sizeof k);
}

static bool peer_is(const ts_peer *p, const sh_addr *a)
{
    return p->family == a->family && p->port == a->port &&
           memcmp(p->ip, a->ip, a->family == 4 ? 4 : 16) == 0;
}

uint32_t sh_ts_peer_find(const sh_tstore *t, const ts_swarm *s, const sh_addr *a)
{
    if (!s->idx) return TS_NONE;
    uint32_t h = addr_hash(t, a);
    for (uint32_t i = h & s->idx_mask; s->idx[i]; i = (i + 1) & s->idx_mask) {
        const ts_peer *p = &s->peers[s->idx[i] - 1];
        if (p->hash == h && peer_is(p, a)) return s->idx[i] - 1;
    }
    return TS_NONE;
}

static void idx_put(uint32_t *idx, uint32_t mask, uint32_t hash, uint32_t pos)
{
    uint32_t i = hash & mask;
    while (idx[i])
        i = (i + 1) & mask;
    idx[i] = pos + 1;
}

/* The index slot that holds position pos (which must be indexed). */
static uint32_t idx_slot(const ts_swarm *s, uint32_t pos)
{
    uint32_t i = s->peers[pos].hash & s->idx_mask;
    while (s->idx[i] != pos + 1)
        i = (i + 1) & s->idx_mask;
    return i;
}

static void idx_del(ts_swarm *s, uint32_t hole)
{
    uint32_t mask = s->idx_mask;
    for (uint32_t j = (hole + 1) & mask; s->idx[j]; j = (j + 1) & mask) {
        uint32_t home = s->peers[s->idx[j] - 1].hash & mask;
        if (dist(home, j, mask) >= dist(hole, j, mask)) {
            s->idx[hole] = s->idx[j];
            hole = j;
        }
    }
    s->idx[hole] = 0;
}

/* Reallocates the array to cap entries and rebuilds the index for it. */
static int resize(ts_swarm *s, uint32_t cap)
{
    uint32_t size = table_size(cap);
    uint32_t *idx = size ? calloc(size, sizeof *idx) : NULL;
    if (!idx) return SH_ENOMEM;
    ts_peer *peers = realloc(s->peers, (size_t)cap * sizeof *peers);
    if (!peers) {
        free(idx);
        return SH_ENOMEM;
    }
    for (uint32_t i = 0; i < s->n; i++)
        idx_put(idx, size - 1, peers[i].hash, i);
    free(s->idx);
    s->peers = peers;
    s->cap = cap;
    s->idx = idx;
    s->idx_mask = size - 1;
    return 0;
}

/* ---- peers: classes ---- */

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

static void swap_peers(ts_swarm *s, uint32_t a, uint32_t b)
{
    if (a == b) return;
    uint32_t sa = idx_slot(s, a), sb = idx_slot(s, b);
    ts_peer tmp = s->peers[a];
    s->peers[a] = s->peers[b];
    s->peers[b] = tmp;
    s->idx[sa] = b + 1;
    s->idx[sb] = a + 1;
}

uint32_t sh_ts_peer_set_class(sh_tstore *t, ts_swarm *s, uint32_t pos, int cls)
{
    int c = sh_ts_class_of(s, pos);
    const ts_peer *p = &s->peers[pos];
    if (c == CLS_SEED && cls != CLS_SEED && p->hwin == s->qwin &&
        p->handouts >= t->cfg.origin_handouts)
        s->qfull--; /* keeps qfull = seeds at quota in window qwin */
    if (c == CLS_SEED && cls != CLS_SEED) t->nseeds--;
    if (c != CLS_SEED && cls == CLS_SEED) t->nseeds++;
    while (c > cls) { /* to the front: becomes the last of region c - 1 */
        uint32_t first = sh_ts_region_start(s, c);
        swap_peers(s, pos, first);
        pos = first;
        s->cnt[c]--;
        s->cnt[--c]++;
    }
    while (c < cls) { /* to the back: becomes the first of region c + 1 */
        uint32_t last = sh_ts_region_start(s, c) + s->cnt[c] - 1;
        swap_peers(s, pos, last);
        pos = last;
        s->cnt[c]--;
        s->cnt[++c]++;
    }
    return pos;
}

int sh_ts_peer_add(sh_tstore *t, ts_swarm *s, const sh_addr *a, uint32_t *pos)
{
    if (s->n == s->cap) {
        uint32_t cap = s->cap < MIN_PEERS ? MIN_PEERS : s->cap * 2;
        if (cap > t->cfg.max_peers_swarm) cap = t->cfg.max_peers_swarm;
        if (cap <= s->n) return SH_ELIMIT;
        int rc = resize(s, cap);
        if (rc) return rc;
    }
    uint32_t i = s->n;
    ts_peer *p = &s->peers[i];
    memset(p, 0, sizeof *p);
    memcpy(p->ip, a->ip, a->family == 4 ? 4 : 16);
    p->port = a->port;
    p->family = a->family;
    p->hash = addr_hash(t, a);
    idx_put(s->idx, s->idx_mask, p->hash, i);
    s->n++;
    s->cnt[CLS_EMPTY]++;
    t->npeers++;
    *pos = i;
    return 0;
}

void sh_ts_peer_del(sh_tstore *t, ts_swarm *s, uint32_t pos)
{
    pos = sh_ts_peer_set_class(t, s, pos, CLS_EMPTY);
    swap_peers(s, pos, s->n - 1);
    idx_del(s, idx_slot(s, s->n - 1));
    s->n--;
    s->cnt[CLS_EMPTY]--;
    t->npeers--;
    /* give memory back after a crowd leaves; a failed shrink changes nothing */
    if (s->cap > 4 * MIN_PEERS && s->n < s->cap / 4) (void)resize(s, s->cap / 2);
}

size_t sh_ts_mem_bytes(const sh_tstore *t)
{
    size_t bytes = sizeof *t + (size_t)(t->tab_mask + 1) * sizeof *t->tab +
                   (size_t)(t->allow_mask + 1) * 21 + TS_FY_SLOTS * sizeof *t->fy;
    for (uint32_t i = 0; i <= t->tab_mask; i++) {
        const ts_swarm *s = t->tab[i];
        if (!s) continue;
        bytes += sizeof *s + (size_t)s->cap * sizeof *s->peers;
        bytes += s->idx ? (size_t)(s->idx_mask + 1) * sizeof *s->idx : 0;
    }
    return bytes;
}
