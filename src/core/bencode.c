/*
 * bencode.c — the strict, bounded, non-recursive bencode parser and the
 * navigation helpers over its flat node array.
 *
 * The parser walks the input once, left to right, with an explicit stack of
 * open containers (so nesting depth costs heap, bounded by max_depth, never
 * C stack). Nodes are appended in pre-order; a container's size and raw
 * length are filled in when its 'e' is read. Every length is compared with
 * the bytes that remain before it is used.
 */
#include <shoal/bencode.h>

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_DEPTH 64u
#define DEFAULT_MAX_NODES (1u << 22)
#define DEFAULT_MAX_INPUT ((size_t)64 << 20)

struct sh_bdoc {
    sh_bnode *nodes;
    uint32_t n;
};

/* One open list or dict. */
typedef struct frame {
    uint32_t node;    /* index of the container node */
    bool want_value;  /* dict: a key was read, its value is next */
    sh_span last_key; /* dict: previous key, for the ordering rule */
} frame;

typedef struct parser {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    uint32_t max_depth;
    uint32_t max_nodes;
    sh_bnode *nodes;
    uint32_t n, cap;
    frame *stack;
    uint32_t depth, stack_cap;
    sh_errinfo *ei;
} parser;

static int fail(parser *p, int code, const char *what)
{
    return sh_errinfo_set(p->ei, code, p->pos, "bencode: %s at offset %zu", what, p->pos);
}

static int truncated(parser *p)
{
    return fail(p, SH_EBENCODE, "unexpected end of input");
}

static sh_bnode *new_node(parser *p, int *rc)
{
    if (p->n >= p->max_nodes) {
        *rc = fail(p, SH_ELIMIT, "too many values");
        return NULL;
    }
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 16;
        if (cap > p->max_nodes || cap < p->cap) cap = p->max_nodes;
        sh_bnode *nn = realloc(p->nodes, (size_t)cap * sizeof *nn);
        if (!nn) {
            *rc = fail(p, SH_ENOMEM, "out of memory");
            return NULL;
        }
        p->nodes = nn;
        p->cap = cap;
    }
    sh_bnode *nd = &p->nodes[p->n++];
    memset(nd, 0, sizeof *nd);
    nd->size = 1;
    nd->raw.ptr = p->buf + p->pos;
    return nd;
}

/* Digits of an unsigned decimal up to `stop`; no leading zeros. *v <= max. */
static int read_decimal(parser *p, uint8_t stop, uint64_t max, uint64_t *v, const char *what)
{
    size_t start = p->pos;
    uint64_t acc = 0;
    while (p->pos < p->len && p->buf[p->pos] != stop) {
        uint8_t c = p->buf[p->pos];
        if (c < '0' || c > '9') return fail(p, SH_EBENCODE, what);
        unsigned d = (unsigned)(c - '0');
        if (acc > (max - d) / 10) return fail(p, SH_EBENCODE, "number out of range");
        acc = acc * 10 + d;
        p->pos++;
    }
    if (p->pos >= p->len) return truncated(p);
    if (p->pos == start) return fail(p, SH_EBENCODE, "missing digits");
    if (p->buf[start] == '0' && p->pos - start > 1) return fail(p, SH_EBENCODE, "leading zero");
    p->pos++; /* the stop byte */
    *v = acc;
    return 0;
}

static int parse_int(parser *p, sh_bnode *nd)
{
    p->pos++; /* 'i' */
    bool neg = p->pos < p->len && p->buf[p->pos] == '-';
    if (neg) p->pos++;
    size_t digits = p->pos;
    uint64_t mag;
    uint64_t max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int rc = read_decimal(p, 'e', max, &mag, "invalid integer");
    if (rc) return rc;
    if (neg && mag == 0) {
        p->pos = digits;
        return fail(p, SH_EBENCODE, "negative zero");
    }
    nd->type = SH_BINT;
    /* -2^63 has no positive counterpart, so it cannot be negated as int64. */
    if (!neg)
        nd->v.i = (int64_t)mag;
    else if (mag > (uint64_t)INT64_MAX)
        nd->v.i = INT64_MIN;
    else
        nd->v.i = -(int64_t)mag;
    return 0;
}

