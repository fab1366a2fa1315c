/*
 * magnet.c — the BEP 9 magnet link of a loaded torrent: xt=urn:btih for
 * v1 and hybrids, xt=urn:btmh (multihash: 0x12 = SHA-256, 0x20 = 32 bytes)
 * for v2 and hybrids, dn= the name, tr= every tracker of every tier.
 * Values are percent-encoded except RFC 3986 unreserved characters.
 */
#include "metainfo_int.h"

#include <string.h>

static void put(sh_bbuf *b, const char *s)
{
    sh_bbuf_raw(b, s, strlen(s));
}

static void put_encoded(sh_bbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (plain)
            sh_bbuf_raw(b, p, 1);
        else
            sh_bbuf_raw(b, esc, 3);
    }
}

char *sh_metainfo_magnet(const sh_metainfo *mi)
{
    if (!mi) return NULL;
    sh_bbuf b;
    sh_bbuf_init(&b);
    char hex[65];
    put(&b, "magnet:?");
    if (mi->version & SH_META_V1) {
        put(&b, "xt=urn:btih:");
        put(&b, sh_hex(mi->info_hash_v1, 20, hex));
    }
    if (mi->version & SH_META_V2) {
        put(&b, mi->version & SH_META_V1 ? "&xt=urn:btmh:1220" : "xt=urn:btmh:1220");
        put(&b, sh_hex(mi->info_hash_v2, 32, hex));
    }
    if (mi->name) {
        put(&b, "&dn=");
        put_encoded(&b, mi->name);
    }
    for (uint32_t t = 0; t < mi->num_tiers; t++) {
        for (uint32_t u = 0; u < mi->tiers[t].count; u++) {
            put(&b, "&tr=");
            put_encoded(&b, mi->tiers[t].urls[u]);
        }
    }
    sh_bbuf_raw(&b, "", 1); /* the terminating NUL */
    return (char *)sh_bbuf_take(&b, NULL);
}
