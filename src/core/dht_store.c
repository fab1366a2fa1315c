/*
 * dht_store.c — the peers other nodes announced to us (announce_peer), by
 * info-hash, each for DHT_STORE_TTL (30 minutes) after its last announce.
 *
 * Bounded: at most DHT_STORE_PER_HASH peers per info-hash and max_peers in
 * all; when full, new peers are refused (known ones are still refreshed) —
 * expiry makes room again. The index is an open-addressing table keyed by a
 * secret-keyed hash of the info-hash, so remote parties, who choose the
 * info-hashes, cannot aim collisions at one slot. A get_peers answer is a
 * uniform random sample of the live peers (reservoir sampling), so every
 * announcer gets its share of the askers.
 */
#include "dht_int.h"

#include <stdlib.h>
#include <string.h>

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t home(const dht_store *s, const uint8_t ih[20])
{
    uint64_t h = mix64(s->key ^ load64(ih));
    h = mix64(h ^ load64(ih + 8));
    h = mix64(h ^ load64(ih + 12)); /* overlaps: covers bytes 16..19 */
    return (uint32_t)h & (s->cap - 1);
}

void dht_store_init(dht_store *s, uint32_t max_peers, uint64_t key)
{
    memset(s, 0, sizeof *s);
    s->max_peers = max_peers;
    s->key = key;
}

void dht_store_free(dht_store *s)
{
    if (!s) return;
    for (uint32_t i = 0; i < s->cap; i++)
        free(s->slot[i].p);
    free(s->slot);
    memset(s, 0, sizeof *s);
}

static int64_t find(const dht_store *s, const uint8_t ih[20])
{
    if (!s->cap) return -1;
    for (uint32_t i = home(s, ih);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slot[i].n) return -1;
        if (memcmp(s->slot[i].ih, ih, 20) == 0) return i;
    }
}

/* Backward-shift deletion: keeps every probe chain unbroken without tombstones. */
static void del(dht_store *s, uint32_t i)
{
    s->peers -= s->slot[i].n;
    free(s->slot[i].p);
    memset(&s->slot[i], 0, sizeof s->slot[i]);
    s->used--;
    uint32_t mask = s->cap - 1;
    for (uint32_t j = (i + 1) & mask; s->slot[j].n; j = (j + 1) & mask) {
        uint32_t k = home(s, s->slot[j].ih);
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        s->slot[i] = s->slot[j];
        memset(&s->slot[j], 0, sizeof s->slot[j]);
        i = j;
    }
}

static int grow(dht_store *s)
{
    uint32_t ncap = s->cap ? s->cap * 2 : 16;
    dht_swarm *old = s->slot, *nv = calloc(ncap, sizeof *nv);
    if (!nv) return SH_ENOMEM;
    uint32_t ocap = s->cap;
    s->slot = nv;
    s->cap = ncap;
    for (uint32_t i = 0; i < ocap; i++) {
        if (!old[i].n) continue;
        uint32_t j = home(s, old[i].ih);
        while (s->slot[j].n)
            j = (j + 1) & (ncap - 1);
        s->slot[j] = old[i];
    }
    free(old);
    return 0;
}

/* Drops expired peers of one swarm; returns its remaining count. */
static uint32_t purge(dht_store *s, dht_swarm *w, sh_time now)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < w->n; i++)
        if (w->p[i].expires > now) w->p[k++] = w->p[i];
    s->peers -= w->n - k;
    w->n = k;
    return k;
}

static int append(dht_store *s, dht_swarm *w, const sh_addr *a, sh_time now)
{
    if (w->n == w->cap) {
        uint32_t ncap = w->cap ? w->cap * 2 : 4;
        if (ncap > DHT_STORE_PER_HASH) ncap = DHT_STORE_PER_HASH;
        dht_peer *np = realloc(w->p, ncap * sizeof *np);
        if (!np) return SH_ENOMEM;
        w->p = np;
        w->cap = ncap;
    }
    w->p[w->n].addr = *a;
    w->p[w->n].expires = now + DHT_STORE_TTL;
    w->n++;
    s->peers++;
    return 0;
}

static int add_new_swarm(dht_store *s, const uint8_t ih[20], const sh_addr *a, sh_time now)
{
    if ((s->used + 1) * 4 > s->cap * 3 && grow(s) < 0) return SH_ENOMEM;
    uint32_t i = home(s, ih);
    while (s->slot[i].n)
        i = (i + 1) & (s->cap - 1);
    dht_swarm w;
    memset(&w, 0, sizeof w);
    memcpy(w.ih, ih, 20);
    int rc = append(s, &w, a, now);
    if (rc < 0) return rc;
    s->slot[i] = w;
    s->used++;
    return 0;
}

int dht_store_add(dht_store *s, const uint8_t ih[20], const sh_addr *a, sh_time now)
{
    if (a->family != 4 && a->family != 6) return SH_EINVAL;
    int64_t i = find(s, ih);
    if (i < 0) return s->peers >= s->max_peers ? SH_ELIMIT : add_new_swarm(s, ih, a, now);
    dht_swarm *w = &s->slot[i];
    for (uint32_t k = 0; k < w->n; k++) {
        if (sh_addr_eq(&w->p[k].addr, a)) {
            w->p[k].expires = now + DHT_STORE_TTL;
            return 0;
        }
    }
    if (purge(s, w, now) == 0) { /* everything had expired: start the swarm afresh */
        del(s, (uint32_t)i);
        return s->peers >= s->max_peers ? SH_ELIMIT : add_new_swarm(s, ih, a, now);
    }
    if (w->n >= DHT_STORE_PER_HASH || s->peers >= s->max_peers) return SH_ELIMIT;
    return append(s, w, a, now);
}

uint32_t dht_store_get(dht_store *s, const uint8_t ih[20], int family, sh_time now, sh_rng *r,
                       sh_addr *out, uint32_t max)
{
    int64_t i = find(s, ih);
    if (i < 0 || max == 0) return 0;
    dht_swarm *w = &s->slot[i];
    if (purge(s, w, now) == 0) {
        del(s, (uint32_t)i);
        return 0;
    }
    uint32_t got = 0, seen = 0;
    for (uint32_t k = 0; k < w->n; k++) {
        if (w->p[k].addr.family != family) continue;
        seen++;
        if (got < max) {
            out[got++] = w->p[k].addr;
            continue;
        }
        uint64_t j = sh_rng_below(r, seen);
        if (j < max) out[j] = w->p[k].addr;
    }
    return got;
}

void dht_store_expire(dht_store *s, sh_time now)
{
    /* A deletion may shift a later entry into slot i: look at i again. Entries that wrap
     * around into already-visited slots are only purged twice, which is harmless. */
    for (uint32_t i = 0; i < s->cap;) {
        if (s->slot[i].n && purge(s, &s->slot[i], now) == 0) {
            del(s, i);
            continue;
        }
        i++;
    }
}
