/*
 * verify.h — does a piece's data match the torrent? SHA-1 against the v1
 * piece hash, the BEP 52 merkle subtree against the v2 piece layer (or the
 * file's pieces root for files no larger than a piece); a hybrid must pass
 * both. Padding inside a piece must be zeros.
 *
 * Pure and thread-safe (the metainfo is only read): the driver calls it from
 * hasher threads.
 */
#ifndef SHOAL_VERIFY_H
#define SHOAL_VERIFY_H

#include <shoal/metainfo.h>

/* 0 if the piece is good; SH_EHASH if not; SH_ERANGE for a bad index or a
 * len that is not the piece's size; SH_ENOTFOUND if a v2-only torrent's
 * layer for this piece is not known yet. */
int sh_piece_verify(const sh_metainfo *mi, uint32_t piece, const uint8_t *data, size_t len);

#endif
