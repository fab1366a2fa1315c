/*
 * fuzz_metainfo.c — the .torrent loader on arbitrary bytes.
 *
 * Whatever the input, the loader must return a code it documents and, on
 * success, an object whose invariants hold: files contiguous in piece
 * space, piece count matching the size, every queried piece inside a file,
 * and the kept info dictionary loading again to the same hashes.
 */
#include <shoal/metainfo.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static void check_layout(const sh_metainfo *mi)
{
    uint64_t pos = 0, content = 0;
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *f = &mi->files[i];
        CHECK(f->path && f->offset == pos);
        CHECK(f->path[0] != '/' && !strstr(f->path, "//"));
        pos += f->length;
        if (!f->pad) content += f->length;
    }
    CHECK(pos == mi->total_size && content == mi->content_size);
    CHECK(mi->num_pieces == (mi->total_size + mi->piece_length - 1) / mi->piece_length);
    CHECK(mi->name && !strchr(mi->name, '/'));
}

static void check_piece(const sh_metainfo *mi, uint32_t p)
{
    uint64_t off = (uint64_t)p * mi->piece_length;
    uint32_t fi = sh_metainfo_file_at(mi, off);
    CHECK(fi < mi->num_files);
    const sh_file *f = &mi->files[fi];
    CHECK(f->offset <= off && off - f->offset < f->length);
    uint32_t size = sh_metainfo_piece_size(mi, p);
    CHECK(size > 0 && size <= mi->piece_length);
    const uint8_t *h;
    uint32_t leaves, dlen;
    int rc = sh_metainfo_piece_v2(mi, p, &h, &leaves, &dlen);
    CHECK(rc == 0 || rc == SH_ENOTFOUND);
    if (rc == 0) CHECK(h && leaves >= 1 && dlen > 0 && dlen <= size);
}

static void check(const sh_metainfo *mi)
{
    check_layout(mi);
    /* Bounded: a small v2 input can describe millions of pieces. */
    for (uint32_t p = 0; p < mi->num_pieces && p < 512; p++)
        check_piece(mi, p);
    for (uint32_t p = mi->num_pieces > 512 ? mi->num_pieces - 512 : 0; p < mi->num_pieces; p++)
        check_piece(mi, p);
    CHECK(sh_metainfo_piece_size(mi, mi->num_pieces) == 0);
    CHECK(sh_metainfo_file_at(mi, mi->total_size) == mi->num_files);
    char *mag = sh_metainfo_magnet(mi);
    CHECK(mag && strncmp(mag, "magnet:?xt=urn:bt", 17) == 0);
    free(mag);
    sh_metainfo *bare = NULL;
    CHECK(sh_metainfo_parse_info(mi->info, mi->info_len, &bare, NULL) == 0);
    CHECK(bare->version == mi->version && bare->num_files == mi->num_files);
    CHECK(memcmp(bare->info_hash_v1, mi->info_hash_v1, 20) == 0);
    CHECK(memcmp(bare->info_hash_v2, mi->info_hash_v2, 32) == 0);
    sh_metainfo_free(bare);
}

static void expect_code(int rc)
{
    CHECK(rc == 0 || rc == SH_EBENCODE || rc == SH_EMETAINFO || rc == SH_EPATH || rc == SH_ELIMIT ||
          rc == SH_ENOMEM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_metainfo *mi = NULL;
    sh_errinfo ei;
    int rc = sh_metainfo_parse(data, size, &mi, &ei);
    expect_code(rc);
    if (rc == 0) {
        check(mi);
        sh_metainfo_free(mi);
    } else {
        CHECK(mi == NULL && strlen(ei.msg) > 0);
    }
    mi = NULL;
    rc = sh_metainfo_parse_info(data, size, &mi, NULL);
    expect_code(rc);
    if (rc == 0) {
        CHECK(!mi->has_piece_layers || mi->version == SH_META_V2 || mi->version == SH_META_HYBRID);
        check(mi);
        sh_metainfo_free(mi);
    }
    return 0;
}
