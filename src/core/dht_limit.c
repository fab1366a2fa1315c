/*
 * dht_limit.c — the per-source-IP rate limit of incoming queries.
 *
 * Each IP gets a token bucket of `rate` queries per second with a burst of
 * `rate`, kept as one timestamp (the generic cell rate algorithm: tat is the
 * time at which the bucket would be full again). The table is
 * set-associative, 4 ways per set, least recently used way evicted; it
 * starts tiny and doubles (up to LIMIT_MAX_SETS sets) whenever an eviction
 * would throw out an IP that is still being limited, so a quiet node costs
 * almost nothing and a busy one remembers every active source it can. A
 * forgotten IP starts again with a full bucket: the limit protects the node
 * from floods, it is not an accounting system.
 */
#include "dht_int.h"

#include <stdlib.h>
#include <string.h>

#define LIMIT_WAYS 4u
#define LIMIT_MIN_SETS 4u
#define LIMIT_MAX_SETS 1024u

int dht_limit_init(dht_limiter *l, uint32_t rate, uint64_t key)
{
    memset(l, 0, sizeof *l);
    l->rate = rate ? rate : 1;
    l->key = key;
    l->sets = LIMIT_MIN_SETS;
    l->e = calloc(LIMIT_MIN_SETS * LIMIT_WAYS, sizeof *l->e);
    return l->e ? 0 : SH_ENOMEM;
}

void dht_limit_free(dht_limiter *l)
{
    if (!l) return;
    free(l->e);
    memset(l, 0, sizeof *l);
}

static bool same_ip(const dht_limit_ent *e, const sh_addr *a)
{
    return e->family == a->family && memcmp(e->ip, a->ip, a->family == 4 ? 4 : 16) == 0;
}

static dht_limit_ent *set_of(const dht_limiter *l, const sh_addr *a)
{
    uint64_t h = dht_addr_hash(a, false, l->key);
    return &l->e[(h & (l->sets - 1)) * LIMIT_WAYS];
}

static void grow(dht_limiter *l)
{
    uint32_t nsets = l->sets * 2;
    dht_limit_ent *nv = calloc((size_t)nsets * LIMIT_WAYS, sizeof *nv);
    if (!nv) return; /* keep evicting instead */
    dht_limit_ent *old = l->e;
    uint32_t osets = l->sets;
    l->e = nv;
    l->sets = nsets;
    for (uint32_t i = 0; i < osets * LIMIT_WAYS; i++) {
        if (!old[i].family) continue;
        sh_addr a = {.family = old[i].family};
        memcpy(a.ip, old[i].ip, 16);
        dht_limit_ent *set = set_of(l, &a);
        for (uint32_t w = 0; w < LIMIT_WAYS; w++) {
            if (!set[w].family) { /* an old set splits in two: never more than 4 land here */
                set[w] = old[i];
                break;
            }
        }
    }
    free(old);
}

static dht_limit_ent *lookup(dht_limiter *l, const sh_addr *a, sh_time now)
{
    for (;;) {
        dht_limit_ent *set = set_of(l, a), *victim = NULL;
        for (uint32_t w = 0; w < LIMIT_WAYS; w++) {
            if (set[w].family && same_ip(&set[w], a)) return &set[w];
            if (!set[w].family) {
                if (!victim || victim->family) victim = &set[w];
            } else if (!victim || (victim->family && set[w].used < victim->used)) {
                victim = &set[w];
            }
        }
        bool busy = victim->family && victim->tat > now; /* still being limited */
        if (busy && l->sets < LIMIT_MAX_SETS) {
            uint32_t before = l->sets;
            grow(l);
            if (l->sets != before) continue;
        }
        memset(victim, 0, sizeof *victim);
        victim->family = a->family;
        memcpy(victim->ip, a->ip, a->family == 4 ? 4 : 16);
        victim->tat = now;
        return victim;
    }
}

bool dht_limit_allow(dht_limiter *l, const sh_addr *a, sh_time now)
{
    dht_limit_ent *e = lookup(l, a, now);
    e->used = now;
    sh_time interval = SH_SEC(1) / l->rate;
    sh_time burst = SH_SEC(1) - interval; /* `rate` queries may arrive at once */
    sh_time tat = e->tat > now ? e->tat : now;
    if (tat - now > burst) return false;
    e->tat = tat + interval;
    return true;
}
