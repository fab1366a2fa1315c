/*
 * mkinfo_hash.c — hashing rate of the torrent builder (sh_mkinfo_feed) for
 * v1, v2 and hybrid torrents of one in-memory file. Not a test: it prints
 * figures. One core; the input is generated once and fed in 1 MiB chunks,
 * so the figure is the hashing cost alone, without any disk.
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/mkinfo_hash.c \
 *      build/libshoal_core.a -lcrypto -o /tmp/mkinfo_hash
 *   /tmp/mkinfo_hash [MiB (default 1024)] [piece KiB (default 4096)]
 */
#include <shoal/mkinfo.h>
#include <shoal/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double run(unsigned version, const uint8_t *data, size_t size, uint64_t piece)
{
    sh_mkinfo_opts o = {.version = version, .piece_length = piece, .name = "bench.bin"};
    sh_mkinfo *m;
    if (sh_mkinfo_new(&o, &m) != 0 || sh_mkinfo_add_file(m, NULL, size, false) != 0 ||
        sh_mkinfo_layout(m) != 0) {
        fprintf(stderr, "setup failed\n");
        exit(1);
    }
    double t0 = now_s();
    const size_t chunk = 1u << 20;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (sh_mkinfo_feed(m, data + off, n) != 0) exit(1);
    }
    sh_bbuf b;
    sh_bbuf_init(&b);
    if (sh_mkinfo_finish(m, &b) != 0) exit(1);
    double dt = now_s() - t0;
    sh_bbuf_free(&b);
    sh_mkinfo_free(m);
    return dt;
}

static double raw(int sha256, const uint8_t *data, size_t size)
{
    uint8_t out[32];
    double t0 = now_s();
    if (sha256)
        sh_sha256(data, size, out);
    else
        sh_sha1(data, size, out);
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    uint64_t piece = (argc > 2 ? strtoull(argv[2], NULL, 10) : 4096) * 1024;
    size_t size = mib << 20;
    uint8_t *data = malloc(size);
    if (data == NULL) return 1;
    uint32_t x = 1;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 24);
    }
    double gb = (double)size / 1e9;
    printf("input %zu MiB, piece %llu KiB, feed chunk 1 MiB\n", mib,
           (unsigned long long)(piece / 1024));
    printf("raw sha1     %6.2f GB/s\n", gb / raw(0, data, size));
    printf("raw sha256   %6.2f GB/s\n", gb / raw(1, data, size));
    static const struct {
        const char *name;
        unsigned v;
    } kinds[] = {{"v1", SH_META_V1}, {"v2", SH_META_V2}, {"hybrid", SH_META_HYBRID}};
    for (size_t k = 0; k < 3; k++)
        printf("mkinfo %-6s %6.2f GB/s\n", kinds[k].name, gb / run(kinds[k].v, data, size, piece));
    free(data);
    return 0;
}
