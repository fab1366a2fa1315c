/*
 * bitfield.h — a fixed-size set of piece indices, in BitTorrent's wire order
 * (bit 7 of byte 0 is piece 0), with a maintained population count.
 *
 * The spare bits past nbits are always zero, as peers require on the wire;
 * loading a wire bitfield with spare bits set is an error, not silently fixed.
 */
#ifndef SHOAL_BITFIELD_H
#define SHOAL_BITFIELD_H

#include <shoal/error.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sh_bitfield {
    uint8_t *bits;
    uint32_t nbits;
    uint32_t count;  /* number of set bits */
} sh_bitfield;

int sh_bitfield_init(sh_bitfield *bf, uint32_t nbits);  /* all clear */
void sh_bitfield_free(sh_bitfield *bf);
static inline size_t sh_bitfield_bytes(uint32_t nbits) { return ((size_t)nbits + 7) / 8; }

bool sh_bitfield_get(const sh_bitfield *bf, uint32_t i);   /* false if i out of range */
void sh_bitfield_set(sh_bitfield *bf, uint32_t i);         /* ignores out of range */
void sh_bitfield_clear(sh_bitfield *bf, uint32_t i);
void sh_bitfield_set_all(sh_bitfield *bf);
void sh_bitfield_clear_all(sh_bitfield *bf);
static inline bool sh_bitfield_full(const sh_bitfield *bf) { return bf->count == bf->nbits; }
static inline bool sh_bitfield_empty(const sh_bitfield *bf) { return bf->count == 0; }

/*
 * Replaces the content with a wire bitfield. len must be exactly
 * sh_bitfield_bytes(nbits) and spare bits must be zero: otherwise SH_EPROTO
 * and bf is unchanged.
 */
int sh_bitfield_load(sh_bitfield *bf, const uint8_t *wire, size_t len);

/* Index of the first set (or clear) bit at or after from; nbits if none. */
uint32_t sh_bitfield_next_set(const sh_bitfield *bf, uint32_t from);
uint32_t sh_bitfield_next_clear(const sh_bitfield *bf, uint32_t from);

/* True if a has some bit that b lacks (a & ~b != 0). Sizes must match. */
bool sh_bitfield_has_missing(const sh_bitfield *a, const sh_bitfield *b);

#endif
