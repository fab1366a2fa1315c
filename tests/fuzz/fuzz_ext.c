/*
 * fuzz_ext.c — the extension-handshake parser on arbitrary bytes.
 *
 * Besides never crashing: whatever is accepted must survive a round trip,
 * parse(encode(parse(x))) == parse(x), field by field, and the client name
 * must come out NUL-terminated and printable.
 */
#include <shoal/ext.h>

#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static void same(const sh_ext_hs *a, const sh_ext_hs *b)
{
    CHECK(a->ut_metadata == b->ut_metadata && a->ut_pex == b->ut_pex);
    CHECK(a->has_port == b->has_port && a->port == b->port);
    CHECK(strcmp(a->client, b->client) == 0);
    CHECK(a->reqq == b->reqq && a->upload_only == b->upload_only);
    CHECK(a->metadata_size == b->metadata_size && a->shoal_block == b->shoal_block);
    CHECK(a->has_yourip == b->has_yourip);
    if (a->has_yourip) {
        CHECK(a->yourip.family == b->yourip.family && a->yourip.port == 0);
        CHECK(memcmp(a->yourip.ip, b->yourip.ip, a->yourip.family == 4 ? 4 : 16) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_ext_hs hs;
    sh_errinfo ei;
    int rc = sh_ext_hs_parse(data, size, &hs, &ei);
    if (rc != 0) {
        CHECK(rc == SH_EPROTO || rc == SH_EBENCODE || rc == SH_ELIMIT || rc == SH_ENOMEM);
        return 0;
    }
    size_t n = strnlen(hs.client, sizeof hs.client);
    CHECK(n < sizeof hs.client);
    for (size_t i = 0; i < n; i++)
        CHECK(hs.client[i] >= 0x20 && hs.client[i] < 0x7f);
    CHECK(hs.metadata_size >= -1);
    CHECK(!hs.has_port || hs.port > 0);
    CHECK(!hs.has_yourip || hs.yourip.family == 4 || hs.yourip.family == 6);

    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_ext_hs_encode(&b, &hs);
    CHECK(b.err == 0);
    sh_ext_hs back;
    CHECK(sh_ext_hs_parse(b.data, b.len, &back, NULL) == 0);
    same(&hs, &back);
    sh_bbuf_free(&b);
    return 0;
}
