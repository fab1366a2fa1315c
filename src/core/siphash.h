/*
 * siphash.h — SipHash-2-4, a keyed hash for the core's hash tables. Not a
 * public API.
 *
 * Tables keyed by network-supplied bytes (info hashes, peer addresses) hash
 * them with a key the attacker does not know, so nobody can pick inputs that
 * all land in one bucket and turn lookups into linear scans. Deterministic
 * for a given key, so a seeded run stays reproducible.
 */
#ifndef SHOAL_SIPHASH_H
#define SHOAL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct sh_sipkey {
    uint64_t k0, k1;
} sh_sipkey;

/* SipHash-2-4 of p[0..n) under key k (the reference algorithm, 64-bit output). */
uint64_t sh_siphash(const sh_sipkey *k, const void *p, size_t n);

#endif
