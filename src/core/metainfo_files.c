/*
 * metainfo_files.c — the file lists of a .torrent: the v1 "length"/"files"
 * list, the v2 "file tree", their piece-space layouts, and the rule that a
 * hybrid's two views describe the same files at the same offsets.
 *
 * The v2 tree is walked with an explicit stack bounded by the path depth
 * limit, never by recursion on input. Sizes are summed with overflow checks
 * against SH_MI_MAX_TOTAL, so a length near 2^63 is an error, not a wrap.
 */
#include "metainfo_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sh_file *sh_mi_files_push(sh_mi_files *fl)
{
    if (fl->n == fl->cap) {
        if (fl->cap >= 2 * SH_META_MAX_FILES) return NULL;
        uint32_t cap = fl->cap ? fl->cap * 2 : 8;
        sh_file *v = realloc(fl->v, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        fl->v = v;
        fl->cap = cap;
    }
    sh_file *f = &fl->v[fl->n++];
    memset(f, 0, sizeof *f);
    return f;
}

void sh_mi_files_free(sh_mi_files *fl)
{
    for (uint32_t i = 0; i < fl->n; i++)
        free(fl->v[i].path);
    free(fl->v);
    memset(fl, 0, sizeof *fl);
}

static int get_length(const sh_bnode *d, const char *field, uint64_t *out, sh_errinfo *ei)
{
    const sh_bnode *n = sh_bdict_get(d, "length");
    if (!n) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.length is missing", field);
    if (n->type != SH_BINT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.length is not an integer", field);
    if (n->v.i < 0)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.length is negative (%lld)", field,
                              (long long)n->v.i);
    if ((uint64_t)n->v.i > SH_MI_MAX_TOTAL)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "%s.length is %lld, more than %llu", field,
                              (long long)n->v.i, (unsigned long long)SH_MI_MAX_TOTAL);
    *out = (uint64_t)n->v.i;
    return 0;
}

/* BEP 47 attributes. 'l' (symlink) is ignored: the entry is kept as a plain file. */
static int get_attr(const sh_bnode *d, const char *field, sh_file *f, sh_errinfo *ei)
{
    const sh_bnode *a = sh_bdict_get(d, "attr");
    if (!a) return 0;
    if (a->type != SH_BSTR)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.attr is not a string", field);
    for (size_t i = 0; i < a->v.s.len; i++) {
        uint8_t c = a->v.s.ptr[i];
        if (c == 'p') f->pad = true;
        if (c == 'x') f->executable = true;
        if (c == 'h') f->hidden = true;
    }
    return 0;
}

/* --- v1 ----------------------------------------------------------------- */

/* Validates the components of path (a list) and joins them with '/'. */
static int v1_path(const sh_bnode *path, const char *field, char **out, sh_errinfo *ei)
{
    if (path->count == 0) return sh_errinfo_set(ei, SH_EPATH, 0, "%s.path is empty", field);
    if (path->count > SH_META_MAX_PATH_DEPTH)
        return sh_errinfo_set(ei, SH_EPATH, 0, "%s.path has %u components, more than %u", field,
                              path->count, SH_META_MAX_PATH_DEPTH);
    size_t total = 0;
    uint32_t j = 0;
    for (const sh_bnode *c = sh_bnode_first(path); c; c = sh_bnode_next(path, c), j++) {
        if (c->type != SH_BSTR)
            return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.path[%u] is not a string", field, j);
        if (sh_mi_check_component(c->v.s, "", NULL)) { /* name the field only on error */
            char cf[96];
            snprintf(cf, sizeof cf, "%s.path[%u]", field, j);
            return sh_mi_check_component(c->v.s, cf, ei);
        }
        total += c->v.s.len + 1; /* each at most 255 + 1, at most 64 of them */
    }
    if (total - 1 > SH_META_MAX_PATH)
        return sh_errinfo_set(ei, SH_EPATH, 0, "%s.path has %zu bytes, more than %u", field,
                              total - 1, SH_META_MAX_PATH);
    char *p = malloc(total);
    if (!p) return SH_ENOMEM;
    size_t o = 0;
    for (const sh_bnode *c = sh_bnode_first(path); c; c = sh_bnode_next(path, c)) {
        memcpy(p + o, c->v.s.ptr, c->v.s.len);
        o += c->v.s.len;
        p[o++] = '/';
    }
    p[total - 1] = 0;
    *out = p;
    return 0;
}

