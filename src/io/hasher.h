/*
 * hasher.h — piece hashing off the loop thread.
 *
 * Worker threads verify pieces (sh_piece_verify: SHA-1 and/or merkle with
 * SHA-NI via OpenSSL) and, for downloaded pieces, store them; the result
 * comes back on the loop thread through sh_loop_post. One worker keeps up
 * with roughly 1.5 GB/s of SHA-1 on this class of CPU.
 *
 * The hasher never touches the swarm; it reports (piece, result) and the
 * driver tells the swarm.
 */
#ifndef SHOAL_IO_HASHER_H
#define SHOAL_IO_HASHER_H

#include <shoal/metainfo.h>
#include "io/loop.h"
#include "io/storage.h"

typedef struct sh_hasher sh_hasher;

/* result: 0 good (and stored, for write jobs), SH_EHASH bad data, SH_EIO
 * storage failed, SH_ENOTFOUND v2 layer unknown. Runs on the loop thread. */
typedef void (*sh_hash_done_fn)(void *ud, uint32_t piece, int result);

int sh_hasher_new(sh_loop *loop, const sh_metainfo *mi, sh_storage *st, unsigned threads,
                  sh_hash_done_fn done, void *ud, sh_hasher **out);
/* Joins the workers; jobs not yet started are dropped without a callback. */
void sh_hasher_free(sh_hasher *h);

/* Verify data (len = piece size, borrowed until the callback) and, if good, write it. */
int sh_hasher_submit_write(sh_hasher *h, uint32_t piece, const uint8_t *data, uint32_t len);
/* Read the piece from storage and verify it (startup check, resume). */
int sh_hasher_submit_check(sh_hasher *h, uint32_t piece);
/* Jobs submitted and not yet reported. */
unsigned sh_hasher_pending(const sh_hasher *h);

#endif
