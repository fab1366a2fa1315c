/* siphash.c — SipHash-2-4 (Aumasson & Bernstein, 2012), written from the paper.
 *
 * Written for speed as well as clarity: every announce hashes an info hash,
 * an address, a peer id and (UDP) two connection ids, so the rounds are a
 * macro on locals and whole words are loaded at once. */
#include "siphash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13) ^ v0;                                                                    \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16) ^ v2;                                                                    \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21) ^ v0;                                                                    \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17) ^ v2;                                                                    \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

/* Eight bytes as a little-endian number, whatever the host's order. */
static inline uint64_t load8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* The last n < 8 bytes, little-endian. */
static inline uint64_t load_tail(const uint8_t *p, size_t n)
{
    uint8_t b[8] = {0};
    memcpy(b, p, n);
    return load8(b);
}

uint64_t sh_siphash(const sh_sipkey *k, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t v0 = k->k0 ^ 0x736f6d6570736575ull, v1 = k->k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k->k0 ^ 0x6c7967656e657261ull, v3 = k->k1 ^ 0x7465646279746573ull;
    size_t full = n - n % 8;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = load8(p + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t m = load_tail(p + full, n % 8) | (uint64_t)(n & 0xff) << 56;
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}