static int v1_entry(const sh_bnode *e, uint32_t i, sh_mi_files *out, sh_errinfo *ei)
{
    char field[48];
    snprintf(field, sizeof field, "info.files[%u]", i);
    if (e->type != SH_BDICT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s is not a dictionary", field);
    sh_file f = {0};
    int rc = get_length(e, field, &f.length, ei);
    if (rc) return rc;
    const sh_bnode *path = sh_bdict_get(e, "path");
    if (!path) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.path is missing", field);
    if (path->type != SH_BLIST)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.path is not a list", field);
    if ((rc = get_attr(e, field, &f, ei)) != 0) return rc;
    if ((rc = v1_path(path, field, &f.path, ei)) != 0) return rc;
    sh_file *slot = sh_mi_files_push(out);
    if (!slot) {
        free(f.path);
        return SH_ENOMEM;
    }
    *slot = f;
    return 0;
}

static int v1_single(const sh_bnode *info, const char *name, sh_mi_files *out, sh_errinfo *ei)
{
    sh_file f = {0};
    int rc = get_length(info, "info", &f.length, ei);
    if (!rc) rc = get_attr(info, "info", &f, ei);
    if (rc) return rc;
    if (f.pad)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.attr marks the only file as padding");
    f.path = sh_mi_strdup((sh_span){(const uint8_t *)name, strlen(name)});
    sh_file *slot = f.path ? sh_mi_files_push(out) : NULL;
    if (!slot) {
        free(f.path);
        return SH_ENOMEM;
    }
    *slot = f;
    return 0;
}

int sh_mi_files_v1(const sh_bnode *info, const char *name, sh_mi_files *out, bool *single,
                   sh_errinfo *ei)
{
    const sh_bnode *len = sh_bdict_get(info, "length");
    const sh_bnode *files = sh_bdict_get(info, "files");
    if (len && files) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info has both length and files");
    if (!len && !files)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info has neither length nor files");
    *single = len != NULL;
    if (len) return v1_single(info, name, out, ei);
    if (files->type != SH_BLIST)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.files is not a list");
    if (files->count == 0) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.files is empty");
    if (files->count > SH_META_MAX_FILES)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "info.files has %u entries, more than %u",
                              files->count, SH_META_MAX_FILES);
    uint32_t i = 0;
    for (const sh_bnode *e = sh_bnode_first(files); e; e = sh_bnode_next(files, e), i++) {
        int rc = v1_entry(e, i, out, ei);
        if (rc) return rc;
    }
    return 0;
}

/* --- v2 ----------------------------------------------------------------- */

typedef struct walk {
    const sh_bnode *dict;
    const sh_bnode *key; /* next key to visit, NULL when done */
} walk;

typedef struct tree {
    walk st[SH_META_MAX_PATH_DEPTH];
    sh_span comp[SH_META_MAX_PATH_DEPTH];
    uint32_t depth;  /* components in the current path */
    size_t path_len; /* bytes of comp[0..depth) joined with '/' */
    sh_mi_files *out;
    sh_errinfo *ei;
} tree;

/* "info.file tree \"a/b\"" naming the current path, for messages only. */
static const char *tree_field(const tree *t, char *buf, size_t size)
{
    size_t o = (size_t)snprintf(buf, size, "info.file tree \"");
    for (uint32_t i = 0; i < t->depth && o + 8 < size; i++) {
        if (i) buf[o++] = '/';
        size_t room = size - o - 2 > 64 ? 64 : size - o - 2;
        sh_mi_escape(t->comp[i], buf + o, room);
        o += strlen(buf + o);
    }
    snprintf(buf + o, size - o, "\"");
    return buf;
}

static char *tree_join(const tree *t)
{
    char *p = malloc(t->path_len + 1);
    if (!p) return NULL;
    size_t o = 0;
    for (uint32_t i = 0; i < t->depth; i++) {
        if (i) p[o++] = '/';
        memcpy(p + o, t->comp[i].ptr, t->comp[i].len);
        o += t->comp[i].len;
    }
    p[o] = 0;
    return p;
}

/* Reads a v2 file's properties (props is the value of its "" key) into f. */
static int file_props(const sh_bnode *props, const char *field, sh_file *f, sh_errinfo *ei)
{
    if (props->type != SH_BDICT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s[\"\"] is not a dictionary", field);
    int rc = get_length(props, field, &f->length, ei);
    if (!rc) rc = get_attr(props, field, f, ei);
    if (rc) return rc;
    if (f->pad) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s is a pad file", field);
    if (f->length == 0) return 0; /* an empty file has no tree: a root would mean nothing */
    const sh_bnode *root = sh_bdict_get(props, "pieces root");
    if (!root) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.pieces root is missing", field);
    if (root->type != SH_BSTR || root->v.s.len != 32)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "%s.pieces root is not a 32-byte string", field);
    memcpy(f->pieces_root, root->v.s.ptr, 32);
    f->has_root = true;
    return 0;
}

