/*
 * metainfo.h — the .torrent file: BEP 3 (v1), BEP 52 (v2) and hybrids,
 * with BEP 12 tiers, BEP 19 url-list, BEP 27 private, BEP 47 pad files.
 *
 * The loader treats its input as hostile: every field is type-checked and
 * bounded, every path component is validated (no "", ".", "..", "/" or NUL;
 * no absolute paths), piece counts must match sizes, a hybrid's v1 and v2
 * views must describe the same files. On error it says exactly which rule
 * was broken (sh_errinfo) and returns no partial object.
 *
 * The "piece space" is the byte sequence that piece indices address. For v1
 * it is the concatenation of all files (including BEP 47 pad files); for v2
 * and hybrid every non-empty file starts at a piece boundary (a v2-only
 * torrent has implicit padding; the pads are listed as pad files with
 * pad == true so every consumer sees one uniform layout). Padding reads as
 * zeros and is never written to disk.
 */
#ifndef SHOAL_METAINFO_H
#define SHOAL_METAINFO_H

#include <shoal/error.h>
#include <shoal/types.h>

#define SH_BLOCK_SIZE 16384u
#define SH_META_V1 1u
#define SH_META_V2 2u
#define SH_META_HYBRID (SH_META_V1 | SH_META_V2)

/* Bounds on hostile input. */
#define SH_META_MAX_FILES 1000000u
#define SH_META_MAX_PIECES (1u << 24)          /* 16 M pieces */
#define SH_META_MAX_PIECE_LENGTH (1ull << 28)  /* 256 MiB */
#define SH_META_MAX_PATH_DEPTH 64u
#define SH_META_MAX_COMPONENT 255u
#define SH_META_MAX_PATH 4096u
#define SH_META_MAX_TORRENT (64u << 20)        /* .torrent file size */

typedef struct sh_file {
    char *path;            /* relative path, '/'-joined validated components;
                              for a single-file torrent: the name */
    uint64_t length;
    uint64_t offset;       /* start in piece space */
    bool pad;              /* padding: not stored on disk, reads as zeros */
    bool executable;       /* attr 'x' */
    bool hidden;           /* attr 'h' */
    bool has_root;         /* v2: pieces_root is valid (non-empty files) */
    uint8_t pieces_root[32];
    const uint8_t *layer;  /* v2 piece layer (layer_count * 32 bytes) for files
                              larger than one piece; NULL otherwise or if unknown */
    uint32_t layer_count;
} sh_file;

typedef struct sh_tier {
    char **urls;
    uint32_t count;
} sh_tier;

typedef struct sh_metainfo {
    unsigned version;          /* SH_META_V1, SH_META_V2 or SH_META_HYBRID */
    uint8_t info_hash_v1[20];  /* valid if version & SH_META_V1 */
    uint8_t info_hash_v2[32];  /* valid if version & SH_META_V2 */
    char *name;                /* validated single path component */
    uint64_t piece_length;
    uint32_t num_pieces;
    uint64_t total_size;       /* length of the piece space */
    uint64_t content_size;     /* sum of non-pad file lengths */
    sh_file *files;            /* in piece-space order, pads included */
    uint32_t num_files;
    bool single_file;          /* content is one file named `name`, not a directory */
    bool is_private;           /* BEP 27 */
    uint8_t *pieces_v1;        /* 20 * num_pieces bytes, or NULL for v2-only */
    sh_tier *tiers;            /* announce-list, or the single announce as one tier */
    uint32_t num_tiers;
    char **web_seeds;          /* url-list */
    uint32_t num_web_seeds;
    char *comment;             /* may be NULL */
    char *created_by;          /* may be NULL */
    int64_t creation_date;     /* 0 if absent */
    uint8_t *info;             /* the raw info dictionary, as hashed */
    size_t info_len;
    bool has_piece_layers;     /* v2: every file larger than a piece has its layer
                                  (false for v1-only) */
} sh_metainfo;

/* Parses a whole .torrent. On success *out is owned by the caller. */
int sh_metainfo_parse(const uint8_t *buf, size_t len, sh_metainfo **out, sh_errinfo *ei);

/*
 * Parses a bare info dictionary (from ut_metadata). For v2 the piece layers
 * are unknown until fetched with BEP 52 hash requests (has_piece_layers false).
 */
int sh_metainfo_parse_info(const uint8_t *info, size_t len, sh_metainfo **out, sh_errinfo *ei);

/*
 * Supplies a v2 file's piece layer learned later (from peers). Checks it
 * against the file's pieces root. SH_EHASH if it does not match.
 */
int sh_metainfo_set_layer(sh_metainfo *mi, uint32_t file, const uint8_t *layer, uint32_t count);

void sh_metainfo_free(sh_metainfo *mi);

/* Size in bytes of piece i (the last piece may be short). 0 if out of range. */
uint32_t sh_metainfo_piece_size(const sh_metainfo *mi, uint32_t piece);

/* The 20 bytes used on the wire and at trackers: v1 hash, or truncated v2 hash. */
const uint8_t *sh_metainfo_wire_hash(const sh_metainfo *mi);

/* Index of the file containing piece-space offset off (pads included);
 * num_files if off >= total_size. */
uint32_t sh_metainfo_file_at(const sh_metainfo *mi, uint64_t off);

/*
 * v2 hash of piece i, i.e. what the piece's data must hash to, and how many
 * leaves to pad to: for a file with a piece layer, the layer entry and
 * P/16K; for a file of at most one piece, its pieces root and
 * pow2(blocks of the file). *data_len is the number of the piece's bytes
 * that belong to the file (the rest of the piece, if any, is padding).
 * SH_ENOTFOUND if unknown (layer not yet fetched), SH_ERANGE if i is bad.
 */
int sh_metainfo_piece_v2(const sh_metainfo *mi, uint32_t i, const uint8_t **hash,
                         uint32_t *pad_leaves, uint32_t *data_len);

/* "magnet:?xt=urn:btih:...&xt=urn:btmh:1220...&dn=...&tr=..." (malloc'd) */
char *sh_metainfo_magnet(const sh_metainfo *mi);

#endif
