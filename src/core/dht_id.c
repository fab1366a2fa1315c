/*
 * dht_id.c — arithmetic on 160-bit node ids and info-hashes (XOR metric),
 * and the keyed address hash the DHT's tables use.
 *
 * Bits are numbered from the most significant bit of byte 0, as in
 * Kademlia: sharing a longer prefix means being closer.
 */
#include "dht_int.h"

#include <string.h>

int dht_id_closer(const uint8_t a[20], const uint8_t b[20], const uint8_t target[20])
{
    for (int i = 0; i < 20; i++) {
        uint8_t da = a[i] ^ target[i], db = b[i] ^ target[i];
        if (da != db) return da < db ? -1 : 1;
    }
    return 0;
}

unsigned dht_id_prefix(const uint8_t a[20], const uint8_t b[20])
{
    for (unsigned i = 0; i < 20; i++) {
        unsigned x = a[i] ^ b[i];
        if (x) return i * 8 + (unsigned)__builtin_clz(x) - 24; /* clz of a 32-bit int */
    }
    return 160;
}

static bool bit_of(const uint8_t id[20], unsigned bit)
{
    return (id[bit / 8] >> (7 - bit % 8)) & 1;
}

static void set_bit(uint8_t id[20], unsigned bit, bool v)
{
    uint8_t m = (uint8_t)(0x80u >> (bit % 8));
    id[bit / 8] = v ? (uint8_t)(id[bit / 8] | m) : (uint8_t)(id[bit / 8] & ~m);
}

void dht_id_random(const uint8_t base[20], unsigned bits, bool exact, sh_rng *r, uint8_t out[20])
{
    uint64_t x = 0;
    for (int i = 0; i < 20; i++) {
        if (i % 8 == 0) x = sh_rng_next(r);
        out[i] = (uint8_t)(x >> (8 * (i % 8))); /* byte by byte: the same ids on every CPU */
    }
    if (bits > 160) bits = 160;
    for (unsigned b = 0; b < bits; b++)
        set_bit(out, b, bit_of(base, b));
    if (exact && bits < 160) set_bit(out, bits, !bit_of(base, bits));
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Each word goes through a keyed, non-linear mix, so colliding addresses depend on the key. */
uint64_t dht_addr_hash(const sh_addr *a, bool with_port, uint64_t key)
{
    uint64_t w[2] = {0, 0};
    for (int i = 0; i < (a->family == 4 ? 4 : 16); i++)
        w[i / 8] |= (uint64_t)a->ip[i] << (8 * (i % 8));
    uint64_t tail = (uint64_t)a->family << 32 | (with_port ? a->port : 0);
    uint64_t h = mix64(key ^ 0x9e3779b97f4a7c15ull);
    h = mix64(h ^ w[0]);
    h = mix64(h ^ w[1]);
    return mix64(h ^ tail);
}