static int tree_file(tree *t, const sh_bnode *props)
{
    if (t->out->n >= SH_META_MAX_FILES)
        return sh_errinfo_set(t->ei, SH_ELIMIT, 0, "info.file tree has more than %u files",
                              SH_META_MAX_FILES);
    sh_file f = {0};
    if (file_props(props, "", &f, NULL)) { /* name the field only on error */
        char field[200];
        sh_file again = {0};
        return file_props(props, tree_field(t, field, sizeof field), &again, t->ei);
    }
    f.path = tree_join(t);
    sh_file *slot = f.path ? sh_mi_files_push(t->out) : NULL;
    if (!slot) {
        free(f.path);
        return SH_ENOMEM;
    }
    *slot = f;
    return 0;
}

/* Visits one entry (key, value) of the directory on top of the stack. */
static int tree_entry(tree *t, const sh_bnode *key)
{
    const sh_bnode *val = key + 1;
    char field[200];
    t->comp[t->depth] = key->v.s;
    size_t plen = t->path_len + (t->depth ? 1 : 0) + key->v.s.len;
    t->depth++;
    t->path_len = plen;
    if (sh_mi_check_component(key->v.s, "", NULL))
        return sh_mi_check_component(key->v.s, tree_field(t, field, sizeof field), t->ei);
    if (plen > SH_META_MAX_PATH)
        return sh_errinfo_set(t->ei, SH_EPATH, 0, "%s has more than %u bytes",
                              tree_field(t, field, sizeof field), SH_META_MAX_PATH);
    if (val->type != SH_BDICT)
        return sh_errinfo_set(t->ei, SH_EMETAINFO, 0, "%s is not a dictionary",
                              tree_field(t, field, sizeof field));
    const sh_bnode *first = sh_bnode_first(val);
    if (first && first->v.s.len == 0) { /* "" sorts first: this entry is a file */
        if (val->count != 1)
            return sh_errinfo_set(t->ei, SH_EPATH, 0, "%s is both a file and a directory",
                                  tree_field(t, field, sizeof field));
        return tree_file(t, first + 1);
    }
    if (val->count == 0) return 0; /* an empty directory holds nothing to fetch */
    if (t->depth >= SH_META_MAX_PATH_DEPTH)
        return sh_errinfo_set(t->ei, SH_EPATH, 0, "%s is deeper than %u components",
                              tree_field(t, field, sizeof field), SH_META_MAX_PATH_DEPTH);
    t->st[t->depth] = (walk){val, first}; /* a directory: descend */
    return 1;
}

static void tree_up(tree *t)
{
    t->depth--;
    t->path_len -= t->comp[t->depth].len + (t->depth ? 1 : 0);
}

static int walk_tree(tree *t, const sh_bnode *root)
{
    /* st[d] is the directory whose entries have d components before them. */
    t->st[0] = (walk){root, sh_bnode_first(root)};
    t->depth = 0;
    t->path_len = 0;
    for (;;) {
        walk *w = &t->st[t->depth];
        if (!w->key) {
            if (t->depth == 0) return 0;
            tree_up(t); /* leave this directory */
            continue;
        }
        const sh_bnode *key = w->key;
        w->key = sh_bnode_next(w->dict, sh_bnode_next(w->dict, key));
        int rc = tree_entry(t, key);
        if (rc < 0) return rc;
        if (rc == 0) tree_up(t); /* a file: stay in this directory */
    }
}

int sh_mi_files_v2(const sh_bnode *info, const char *name, sh_mi_files *out, bool *single,
                   sh_errinfo *ei)
{
    const sh_bnode *ft = sh_bdict_get(info, "file tree");
    if (!ft) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.file tree is missing");
    if (ft->type != SH_BDICT)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.file tree is not a dictionary");
    tree *t = calloc(1, sizeof *t);
    if (!t) return SH_ENOMEM;
    t->out = out;
    t->ei = ei;
    int rc = walk_tree(t, ft);
    free(t);
    if (rc) return rc;
    if (out->n == 0) return sh_errinfo_set(ei, SH_EMETAINFO, 0, "info.file tree has no files");
    /* Single-file: the tree is exactly one file at the top, named like the torrent. */
    *single = ft->count == 1 && out->n == 1 && strcmp(out->v[0].path, name) == 0;
    return 0;
}

/* --- layouts ------------------------------------------------------------ */

static int too_big(sh_errinfo *ei)
{
    return sh_errinfo_set(ei, SH_ELIMIT, 0, "total size of the files is more than %llu bytes",
                          (unsigned long long)SH_MI_MAX_TOTAL);
}

int sh_mi_layout_v1(sh_mi_files *fl, uint64_t *total, sh_errinfo *ei)
{
    uint64_t pos = 0;
    for (uint32_t i = 0; i < fl->n; i++) {
        fl->v[i].offset = pos;
        if (fl->v[i].length > SH_MI_MAX_TOTAL - pos) return too_big(ei);
        pos += fl->v[i].length;
    }
    *total = pos;
    return 0;
}

