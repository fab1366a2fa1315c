/*
 * metainfo_int.h — internals shared by the .torrent loader's files
 * (metainfo.c, metainfo_path.c, metainfo_files.c, metainfo_layers.c,
 * metainfo_trackers.c, magnet.c). Not a public API.
 *
 * Every function here that reads bencode nodes treats them as hostile:
 * it checks types and bounds and reports the broken rule in sh_errinfo,
 * naming the field ("info.files[3].path[1]"). None keeps a pointer into the
 * input buffer: whatever it returns is copied and owned.
 */
#ifndef SHOAL_METAINFO_INT_H
#define SHOAL_METAINFO_INT_H

#include <shoal/bencode.h>
#include <shoal/metainfo.h>

/* Largest piece space: MAX_PIECES pieces of MAX_PIECE_LENGTH (2^52 bytes). */
#define SH_MI_MAX_TOTAL ((uint64_t)SH_META_MAX_PIECES * SH_META_MAX_PIECE_LENGTH)
/* Longest tracker or web seed URL we keep. */
#define SH_MI_MAX_URL 8192u

/* A growable list of files being built. */
typedef struct sh_mi_files {
    sh_file *v;
    uint32_t n, cap;
} sh_mi_files;

/* Appends a zeroed entry; NULL on OOM or when SH_META_MAX_FILES * 2 is reached. */
sh_file *sh_mi_files_push(sh_mi_files *fl);
void sh_mi_files_free(sh_mi_files *fl);

/* --- paths (metainfo_path.c) --- */

/* Checks one path component; field names it in the message. 0 or SH_EPATH. */
int sh_mi_check_component(sh_span c, const char *field, sh_errinfo *ei);
/* Writes s into out (size >= 4), escaped for a message, cut with "..." if long. */
void sh_mi_escape(sh_span s, char *out, size_t size);
/* A NUL-terminated copy of s; NULL on OOM. */
char *sh_mi_strdup(sh_span s);
/* Rejects two non-pad files with the same path, or one whose path is a directory of another. */
int sh_mi_check_unique(const sh_file *files, uint32_t n, sh_errinfo *ei);
/* A pad file's path, ".pad/<length>", malloc'd; NULL on OOM. */
char *sh_mi_pad_path(uint64_t length);

/* --- file lists (metainfo_files.c) --- */

/* Reads info.length or info.files (v1), pads included, offsets not yet set. */
int sh_mi_files_v1(const sh_bnode *info, const char *name, sh_mi_files *out, bool *single,
                   sh_errinfo *ei);
/* Reads info.file tree (v2) in tree order, no pads, offsets not yet set. */
int sh_mi_files_v2(const sh_bnode *info, const char *name, sh_mi_files *out, bool *single,
                   sh_errinfo *ei);
/* Sets offsets as listed (v1: explicit pads); *total is the piece space length. */
int sh_mi_layout_v1(sh_mi_files *fl, uint64_t *total, sh_errinfo *ei);
/* Inserts implicit pads so non-empty files start on a piece boundary (v2-only torrents). */
int sh_mi_layout_v2(sh_mi_files *fl, uint64_t piece_length, uint64_t *total, sh_errinfo *ei);
/*
 * Checks that a hybrid's v1 list (laid out, explicit pads) describes the v2
 * tree's files with the same piece space, and copies the v2 roots into v1.
 */
int sh_mi_match_hybrid(sh_mi_files *v1, uint64_t total_v1, const sh_mi_files *v2,
                       uint64_t piece_length, sh_errinfo *ei);

/* --- piece layers (metainfo_layers.c) --- */

/* Reads the top-level "piece layers" (node may be NULL), checks and copies them. */
int sh_mi_load_layers(sh_metainfo *mi, const sh_bnode *layers, sh_errinfo *ei);
/* True if every file larger than a piece has its layer. */
bool sh_mi_layers_complete(const sh_metainfo *mi);

/* --- trackers and descriptive keys (metainfo_trackers.c) --- */

/* announce, announce-list, url-list, comment, created by, creation date. */
int sh_mi_load_top(sh_metainfo *mi, const sh_bnode *root, sh_errinfo *ei);
void sh_mi_free_top(sh_metainfo *mi);

#endif
