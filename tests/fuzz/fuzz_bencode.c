/*
 * fuzz_bencode.c — the bencode parser on arbitrary bytes.
 *
 * Strict bencode is canonical: a document the parser accepts has exactly one
 * encoding. So every accepted input must re-encode, node by node through the
 * public navigation API, to the very same bytes; every node's raw span must
 * lie inside the input; every dict key must be found again by sh_bdict_get;
 * and the prefix parser must agree with the whole-input parser.
 */
#include <shoal/bencode.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static void encode(sh_bbuf *b, const sh_bnode *n, const uint8_t *in, size_t len, unsigned depth)
{
    /* At most 64 containers deep (the default limit); a scalar may sit inside the 64th. */
    CHECK(depth <= 64 || (depth == 65 && (n->type == SH_BINT || n->type == SH_BSTR)));
    CHECK(n->raw.ptr >= in && n->raw.len <= len && (size_t)(n->raw.ptr - in) <= len - n->raw.len);
    switch (n->type) {
    case SH_BINT:
        sh_benc_int(b, n->v.i);
        return;
    case SH_BSTR:
        sh_benc_str(b, n->v.s.ptr, n->v.s.len);
        return;
    case SH_BLIST:
    case SH_BDICT:
        break;
    default:
        CHECK(0);
    }
    sh_bbuf_raw(b, n->type == SH_BLIST ? "l" : "d", 1);
    uint32_t kids = 0, size = 1;
    for (const sh_bnode *c = sh_bnode_first(n); c; c = sh_bnode_next(n, c)) {
        if (n->type == SH_BDICT && kids % 2 == 0) {
            CHECK(c->type == SH_BSTR);
            /* Look the key up the way consumers do, when it is a C string. */
            if (!memchr(c->v.s.ptr, 0, c->v.s.len) && c->v.s.len < 256) {
                char key[256];
                memcpy(key, c->v.s.ptr, c->v.s.len);
                key[c->v.s.len] = 0;
                CHECK(sh_bdict_get(n, key) == c + 1);
            }
        }
        encode(b, c, in, len, depth + 1);
        kids++;
        size += c->size;
    }
    CHECK(size == n->size);
    CHECK(kids == (n->type == SH_BDICT ? 2 * n->count : n->count));
    if (n->type == SH_BLIST && n->count) CHECK(sh_blist_at(n, n->count - 1) != NULL);
    sh_benc_end(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_bdoc *doc = NULL;
    sh_errinfo ei;
    int rc = sh_bencode_parse(data, size, NULL, &doc, &ei);
    size_t used = 0;
    sh_bdoc *pdoc = NULL;
    int prc = sh_bencode_parse_prefix(data, size, NULL, &pdoc, &used, NULL);
    if (prc == 0) {
        CHECK(used <= size && used > 0);
        CHECK(sh_bdoc_root(pdoc)->raw.len == used);
        sh_bdoc_free(pdoc);
    }
    if (rc != 0) {
        CHECK(doc == NULL);
        CHECK(rc == SH_EBENCODE || rc == SH_ELIMIT || rc == SH_ENOMEM);
        CHECK(ei.offset <= size);
        return 0;
    }
    CHECK(prc == 0 && used == size);
    const sh_bnode *root = sh_bdoc_root(doc);
    CHECK(root && root->raw.ptr == data && root->raw.len == size);
    sh_bbuf b;
    sh_bbuf_init(&b);
    encode(&b, root, data, size, 1);
    CHECK(b.err == 0);
    CHECK(b.len == size && memcmp(b.data, data, size) == 0);
    sh_bbuf_free(&b);
    sh_bdoc_free(doc);
    return 0;
}
