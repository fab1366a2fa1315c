/*
 * bencode.h — strict, bounded, zero-copy bencode (BEP 3) parser and encoder.
 *
 * The parser turns a buffer into a flat array of nodes in pre-order; strings
 * are spans into the caller's buffer (zero-copy), so the buffer must outlive
 * the document. Every node also records its raw encoded span, which is how
 * an info-hash is computed over the exact bytes received.
 *
 * Strict BEP 3: integers have no leading zeros and no "-0"; string lengths
 * have no leading zeros; dictionary keys are strings, strictly increasing in
 * raw byte order (so no duplicates); nothing follows the top-level value.
 * Bounded: nesting depth, node count and total input are limited by
 * sh_bencode_limits; a string length or integer that does not fit is an error.
 * The parser never recurses on input (no stack overflow on deep nesting) and
 * never reads past len. It must never abort on any input.
 */
#ifndef SHOAL_BENCODE_H
#define SHOAL_BENCODE_H

#include <shoal/error.h>
#include <shoal/types.h>

typedef enum sh_btype {
    SH_BINT = 1,
    SH_BSTR = 2,
    SH_BLIST = 3,
    SH_BDICT = 4,
} sh_btype;

typedef struct sh_bnode {
    sh_btype type;
    uint32_t size;   /* nodes in this subtree, itself included; next sibling = this + size */
    uint32_t count;  /* list: elements; dict: key/value pairs (children = 2*count) */
    sh_span raw;     /* the encoded bytes of this value, e.g. "4:spam" or "d...e" */
    union {
        int64_t i;   /* SH_BINT */
        sh_span s;   /* SH_BSTR: the string's bytes */
    } v;
} sh_bnode;

typedef struct sh_bencode_limits {
    uint32_t max_depth;    /* 0 → default 64 */
    uint32_t max_nodes;    /* 0 → default 1 << 22 */
    size_t max_input;      /* 0 → default 64 MiB */
} sh_bencode_limits;

typedef struct sh_bdoc sh_bdoc;

/*
 * Parses buf[0..len) as exactly one bencoded value. On success *out owns the
 * node array (free with sh_bdoc_free) and borrows buf. lim may be NULL.
 * Errors: SH_EBENCODE (malformed; ei says what and where), SH_ELIMIT, SH_ENOMEM.
 */
int sh_bencode_parse(const uint8_t *buf, size_t len, const sh_bencode_limits *lim,
                     sh_bdoc **out, sh_errinfo *ei);

/*
 * Like sh_bencode_parse, but stops after the first complete value and
 * reports its length in *used: trailing bytes are allowed (used by wire
 * messages such as ut_metadata, which carry raw data after a dictionary).
 */
int sh_bencode_parse_prefix(const uint8_t *buf, size_t len, const sh_bencode_limits *lim,
                            sh_bdoc **out, size_t *used, sh_errinfo *ei);

void sh_bdoc_free(sh_bdoc *doc);
const sh_bnode *sh_bdoc_root(const sh_bdoc *doc);

/* Navigation. All return NULL when absent or when the node has the wrong type. */
const sh_bnode *sh_bdict_get(const sh_bnode *dict, const char *key);
const sh_bnode *sh_bdict_get_type(const sh_bnode *dict, const char *key, sh_btype type);
/* Iteration: first child (or NULL), next sibling within parent (or NULL).
 * A dict's children alternate key, value, key, value. */
const sh_bnode *sh_bnode_first(const sh_bnode *parent);
const sh_bnode *sh_bnode_next(const sh_bnode *parent, const sh_bnode *child);
/* i-th element of a list (O(n)). */
const sh_bnode *sh_blist_at(const sh_bnode *list, uint32_t i);

/*
 * Encoder: appends to a growable buffer. Errors are sticky (the first
 * allocation failure is remembered in err and later calls do nothing), so
 * a sequence of appends needs one check at the end.
 * Dict keys must be appended in sorted order by the caller; the encoder does
 * not sort. sh_benc_dict_begin/end and list_begin/end must balance.
 */
typedef struct sh_bbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err;  /* 0 or SH_ENOMEM */
} sh_bbuf;

void sh_bbuf_init(sh_bbuf *b);
void sh_bbuf_free(sh_bbuf *b);
/* Hands ownership of data to the caller and resets b. NULL (data freed) if b->err. */
uint8_t *sh_bbuf_take(sh_bbuf *b, size_t *len);
void sh_bbuf_raw(sh_bbuf *b, const void *p, size_t n);
void sh_benc_int(sh_bbuf *b, int64_t v);
void sh_benc_str(sh_bbuf *b, const void *p, size_t n);
void sh_benc_cstr(sh_bbuf *b, const char *s);
void sh_benc_list_begin(sh_bbuf *b);
void sh_benc_dict_begin(sh_bbuf *b);
void sh_benc_end(sh_bbuf *b);
/* Convenience: key then value. */
void sh_benc_kv_int(sh_bbuf *b, const char *key, int64_t v);
void sh_benc_kv_str(sh_bbuf *b, const char *key, const void *p, size_t n);
void sh_benc_kv_cstr(sh_bbuf *b, const char *key, const char *s);

#endif
