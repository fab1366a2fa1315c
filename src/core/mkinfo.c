/*
 * mkinfo.c — the torrent builder's options, file list and layout.
 *
 * Files are ordered by path components compared as raw bytes, which is the
 * order of the v2 file tree (nested bencode dictionaries); v1 and hybrid
 * torrents list files in the same order, as libtorrent does, so a hybrid's
 * two views agree and the same tree gives the same info-hashes whichever
 * tool made it.
 */
#include "mkinfo_int.h"

#include <stdlib.h>
#include <string.h>

#define MIN_PIECE (16u * 1024)
#define AUTO_MIN_PIECE (32u * 1024)
#define AUTO_MAX_PIECE (16u * 1024 * 1024)
#define AUTO_TARGET_PIECES 2000u

uint64_t sh_mkinfo_auto_piece_length(uint64_t total_size)
{
    uint64_t p = AUTO_MIN_PIECE;
    while (p < AUTO_MAX_PIECE && total_size / p >= AUTO_TARGET_PIECES)
        p *= 2;
    return p;
}

static bool is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The rules the loader applies to one path component. */
static bool valid_component(const char *s, size_t n)
{
    if (n == 0 || n > SH_META_MAX_COMPONENT) return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
    return memchr(s, '/', n) == NULL;
}

static int dup_list(const char *const *in, uint32_t n, char ***out)
{
    *out = NULL;
    if (n == 0) return 0;
    if (in == NULL) return SH_EINVAL;
    char **v = calloc(n, sizeof *v);
    if (v == NULL) return SH_ENOMEM;
    *out = v;
    for (uint32_t i = 0; i < n; i++) {
        if (in[i] == NULL) return SH_EINVAL;
        if ((v[i] = strdup(in[i])) == NULL) return SH_ENOMEM;
    }
    return 0;
}

