/*
 * floodgate.c — the per-address GCRA table. Keys are 16-byte IPs (IPv4 in
 * the first four bytes, IPv6 cut to its /64) plus the family.
 */
#include "io/floodgate.h"

#include <shoal/error.h>

#include <stdlib.h>
#include <string.h>

#define WAYS 8u
#define NS_PER_S 1000000000ull

typedef struct fg_entry {
    uint8_t ip[16];
    uint8_t family; /* 0: empty */
    sh_time tat;    /* theoretical arrival time of the next request */
} fg_entry;

struct sh_floodgate {
    sh_time period; /* ns per request */
    sh_time slack;  /* (burst - 1) × period: how far tat may run ahead of now */
    uint32_t sets;  /* a power of two */
    uint64_t k0, k1;
    uint64_t refused;
    fg_entry *e; /* sets × WAYS */
};

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* A keyed 64-bit mix (not cryptographic; a collision only shares a bucket
 * set, and the key is never shown to clients). */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_key(const sh_floodgate *f, const uint8_t ip[16], uint8_t family)
{
    uint64_t h = mix(f->k0 ^ load64(ip) ^ family);
    return mix(h ^ f->k1 ^ load64(ip + 8));
}

int sh_floodgate_new(uint32_t rate, uint32_t burst, uint32_t slots, const uint8_t key[16],
                     sh_floodgate **out)
{
    if (slots > (1u << 24)) return SH_EINVAL;
    if (!slots) slots = 65536;
    uint32_t sets = 1;
    while (sets * WAYS < slots)
        sets <<= 1;
    sh_floodgate *f = calloc(1, sizeof *f);
    if (!f) return SH_ENOMEM;
    f->e = calloc((size_t)sets * WAYS, sizeof *f->e);
    if (!f->e) {
        free(f);
        return SH_ENOMEM;
    }
    f->sets = sets;
    f->k0 = load64(key);
    f->k1 = load64(key + 8);
    if (rate) {
        if (!burst) burst = rate > UINT32_MAX / 2 ? UINT32_MAX : rate * 2;
        f->period = NS_PER_S / rate;
        if (!f->period) f->period = 1;
        f->slack = (sh_time)(burst - 1) * f->period;
    }
    *out = f;
    return 0;
}

void sh_floodgate_free(sh_floodgate *f)
{
    if (!f) return;
    free(f->e);
    free(f);
}

uint64_t sh_floodgate_refused(const sh_floodgate *f)
{
    return f->refused;
}

static void make_key(const sh_addr *a, uint8_t ip[16], uint8_t *family)
{
    memset(ip, 0, 16);
    if (a->family == 6) {
        memcpy(ip, a->ip, 8); /* the /64 */
        *family = 6;
    } else {
        memcpy(ip, a->ip, 4);
        *family = 4;
    }
}

/* The entry for the key, or a victim way (emptied, keyed) to reuse. */
static fg_entry *lookup(sh_floodgate *f, const uint8_t ip[16], uint8_t family, sh_time now)
{
    fg_entry *set = f->e + (size_t)(hash_key(f, ip, family) & (f->sets - 1)) * WAYS;
    fg_entry *victim = set;
    for (unsigned i = 0; i < WAYS; i++) {
        fg_entry *x = set + i;
        if (x->family == family && !memcmp(x->ip, ip, 16)) return x;
        if (!x->family) {
            if (victim->family) victim = x;
        } else if (victim->family && x->tat < victim->tat) {
            victim = x;
        }
    }
    memcpy(victim->ip, ip, 16);
    victim->family = family;
    victim->tat = now; /* a full bucket */
    return victim;
}

bool sh_floodgate_admit(sh_floodgate *f, const sh_addr *a, sh_time now)
{
    if (!f->period) return true;
    uint8_t ip[16], family;
    make_key(a, ip, &family);
    fg_entry *x = lookup(f, ip, family, now);
    sh_time tat = x->tat > now ? x->tat : now;
    if (tat - now > f->slack) {
        f->refused++;
        return false;
    }
    x->tat = tat + f->period;
    return true;
}
