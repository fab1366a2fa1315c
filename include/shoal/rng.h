/*
 * rng.h — a small deterministic random generator (xoshiro256**, seeded
 * through splitmix64). The core never reads entropy: its creator passes a
 * seed, so a simulator run is reproducible and a test can pin behaviour.
 * Not for cryptography (peer ids and tokens get driver-supplied entropy).
 */
#ifndef SHOAL_RNG_H
#define SHOAL_RNG_H

#include <stdint.h>

typedef struct sh_rng {
    uint64_t s[4];
} sh_rng;

void sh_rng_seed(sh_rng *r, uint64_t seed);
uint64_t sh_rng_next(sh_rng *r);
/* Uniform in [0, n); n == 0 gives 0. Unbiased (rejection). */
uint64_t sh_rng_below(sh_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double sh_rng_unit(sh_rng *r);

#endif