static void free_list(char **v, uint32_t n)
{
    if (v == NULL) return;
    for (uint32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int check_opts(const sh_mkinfo_opts *o)
{
    if (o->version != SH_META_V1 && o->version != SH_META_V2 && o->version != SH_META_HYBRID)
        return SH_EINVAL;
    if (o->name == NULL) return SH_EINVAL;
    if (!valid_component(o->name, strlen(o->name))) return SH_EPATH;
    uint64_t p = o->piece_length;
    if (p != 0) {
        if (p < MIN_PIECE || p > SH_META_MAX_PIECE_LENGTH) return SH_EINVAL;
        if ((o->version & SH_META_V2) && !is_pow2(p)) return SH_EINVAL;
    }
    return 0;
}

int sh_mkinfo_new(const sh_mkinfo_opts *opts, sh_mkinfo **out)
{
    int rc = check_opts(opts);
    if (rc != 0) return rc;
    sh_mkinfo *m = calloc(1, sizeof *m);
    if (m == NULL) return SH_ENOMEM;
    m->version = opts->version;
    m->piece_length = opts->piece_length;
    m->is_private = opts->is_private;
    m->creation_date = opts->creation_date;
    m->num_trackers = opts->num_trackers;
    m->num_web_seeds = opts->num_web_seeds;
    m->name = dup_str(opts->name);
    m->comment = dup_str(opts->comment);
    m->created_by = dup_str(opts->created_by);
    rc = SH_ENOMEM;
    if (m->name == NULL || (opts->comment && !m->comment) || (opts->created_by && !m->created_by))
        goto fail;
    if ((rc = dup_list(opts->trackers, opts->num_trackers, &m->trackers)) != 0) goto fail;
    if ((rc = dup_list(opts->web_seeds, opts->num_web_seeds, &m->web_seeds)) != 0) goto fail;
    *out = m;
    return 0;
fail:
    sh_mkinfo_free(m);
    return rc;
}

void sh_mkinfo_free(sh_mkinfo *m)
{
    if (m == NULL) return;
    for (uint32_t i = 0; i < m->num_files; i++) {
        free(m->files[i].path);
        free(m->files[i].comp_buf);
        free(m->files[i].comps);
        free(m->files[i].layer);
    }
    free(m->files);
    free(m->name);
    free(m->comment);
    free(m->created_by);
    free_list(m->trackers, m->num_trackers);
    free_list(m->web_seeds, m->num_web_seeds);
    sh_sha_free(m->sha1);
    sh_sha_free(m->sha256);
    free(m->pieces_v1);
    free(m);
}

/* Splits and validates relpath into f (comp_buf, comps, ncomps). */
static int split_path(const char *relpath, mk_file *f)
{
    size_t len = strlen(relpath);
    if (len == 0 || len > SH_META_MAX_PATH) return SH_EPATH;
    uint32_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += relpath[i] == '/';
    if (n > SH_META_MAX_PATH_DEPTH) return SH_EPATH;
    f->comp_buf = strdup(relpath);
    f->comps = calloc(n, sizeof *f->comps);
    if (f->comp_buf == NULL || f->comps == NULL) return SH_ENOMEM;
    char *s = f->comp_buf;
    for (uint32_t k = 0; k < n; k++) {
        char *slash = strchr(s, '/');
        size_t cl = slash ? (size_t)(slash - s) : strlen(s);
        if (!valid_component(s, cl)) return SH_EPATH;
        if (slash) *slash = '\0';
        f->comps[k] = s;
        s += cl + 1;
    }
    f->ncomps = n;
    return 0;
}

int sh_mkinfo_add_file(sh_mkinfo *m, const char *relpath, uint64_t length, bool executable)
{
    if (m->laid_out || m->single) return SH_EINVAL;
    if (relpath == NULL && m->num_files > 0) return SH_EINVAL;
    if (m->num_files >= SH_META_MAX_FILES) return SH_ELIMIT;
    if (length > UINT64_MAX / 2 - m->content_size) return SH_ELIMIT;
    if (m->num_files == m->cap_files) {
        uint32_t cap = m->cap_files ? m->cap_files * 2 : 8;
        mk_file *v = realloc(m->files, (size_t)cap * sizeof *v);
        if (v == NULL) return SH_ENOMEM;
        m->files = v;
        m->cap_files = cap;
    }
    mk_file f = {.length = length, .exec = executable};
    if (relpath != NULL) {
        int rc = split_path(relpath, &f);
        if (rc == 0 && (f.path = strdup(relpath)) == NULL) rc = SH_ENOMEM;
        if (rc != 0) {
            free(f.comp_buf);
            free(f.comps);
            return rc;
        }
    }
    m->files[m->num_files++] = f;
    m->single = relpath == NULL;
    m->content_size += length;
    return 0;
}

/* Component-wise byte order: the order of keys in the v2 file tree. */
static int cmp_files(const void *pa, const void *pb)
{
    const mk_file *a = pa, *b = pb;
    uint32_t n = a->ncomps < b->ncomps ? a->ncomps : b->ncomps;
    for (uint32_t i = 0; i < n; i++) {
        int c = strcmp(a->comps[i], b->comps[i]);
        if (c != 0) return c;
    }
    return (a->ncomps > b->ncomps) - (a->ncomps < b->ncomps);
}

/* After sorting, a duplicate or a file that is also a directory ("a" and
 * "a/b") sits right before the path it collides with. */
static bool collides(const mk_file *a, const mk_file *b)
{
    if (a->ncomps > b->ncomps) return false;
    for (uint32_t i = 0; i < a->ncomps; i++)
        if (strcmp(a->comps[i], b->comps[i]) != 0) return false;
    return true;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/*
 * Piece space. v1: the files back to back. v2: every non-empty file starts
 * a piece. Hybrid: the v1 list carries a BEP 47 pad after each non-empty
 * file whose end is not piece-aligned, the last file included, so that
 * both views have the same pieces (libtorrent 2.0 pads the tail too, and
 * matching it gives the same info-hashes for the same tree).
 */
static int plan_pieces(sh_mkinfo *m)
{
    uint64_t p = m->piece_length, pieces = 0;
    for (uint32_t i = 0; i < m->num_files; i++) {
        mk_file *f = &m->files[i];
        if (m->version & SH_META_V2) pieces += ceil_div(f->length, p);
        if (m->version == SH_META_HYBRID && !m->single && f->length % p != 0)
            f->pad_after = p - f->length % p;
    }
    if (m->version == SH_META_V1) pieces = ceil_div(m->content_size, p);
    if (pieces == 0) return SH_EINVAL; /* nothing to share */
    if (pieces > SH_META_MAX_PIECES) return SH_ELIMIT;
    m->num_pieces = (uint32_t)pieces;
    return 0;
}

/* Piece layers of files larger than one piece, allocated up front so that
 * feeding cannot fail half-way through a chunk. */
static int alloc_layers(sh_mkinfo *m)
{
    for (uint32_t i = 0; i < m->num_files; i++) {
        mk_file *f = &m->files[i];
        if (f->length <= m->piece_length || f->layer != NULL) continue;
        uint64_t count = ceil_div(f->length, m->piece_length);
        if ((f->layer = malloc((size_t)count * 32)) == NULL) return SH_ENOMEM;
        f->layer_count = (uint32_t)count;
    }
    return 0;
}

int sh_mkinfo_layout(sh_mkinfo *m)
{
    if (m->laid_out || m->num_files == 0) return SH_EINVAL;
    if (!m->single) {
        qsort(m->files, m->num_files, sizeof *m->files, cmp_files);
        for (uint32_t i = 0; i + 1 < m->num_files; i++)
            if (collides(&m->files[i], &m->files[i + 1])) return SH_EPATH;
    }
    if (m->piece_length == 0) m->piece_length = sh_mkinfo_auto_piece_length(m->content_size);
    int rc = plan_pieces(m);
    if (rc != 0) return rc;
    m->leaf_height = sh_merkle_log2(m->piece_length / SH_MERKLE_BLOCK);
    if (m->version & SH_META_V1) {
        /* A retried layout (after SH_ENOMEM) reuses what it got before. */
        if (m->sha1 == NULL) m->sha1 = sh_sha1_new();
        if (m->pieces_v1 == NULL) m->pieces_v1 = malloc((size_t)m->num_pieces * SH_SHA1_LEN);
        if (m->sha1 == NULL || m->pieces_v1 == NULL) return SH_ENOMEM;
    }
    if (m->version & SH_META_V2) {
        if (m->sha256 == NULL) m->sha256 = sh_sha256_new();
        if (m->sha256 == NULL) return SH_ENOMEM;
        if ((rc = alloc_layers(m)) != 0) return rc;
    }
    m->laid_out = true;
    return 0;
}

uint32_t sh_mkinfo_num_files(const sh_mkinfo *m)
{
    return m->laid_out ? m->num_files : 0;
}

const char *sh_mkinfo_file(const sh_mkinfo *m, uint32_t k, uint64_t *length)
{
    if (!m->laid_out || k >= m->num_files) {
        if (length) *length = 0;
        return NULL;
    }
    if (length) *length = m->files[k].length;
    return m->files[k].path;
}

uint64_t sh_mkinfo_piece_length(const sh_mkinfo *m)
{
    return m->laid_out ? m->piece_length : 0;
}

int sh_mkinfo_finish(sh_mkinfo *m, sh_bbuf *out)
{
    if (!m->laid_out || m->finished) return SH_EINVAL;
    int rc = sh_mkinfo_end_feed(m);
    if (rc != 0) return rc;
    m->finished = true;
    sh_mkinfo_encode(m, out);
    return out->err;
}
