/*
 * mkinfo.h — building a .torrent: v1, v2 or hybrid (the default).
 *
 * The builder is pure: the caller lists the files, asks the builder for the
 * order in which to feed their bytes (v2 requires files sorted by path),
 * streams each file's data, and receives the encoded torrent. It never opens
 * a file or reads a clock: the creation date is an input.
 *
 * Files are ordered by path components compared as raw bytes (the order of
 * the v2 file tree); the v1 list uses the same order. Multi-file hybrids get
 * a BEP 47 pad file (attr "p", path [".pad", "<length>"]) after every
 * non-empty file whose end is not piece-aligned, so the v1 and v2 views
 * share pieces. The last file is padded too: BEP 47 allows it, libtorrent
 * 2.0 does it by default, and matching libtorrent makes the same tree give
 * the same info-hashes whichever tool built the torrent.
 */
#ifndef SHOAL_MKINFO_H
#define SHOAL_MKINFO_H

#include <shoal/bencode.h>
#include <shoal/error.h>
#include <shoal/metainfo.h>

typedef struct sh_mkinfo_opts {
    unsigned version;           /* SH_META_V1, SH_META_V2 or SH_META_HYBRID */
    uint64_t piece_length;      /* 0: choose (sh_mkinfo_auto_piece_length) */
    const char *name;           /* top-level name (file or directory) */
    bool is_private;
    const char *comment;        /* NULL: omitted */
    const char *created_by;     /* NULL: omitted */
    int64_t creation_date;      /* 0: omitted */
    const char *const *trackers;  /* announce = the first; with more than one,
                                     announce-list has one BEP 12 tier per URL */
    uint32_t num_trackers;
    const char *const *web_seeds; /* BEP 19 url-list (a string if only one) */
    uint32_t num_web_seeds;
} sh_mkinfo_opts;

typedef struct sh_mkinfo sh_mkinfo;

/*
 * The smallest power of two P >= 32 KiB with total_size / P < 2000, capped
 * at 16 MiB: 1000-2000 pieces for 62.5 MiB to 31.25 GiB of data, fewer
 * (32 KiB pieces) below, more (16 MiB pieces) above.
 */
uint64_t sh_mkinfo_auto_piece_length(uint64_t total_size);

int sh_mkinfo_new(const sh_mkinfo_opts *opts, sh_mkinfo **out);
void sh_mkinfo_free(sh_mkinfo *m);

/*
 * Adds a file. relpath is '/'-separated, relative to the top directory;
 * pass NULL for a single-file torrent (then exactly one file may be added).
 * Components are validated as the loader would (SH_EPATH).
 */
int sh_mkinfo_add_file(sh_mkinfo *m, const char *relpath, uint64_t length, bool executable);

/*
 * Fixes the layout after the last add_file: sorts the files by path and
 * chooses the piece length. Afterwards sh_mkinfo_file(m, k) gives the k-th
 * file to feed, k = 0 .. sh_mkinfo_num_files(m) - 1. SH_EPATH if two paths
 * collide (a duplicate, or a file that is also a directory), SH_EINVAL if
 * there is nothing to hash (no files, or all empty), SH_ELIMIT beyond
 * SH_META_MAX_PIECES.
 */
int sh_mkinfo_layout(sh_mkinfo *m);
uint32_t sh_mkinfo_num_files(const sh_mkinfo *m);
/* relpath as added (NULL for single-file) and length of the k-th file in feed order. */
const char *sh_mkinfo_file(const sh_mkinfo *m, uint32_t k, uint64_t *length);
uint64_t sh_mkinfo_piece_length(const sh_mkinfo *m);

/*
 * Feeds the next bytes of the files, in feed order, any chunk size; a chunk
 * may span the end of one file and the start of the next. SH_ERANGE if more
 * bytes are fed than the files hold.
 */
int sh_mkinfo_feed(sh_mkinfo *m, const void *data, size_t len);

/*
 * Ends feeding (SH_ERANGE if bytes are missing) and appends the encoded
 * torrent to out (initialised by the caller). Once only.
 */
int sh_mkinfo_finish(sh_mkinfo *m, sh_bbuf *out);

#endif
