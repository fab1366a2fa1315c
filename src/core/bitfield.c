/*
 * bitfield.c — piece sets in wire order with a maintained population count.
 *
 * Scans read eight bytes at a time as a big-endian word, so piece order
 * equals bit order from the most significant bit and the first hit is a
 * count of leading zeros. Loads go through memcpy, so the buffer needs no
 * alignment or padding and any caller-sized buffer of the right length works.
 */
#include <shoal/bitfield.h>

#include <stdlib.h>
#include <string.h>

/* Up to 8 bytes from p as a big-endian word; missing low bytes are zero. */
static uint64_t load_be(const uint8_t *p, size_t n)
{
    uint8_t b[8] = {0};
    memcpy(b, p, n);
    uint64_t w;
    memcpy(&w, b, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* SWAR popcount: __builtin_popcountll becomes a libgcc call (__popcountdi2)
 * without -mpopcnt, and the core may import nothing but the allow-list. */
static uint32_t popcount64(uint64_t w)
{
    w = w - ((w >> 1) & 0x5555555555555555ull);
    w = (w & 0x3333333333333333ull) + ((w >> 2) & 0x3333333333333333ull);
    w = (w + (w >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (uint32_t)((w * 0x0101010101010101ull) >> 56);
}

static uint32_t popcount_bytes(const uint8_t *p, size_t n)
{
    uint32_t c = 0;
    for (size_t i = 0; i < n; i += 8) {
        size_t k = n - i < 8 ? n - i : 8;
        c += popcount64(load_be(p + i, k));
    }
    return c;
}

/* Mask of the valid bits of the last byte (0xff when nbits is a multiple of 8). */
static uint8_t last_byte_mask(uint32_t nbits)
{
    unsigned r = nbits % 8;
    return r == 0 ? 0xff : (uint8_t)(0xff << (8 - r));
}

int sh_bitfield_init(sh_bitfield *bf, uint32_t nbits)
{
    size_t n = sh_bitfield_bytes(nbits);
    uint8_t *bits = calloc(n > 0 ? n : 1, 1);
    if (bits == NULL) return SH_ENOMEM;
    bf->bits = bits;
    bf->nbits = nbits;
    bf->count = 0;
    return 0;
}

void sh_bitfield_free(sh_bitfield *bf)
{
    if (bf == NULL) return;
    free(bf->bits);
    bf->bits = NULL;
    bf->nbits = 0;
    bf->count = 0;
}

bool sh_bitfield_get(const sh_bitfield *bf, uint32_t i)
{
    if (i >= bf->nbits) return false;
    return (bf->bits[i / 8] >> (7 - i % 8)) & 1;
}

void sh_bitfield_set(sh_bitfield *bf, uint32_t i)
{
    if (i >= bf->nbits) return;
    uint8_t m = (uint8_t)(0x80 >> (i % 8));
    if (bf->bits[i / 8] & m) return;
    bf->bits[i / 8] |= m;
    bf->count++;
}

void sh_bitfield_clear(sh_bitfield *bf, uint32_t i)
{
    if (i >= bf->nbits) return;
    uint8_t m = (uint8_t)(0x80 >> (i % 8));
    if (!(bf->bits[i / 8] & m)) return;
    bf->bits[i / 8] &= (uint8_t)~m;
    bf->count--;
}

void sh_bitfield_set_all(sh_bitfield *bf)
{
    size_t n = sh_bitfield_bytes(bf->nbits);
    if (n == 0) return;
    memset(bf->bits, 0xff, n);
    bf->bits[n - 1] = last_byte_mask(bf->nbits); /* spare bits stay zero */
    bf->count = bf->nbits;
}

void sh_bitfield_clear_all(sh_bitfield *bf)
{
    size_t n = sh_bitfield_bytes(bf->nbits);
    if (n > 0) memset(bf->bits, 0, n);
    bf->count = 0;
}

int sh_bitfield_load(sh_bitfield *bf, const uint8_t *wire, size_t len)
{
    size_t n = sh_bitfield_bytes(bf->nbits);
    if (len != n) return SH_EPROTO;
    if (n == 0) return 0;
    if (wire[n - 1] & (uint8_t)~last_byte_mask(bf->nbits)) return SH_EPROTO;
    memcpy(bf->bits, wire, n);
    bf->count = popcount_bytes(bf->bits, n);
    return 0;
}

/*
 * First bit at or after from that is set in (bits XOR invert). With invert
 * all ones this finds clear bits; spare bits and the zero fill past the end
 * then read as set, but they lie at or beyond nbits and are clamped away.
 */
static uint32_t scan(const sh_bitfield *bf, uint32_t from, uint64_t invert)
{
    if (from >= bf->nbits) return bf->nbits;
    size_t nbytes = sh_bitfield_bytes(bf->nbits);
    size_t byte = from / 8;
    uint64_t first_mask = ~0ull >> (from % 8);
    while (byte < nbytes) {
        size_t k = nbytes - byte < 8 ? nbytes - byte : 8;
        uint64_t w = (load_be(bf->bits + byte, k) ^ invert) & first_mask;
        if (w != 0) {
            uint64_t idx = (uint64_t)byte * 8 + (uint64_t)__builtin_clzll(w);
            return idx < bf->nbits ? (uint32_t)idx : bf->nbits;
        }
        first_mask = ~0ull;
        byte += 8;
    }
    return bf->nbits;
}

uint32_t sh_bitfield_next_set(const sh_bitfield *bf, uint32_t from)
{
    if (bf->count == 0) return bf->nbits;
    return scan(bf, from, 0);
}

uint32_t sh_bitfield_next_clear(const sh_bitfield *bf, uint32_t from)
{
    if (bf->count == bf->nbits) return bf->nbits;
    return scan(bf, from, ~0ull);
}

/* Mismatched sizes are a caller's mistake; answer "nothing missing" rather than read past b. */
bool sh_bitfield_has_missing(const sh_bitfield *a, const sh_bitfield *b)
{
    if (a->nbits != b->nbits || a->count == 0 || b->count == b->nbits) return false;
    size_t n = sh_bitfield_bytes(a->nbits);
    for (size_t i = 0; i < n; i += 8) {
        size_t k = n - i < 8 ? n - i : 8;
        if (load_be(a->bits + i, k) & ~load_be(b->bits + i, k)) return true;
    }
    return false;
}
