/*
 * torrent_fixture.h — torrents built in memory for tests (with sh_mkinfo),
 * with deterministic content and the full piece space (pads as zeros) kept
 * beside them, so a test can compare any range with what it must be.
 *
 * Content of a file is a pure function of its path and offset, so the
 * bytes fed to the builder, the expected piece space and files on disk can
 * be produced independently. Include after <cmocka.h>.
 */
#ifndef SHOAL_TEST_TORRENT_FIXTURE_H
#define SHOAL_TEST_TORRENT_FIXTURE_H

#include <shoal/bencode.h>
#include <shoal/metainfo.h>
#include <shoal/mkinfo.h>

#include <stdlib.h>
#include <string.h>

typedef struct fx_spec {
    const char *path; /* relative path; NULL for a single-file torrent */
    uint64_t len;
    bool exec;
} fx_spec;

typedef struct fx {
    sh_metainfo *mi;
    uint8_t *space; /* the whole piece space: file bytes, pads zero */
} fx;

static inline uint64_t fx_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t fx_seed(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (; *key; key++)
        h = (h ^ (uint8_t)*key) * 1099511628211ull;
    return h;
}

/* len bytes of the file named key, from offset off. */
static inline void fx_content(const char *key, uint64_t off, uint8_t *out, size_t len)
{
    uint64_t seed = fx_seed(key);
    for (size_t i = 0; i < len; i++) {
        uint64_t pos = off + i;
        out[i] = (uint8_t)(fx_mix(seed ^ (pos >> 3)) >> (8 * (pos & 7)));
    }
}

static inline uint8_t *fx_file_bytes(const char *key, uint64_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    fx_content(key, 0, p, len);
    return p;
}

/* The content key of mi->files[i]: its path (for a single file: the name). */
static inline const char *fx_key(const sh_metainfo *mi, uint32_t i)
{
    return mi->files[i].path;
}

static inline void fx_build(fx *t, unsigned version, uint64_t piece_len, const char *name,
                            const fx_spec *files, size_t n)
{
    sh_mkinfo_opts o = {.version = version, .piece_length = piece_len, .name = name};
    sh_mkinfo *m;
    assert_int_equal(sh_mkinfo_new(&o, &m), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sh_mkinfo_add_file(m, files[i].path, files[i].len, files[i].exec), 0);
    assert_int_equal(sh_mkinfo_layout(m), 0);
    uint8_t chunk[65536];
    for (uint32_t k = 0; k < sh_mkinfo_num_files(m); k++) {
        uint64_t len;
        const char *rel = sh_mkinfo_file(m, k, &len);
        const char *key = rel ? rel : name;
        for (uint64_t off = 0; off < len;) {
            size_t c = len - off < sizeof chunk ? (size_t)(len - off) : sizeof chunk;
            fx_content(key, off, chunk, c);
            assert_int_equal(sh_mkinfo_feed(m, chunk, c), 0);
            off += c;
        }
    }
    sh_bbuf b;
    sh_bbuf_init(&b);
    assert_int_equal(sh_mkinfo_finish(m, &b), 0);
    sh_mkinfo_free(m);
    sh_errinfo ei = {0};
    int rc = sh_metainfo_parse(b.data, b.len, &t->mi, &ei);
    if (rc != 0) fail_msg("parse: %s", ei.msg);
    sh_bbuf_free(&b);

    const sh_metainfo *mi = t->mi;
    t->space = calloc(mi->total_size ? mi->total_size : 1, 1);
    assert_non_null(t->space);
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *f = &mi->files[i];
        if (!f->pad) fx_content(fx_key(mi, i), 0, t->space + f->offset, f->length);
    }
}

static inline void fx_free(fx *t)
{
    sh_metainfo_free(t->mi);
    free(t->space);
    t->mi = NULL;
    t->space = NULL;
}

static inline const uint8_t *fx_piece(const fx *t, uint32_t p)
{
    return t->space + (uint64_t)p * t->mi->piece_length;
}

#endif
