/*
 * mkinfo_int.h — the torrent builder's state, shared by its three parts:
 * mkinfo.c (options, files, layout), mkinfo_feed.c (streaming hashes) and
 * mkinfo_enc.c (bencoding the result). Not public API.
 */
#ifndef SHOAL_MKINFO_INT_H
#define SHOAL_MKINFO_INT_H

#include "merkle_int.h"

#include <shoal/mkinfo.h>
#include <shoal/sha.h>

typedef struct mk_file {
    char *path;     /* relpath as added; NULL for a single-file torrent */
    char *comp_buf; /* copy of path with '/' turned into NUL */
    char **comps;   /* ncomps pointers into comp_buf */
    uint32_t ncomps;
    uint64_t length;
    bool exec;
    uint64_t pad_after; /* hybrid: BEP 47 pad bytes after this file */
    bool has_root;      /* v2: non-empty file, root computed */
    uint8_t root[32];
    uint8_t *layer; /* v2 piece layer, files larger than one piece */
    uint32_t layer_count;
} mk_file;

struct sh_mkinfo {
    /* options (strings owned) */
    unsigned version;
    uint64_t piece_length; /* requested (0: auto) until layout, then chosen */
    char *name;
    char *comment;
    char *created_by;
    int64_t creation_date;
    bool is_private;
    char **trackers;
    uint32_t num_trackers;
    char **web_seeds;
    uint32_t num_web_seeds;

    /* files, in feed order after layout */
    mk_file *files;
    uint32_t num_files;
    uint32_t cap_files;
    bool single;
    bool laid_out;
    bool finished;
    uint64_t content_size; /* sum of file lengths */
    uint32_t num_pieces;
    uint32_t leaf_height; /* log2(piece_length / 16 KiB): the piece layer's level */

    /* feeding position */
    uint32_t cur;     /* file being fed */
    uint64_t cur_off; /* bytes of it fed */
    uint64_t fed;     /* bytes fed in all */

    /* v1: SHA-1 over the piece space, pads included */
    sh_sha *sha1;
    uint64_t v1_fill;
    uint8_t *pieces_v1; /* 20 * num_pieces */
    uint32_t v1_done;

    /* v2: SHA-256 leaves of the current file, folded into piece hashes */
    sh_sha *sha256;
    uint32_t blk_fill;        /* bytes of the current 16 KiB block */
    uint32_t leaves_in_piece; /* leaves pushed into piece_acc */
    uint32_t leaves_in_file;
    uint32_t file_pieces_done; /* layer entries of the current file */
    sh_merkle_acc piece_acc;   /* leaves of the current piece (or small file) */
    sh_merkle_acc file_acc;    /* piece hashes of the current large file */
};

/* mkinfo_feed.c: flushes completed files at the feeding position. */
void sh_mkinfo_settle(sh_mkinfo *m);
/* mkinfo_feed.c: ends the last v1 piece; 0 or SH_ERANGE if bytes are missing. */
int sh_mkinfo_end_feed(sh_mkinfo *m);
/* mkinfo_enc.c: appends the .torrent to out. */
void sh_mkinfo_encode(const sh_mkinfo *m, sh_bbuf *out);

#endif
