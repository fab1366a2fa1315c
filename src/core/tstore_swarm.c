/*
 * tstore_swarm.c — the tracker store's tables: swarms by info hash and the
 * private-mode allow-list (each swarm's peers: tstore_peers.c).
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

uint32_t sh_ts_table_size(uint32_t n)
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
    sh_ts_peers_free(s);
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
    uint32_t size = sh_ts_table_size(t->nswarms + 1);
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
    s->stride = TS_NARROW;
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
    uint32_t size = sh_ts_table_size(t->nallow + 1);
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
