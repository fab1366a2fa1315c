/*
 * sha.h — SHA-1 and SHA-256, one-shot and incremental, backed by OpenSSL's
 * libcrypto (which uses SHA-NI / AVX2 where the CPU has them).
 *
 * Pure computation: no I/O, no global state of ours. The core uses it for
 * info-hashes and merkle nodes; the driver uses it for bulk piece hashing.
 */
#ifndef SHOAL_SHA_H
#define SHOAL_SHA_H

#include <stddef.h>
#include <stdint.h>

#define SH_SHA1_LEN 20
#define SH_SHA256_LEN 32

void sh_sha1(const void *data, size_t len, uint8_t out[SH_SHA1_LEN]);
void sh_sha256(const void *data, size_t len, uint8_t out[SH_SHA256_LEN]);
/*
 * SHA-256(a || b) of two 32-byte nodes: the merkle interior node. Like every
 * one-shot call it makes OpenSSL look the algorithm up (~0.3 us, more than
 * the hashing itself); loops over many nodes reuse one sh_sha256_new context.
 */
void sh_sha256_pair(const uint8_t a[32], const uint8_t b[32], uint8_t out[32]);

/* Incremental. Contexts are opaque and heap-allocated; new returns NULL on OOM. */
typedef struct sh_sha sh_sha;
sh_sha *sh_sha1_new(void);
sh_sha *sh_sha256_new(void);
void sh_sha_update(sh_sha *c, const void *data, size_t len);
/* Writes the digest (20 or 32 bytes) and resets the context for reuse. */
void sh_sha_final(sh_sha *c, uint8_t *out);
void sh_sha_free(sh_sha *c);

#endif