static int parse_str(parser *p, sh_bnode *nd)
{
    uint64_t n;
    int rc = read_decimal(p, ':', SIZE_MAX, &n, "invalid string length");
    if (rc) return rc;
    if (n > p->len - p->pos) return fail(p, SH_EBENCODE, "string longer than the input");
    nd->type = SH_BSTR;
    nd->v.s.ptr = p->buf + p->pos;
    nd->v.s.len = (size_t)n;
    p->pos += (size_t)n;
    return 0;
}

static int push(parser *p, uint32_t node)
{
    if (p->depth >= p->max_depth) return fail(p, SH_ELIMIT, "nesting too deep");
    if (p->depth == p->stack_cap) {
        uint32_t cap = p->stack_cap ? p->stack_cap * 2 : 16;
        if (cap > p->max_depth || cap < p->stack_cap) cap = p->max_depth;
        frame *ns = realloc(p->stack, (size_t)cap * sizeof *ns);
        if (!ns) return fail(p, SH_ENOMEM, "out of memory");
        p->stack = ns;
        p->stack_cap = cap;
    }
    p->stack[p->depth++] = (frame){.node = node};
    return 0;
}

static int key_cmp(sh_span a, sh_span b)
{
    size_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    if (c) return c;
    return (a.len > b.len) - (a.len < b.len);
}

/* A dict key was read (a string, see key_expected): it must exceed the last one. */
static int check_key(parser *p, frame *f, const sh_bnode *key)
{
    if (p->nodes[f->node].count > 0 && key_cmp(f->last_key, key->v.s) >= 0) {
        p->pos = (size_t)(key->raw.ptr - p->buf);
        return fail(p, SH_EBENCODE, "dictionary keys not in strictly increasing order");
    }
    f->last_key = key->v.s;
    f->want_value = true;
    return 0;
}

/* Reads one value's start: a complete scalar, or an opened container. */
static int parse_value(parser *p, uint32_t *idx)
{
    int rc = 0;
    if (p->pos >= p->len) return truncated(p);
    sh_bnode *nd = new_node(p, &rc);
    if (!nd) return rc;
    *idx = p->n - 1;
    uint8_t c = p->buf[p->pos];
    if (c == 'i') return parse_int(p, nd);
    if (c >= '0' && c <= '9') return parse_str(p, nd);
    if (c == 'l' || c == 'd') {
        nd->type = c == 'l' ? SH_BLIST : SH_BDICT;
        int prc = push(p, *idx); /* on failure, the offset names the opening byte */
        p->pos++;
        return prc;
    }
    return fail(p, SH_EBENCODE, "unexpected byte");
}

static void finish_node(parser *p, uint32_t idx)
{
    sh_bnode *nd = &p->nodes[idx];
    nd->raw.len = (size_t)(p->buf + p->pos - nd->raw.ptr);
    nd->size = p->n - idx;
}

/* The value at idx is complete: account for it in the enclosing container. */
static int value_done(parser *p, uint32_t idx)
{
    if (p->depth == 0) return 0;
    frame *f = &p->stack[p->depth - 1];
    sh_bnode *parent = &p->nodes[f->node];
    if (parent->type == SH_BLIST) {
        parent->count++;
        return 0;
    }
    if (!f->want_value) return check_key(p, f, &p->nodes[idx]);
    f->want_value = false;
    parent->count++;
    return 0;
}

static int close_container(parser *p)
{
    frame *f = &p->stack[p->depth - 1];
    if (f->want_value) return fail(p, SH_EBENCODE, "dictionary key without a value");
    p->pos++; /* 'e' */
    uint32_t idx = f->node;
    finish_node(p, idx);
    p->depth--;
    return value_done(p, idx);
}

/* Inside a dict with no pending key, only a string (or the end) may come. */
static bool key_expected(const parser *p)
{
    if (p->depth == 0) return false;
    const frame *f = &p->stack[p->depth - 1];
    return p->nodes[f->node].type == SH_BDICT && !f->want_value;
}

static int run(parser *p)
{
    if (p->len == 0) return fail(p, SH_EBENCODE, "empty input");
    do {
        int rc;
        uint8_t c = p->pos < p->len ? p->buf[p->pos] : 0;
        if (p->depth > 0 && c == 'e') {
            rc = close_container(p);
        } else if (p->pos < p->len && key_expected(p) && (c < '0' || c > '9')) {
            rc = fail(p, SH_EBENCODE, "dictionary key is not a string");
        } else {
            uint32_t idx = 0;
            rc = parse_value(p, &idx);
            if (rc == 0 && p->nodes[idx].type != SH_BLIST && p->nodes[idx].type != SH_BDICT) {
                finish_node(p, idx);
                rc = value_done(p, idx);
            }
        }
        if (rc) return rc;
    } while (p->depth > 0);
    return 0;
}

