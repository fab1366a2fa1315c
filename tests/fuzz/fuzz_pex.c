/*
 * fuzz_pex.c — the ut_pex parser on arbitrary bytes.
 *
 * Besides never crashing: every kept entry is usable (IPv4 or IPv6, a
 * port, not the unspecified address), no list exceeds its bound, and what
 * was accepted survives a round trip: parse(encode(parse(x))) keeps the
 * same entries, flags and order (IPv4 before IPv6 in each list).
 */
#include <shoal/pex.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

static void check_entry(const sh_addr *a)
{
    static const uint8_t zero[16];
    CHECK(a->family == 4 || a->family == 6);
    CHECK(a->port != 0);
    CHECK(memcmp(a->ip, zero, a->family == 4 ? 4 : 16) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sh_pex_msg m, back;
    int rc = sh_pex_parse(data, size, &m, NULL);
    if (rc != 0) {
        CHECK(rc == SH_EPROTO || rc == SH_EBENCODE || rc == SH_ELIMIT || rc == SH_ENOMEM);
        return 0;
    }
    CHECK(m.nadded <= 2 * SH_PEX_MAX_LIST && m.ndropped <= 2 * SH_PEX_MAX_LIST);
    uint32_t v6 = 0;
    for (uint32_t i = 0; i < m.nadded; i++) {
        check_entry(&m.added[i].addr);
        if (m.added[i].addr.family == 6)
            v6++;
        else
            CHECK(v6 == 0); /* IPv4 first */
    }
    for (uint32_t i = 0; i < m.ndropped; i++)
        check_entry(&m.dropped[i]);
    sh_bbuf b;
    sh_bbuf_init(&b);
    sh_pex_encode(&b, m.added, m.nadded, m.dropped, m.ndropped);
    CHECK(b.err == 0);
    CHECK(sh_pex_parse(b.data, b.len, &back, NULL) == 0);
    CHECK(back.nadded == m.nadded && back.ndropped == m.ndropped && back.junk == 0);
    for (uint32_t i = 0; i < m.nadded; i++) {
        CHECK(sh_addr_eq(&back.added[i].addr, &m.added[i].addr));
        CHECK(back.added[i].flags == m.added[i].flags);
    }
    for (uint32_t i = 0; i < m.ndropped; i++)
        CHECK(sh_addr_eq(&back.dropped[i], &m.dropped[i]));
    sh_bbuf_free(&b);
    return 0;
}
