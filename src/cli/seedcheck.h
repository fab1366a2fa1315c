/*
 * seedcheck.h — which pieces of a torrent the data at PATH fails to supply.
 *
 * Used by `shoal seed` only when the data does not match (the peer driver's
 * own startup check found bad pieces, or could not open the files), to say
 * precisely what is wrong: how many pieces, which ones first, and the first
 * file that is missing or has the wrong size. It reads PATH directly with
 * pread and verifies with sh_piece_verify; it never writes, and a missing or
 * unreadable file only makes its pieces count as missing.
 */
#ifndef SHOAL_CLI_SEEDCHECK_H
#define SHOAL_CLI_SEEDCHECK_H

#include <shoal/metainfo.h>

#define SEEDCHECK_FIRST 3

typedef struct seedcheck_result {
    uint32_t bad;                    /* pieces missing or wrong */
    uint32_t first[SEEDCHECK_FIRST]; /* the lowest bad indices */
    uint32_t nfirst;
    char file_problem[600]; /* first missing/wrong-size file, or "" */
} seedcheck_result;

/* path: the file (single-file torrent) or directory the torrent describes.
 * 0, or SH_ENOMEM. */
int seedcheck_run(const sh_metainfo *mi, const char *path, seedcheck_result *r);

/* "3 of 512 pieces missing or wrong (first: 0, 17, 42)" into buf. */
void seedcheck_summary(const sh_metainfo *mi, const seedcheck_result *r, char *buf, size_t len);

#endif