static void set_limits(parser *p, const sh_bencode_limits *lim)
{
    p->max_depth = lim && lim->max_depth ? lim->max_depth : DEFAULT_MAX_DEPTH;
    p->max_nodes = lim && lim->max_nodes ? lim->max_nodes : DEFAULT_MAX_NODES;
}

static int parse(const uint8_t *buf, size_t len, const sh_bencode_limits *lim, bool prefix,
                 sh_bdoc **out, size_t *used, sh_errinfo *ei)
{
    if (!out || (!buf && len)) return SH_EINVAL;
    size_t max_input = lim && lim->max_input ? lim->max_input : DEFAULT_MAX_INPUT;
    parser p = {.buf = buf, .len = len, .ei = ei};
    if (len > max_input) return fail(&p, SH_ELIMIT, "input too large");
    set_limits(&p, lim);
    int rc = run(&p);
    if (rc == 0 && !prefix && p.pos != len) rc = fail(&p, SH_EBENCODE, "trailing data");
    sh_bdoc *doc = rc ? NULL : malloc(sizeof *doc);
    if (rc == 0 && !doc) rc = fail(&p, SH_ENOMEM, "out of memory");
    free(p.stack);
    if (rc) {
        free(p.nodes);
        return rc;
    }
    /* Give back the growth slack; keep the old block if shrinking fails. */
    sh_bnode *fit = realloc(p.nodes, (size_t)p.n * sizeof *fit);
    doc->nodes = fit ? fit : p.nodes;
    doc->n = p.n;
    *out = doc;
    if (used) *used = p.pos;
    return 0;
}

int sh_bencode_parse(const uint8_t *buf, size_t len, const sh_bencode_limits *lim, sh_bdoc **out,
                     sh_errinfo *ei)
{
    return parse(buf, len, lim, false, out, NULL, ei);
}

int sh_bencode_parse_prefix(const uint8_t *buf, size_t len, const sh_bencode_limits *lim,
                            sh_bdoc **out, size_t *used, sh_errinfo *ei)
{
    if (!used) return SH_EINVAL;
    return parse(buf, len, lim, true, out, used, ei);
}

void sh_bdoc_free(sh_bdoc *doc)
{
    if (!doc) return;
    free(doc->nodes);
    free(doc);
}

const sh_bnode *sh_bdoc_root(const sh_bdoc *doc)
{
    return doc && doc->n ? &doc->nodes[0] : NULL;
}

/* --- navigation --------------------------------------------------------- */

const sh_bnode *sh_bnode_first(const sh_bnode *parent)
{
    if (!parent || (parent->type != SH_BLIST && parent->type != SH_BDICT)) return NULL;
    return parent->size > 1 ? parent + 1 : NULL;
}

const sh_bnode *sh_bnode_next(const sh_bnode *parent, const sh_bnode *child)
{
    if (!parent || !child) return NULL;
    const sh_bnode *next = child + child->size;
    return next < parent + parent->size ? next : NULL;
}

const sh_bnode *sh_bdict_get(const sh_bnode *dict, const char *key)
{
    if (!dict || dict->type != SH_BDICT || !key) return NULL;
    sh_span want = {(const uint8_t *)key, strlen(key)};
    for (const sh_bnode *k = sh_bnode_first(dict); k;) {
        const sh_bnode *v = k + 1; /* a key is a string: one node */
        int c = key_cmp(k->v.s, want);
        if (c == 0) return v;
        if (c > 0) return NULL; /* keys are sorted: it is not further on */
        k = sh_bnode_next(dict, v);
    }
    return NULL;
}

const sh_bnode *sh_bdict_get_type(const sh_bnode *dict, const char *key, sh_btype type)
{
    const sh_bnode *v = sh_bdict_get(dict, key);
    return v && v->type == type ? v : NULL;
}

const sh_bnode *sh_blist_at(const sh_bnode *list, uint32_t i)
{
    if (!list || list->type != SH_BLIST || i >= list->count) return NULL;
    const sh_bnode *e = sh_bnode_first(list);
    while (e && i--)
        e = sh_bnode_next(list, e);
    return e;
}