static void free_pads(sh_mi_files *fl)
{
    for (uint32_t i = 0; i < fl->n; i++)
        if (fl->v[i].pad) free(fl->v[i].path);
    free(fl->v);
}

/* Appends a pad of gap bytes at pos. */
static int push_pad(sh_mi_files *nl, uint64_t pos, uint64_t gap)
{
    char *path = sh_mi_pad_path(gap);
    sh_file *pad = path ? sh_mi_files_push(nl) : NULL;
    if (!pad) {
        free(path);
        return SH_ENOMEM;
    }
    pad->path = path;
    pad->length = gap;
    pad->offset = pos;
    pad->pad = true;
    return 0;
}

/*
 * A pad follows each non-empty file whose end is not piece-aligned, the last
 * one included, so every v2 piece is a full piece on the wire. This is the
 * layout libtorrent uses: it requests whole 16 KiB blocks up to the piece
 * end, and would be refused block ranges past a short last piece. Empty
 * files sit after the pad.
 */
int sh_mi_layout_v2(sh_mi_files *fl, uint64_t piece_length, uint64_t *total, sh_errinfo *ei)
{
    sh_mi_files nl = {0};
    uint64_t pos = 0;
    int rc = 0;
    for (uint32_t i = 0; i < fl->n && !rc; i++) {
        sh_file *slot = sh_mi_files_push(&nl);
        if (!slot) {
            rc = SH_ENOMEM;
            break;
        }
        *slot = fl->v[i]; /* the path now belongs to nl */
        slot->offset = pos;
        if (pos > SH_MI_MAX_TOTAL || slot->length > SH_MI_MAX_TOTAL - pos) rc = too_big(ei);
        if (rc) break;
        pos += slot->length;
        uint64_t gap = pos % piece_length ? piece_length - pos % piece_length : 0;
        if (slot->length > 0 && gap > 0) {
            rc = push_pad(&nl, pos, gap);
            pos += gap; /* pos stays below MAX_TOTAL + piece_length: no overflow */
        }
    }
    if (rc) {
        free_pads(&nl); /* the file paths still belong to fl */
        return rc;
    }
    free(fl->v);
    *fl = nl;
    *total = pos;
    return 0;
}

/* --- hybrids ------------------------------------------------------------ */

static int hybrid_err(sh_errinfo *ei, uint32_t i, const char *path, const char *what)
{
    char e[96];
    sh_mi_escape((sh_span){(const uint8_t *)path, strlen(path)}, e, sizeof e);
    return sh_errinfo_set(ei, SH_EMETAINFO, 0, "hybrid: info.files[%u] (\"%s\") %s", i, e, what);
}

int sh_mi_match_hybrid(sh_mi_files *v1, uint64_t total_v1, const sh_mi_files *v2,
                       uint64_t piece_length, sh_errinfo *ei)
{
    uint64_t pos = 0; /* v2 offset; stays <= total_v1 + piece_length, see below */
    uint32_t j = 0;
    for (uint32_t i = 0; i < v1->n; i++) {
        sh_file *f = &v1->v[i];
        if (f->pad) continue;
        if (j >= v2->n) return hybrid_err(ei, i, f->path, "is not in info.file tree");
        const sh_file *g = &v2->v[j++];
        if (strcmp(f->path, g->path) != 0)
            return hybrid_err(ei, i, f->path,
                              "differs from the file at the same place in info.file tree");
        if (f->length != g->length)
            return hybrid_err(ei, i, f->path, "has a different length in info.file tree");
        if (g->length == 0) continue;
        if (pos % piece_length) pos += piece_length - pos % piece_length;
        if (f->offset != pos)
            return hybrid_err(
                ei, i, f->path,
                "does not start where the v2 layout puts it (missing or wrong pad file)");
        pos = f->offset + f->length; /* equal to v1's, so bounded by total_v1 */
        f->has_root = g->has_root;
        memcpy(f->pieces_root, g->pieces_root, 32);
    }
    if (j < v2->n)
        return sh_errinfo_set(ei, SH_EMETAINFO, 0,
                              "hybrid: info.file tree has files not in info.files");
    /* v1 may pad the last file up to its piece's end (libtorrent does), no further. */
    uint64_t pieces_v1 = total_v1 / piece_length + (total_v1 % piece_length != 0);
    uint64_t pieces_v2 = pos / piece_length + (pos % piece_length != 0);
    if (pieces_v1 != pieces_v2)
        return sh_errinfo_set(
            ei, SH_EMETAINFO, 0,
            "hybrid: info.files spans %llu pieces, info.file tree %llu (extra pad file?)",
            (unsigned long long)pieces_v1, (unsigned long long)pieces_v2);
    return 0;
}
