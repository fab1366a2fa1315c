/*
 * pex.c — the ut_pex message codec (BEP 11). See pex.h for the rules of
 * tolerance; the sources of the format are BEP 11 and what libtorrent
 * sends (every key present, flags always written).
 */
#include <shoal/pex.h>

#include <stdio.h>
#include <string.h>

#define PEX_MAX_DEPTH 4u
#define PEX_MAX_NODES 256u

/* An address worth dialing: a port, and not 0.0.0.0 / ::. */
static bool usable(const sh_addr *a)
{
    static const uint8_t zero[16];
    return a->port != 0 && memcmp(a->ip, zero, a->family == 4 ? 4 : 16) != 0;
}

/* The string value of key k if its length is a whole number of entries of
 * `esize` bytes; else NULL (a wrong length makes the whole list junk). */
static const sh_bnode *list_of(const sh_bnode *root, const char *k, size_t esize, uint32_t *junk)
{
    const sh_bnode *n = sh_bdict_get_type(root, k, SH_BSTR);
    if (!n) return NULL;
    if (n->v.s.len % esize != 0) {
        (*junk)++;
        return NULL;
    }
    return n;
}

static void read_added(const sh_bnode *root, const char *k, const char *fk, size_t esize,
                       sh_pex_msg *m)
{
    const sh_bnode *a = list_of(root, k, esize, &m->junk);
    if (!a) return;
    size_t count = a->v.s.len / esize;
    const sh_bnode *f = sh_bdict_get_type(root, fk, SH_BSTR);
    if (f && f->v.s.len != count) f = NULL; /* flags that do not line up mean nothing */
    uint32_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        sh_addr addr;
        if (kept == SH_PEX_MAX_LIST) {
            m->junk += (uint32_t)(count - i);
            break;
        }
        if (sh_addr_from_compact(a->v.s.ptr + i * esize, esize, &addr) < 0 || !usable(&addr)) {
            m->junk++;
            continue;
        }
        m->added[m->nadded++] = (sh_pex_peer){addr, f ? f->v.s.ptr[i] : 0};
        kept++;
    }
}

static void read_dropped(const sh_bnode *root, const char *k, size_t esize, sh_pex_msg *m)
{
    const sh_bnode *d = list_of(root, k, esize, &m->junk);
    if (!d) return;
    size_t count = d->v.s.len / esize;
    uint32_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        sh_addr addr;
        if (kept == SH_PEX_MAX_LIST) {
            m->junk += (uint32_t)(count - i);
            break;
        }
        if (sh_addr_from_compact(d->v.s.ptr + i * esize, esize, &addr) < 0 || !usable(&addr)) {
            m->junk++;
            continue;
        }
        m->dropped[m->ndropped++] = addr;
        kept++;
    }
}

int sh_pex_parse(const uint8_t *p, size_t len, sh_pex_msg *out, sh_errinfo *ei)
{
    if (!out || (!p && len)) return SH_EINVAL;
    if (len > SH_PEX_MAX_MSG)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "ut_pex message of %zu bytes (limit %u)", len,
                              SH_PEX_MAX_MSG);
    sh_bencode_limits lim = {PEX_MAX_DEPTH, PEX_MAX_NODES, SH_PEX_MAX_MSG};
    sh_bdoc *doc = NULL;
    int rc = sh_bencode_parse(p, len, &lim, &doc, ei);
    if (rc < 0) return rc;
    const sh_bnode *root = sh_bdoc_root(doc);
    if (root->type != SH_BDICT) {
        sh_bdoc_free(doc);
        return sh_errinfo_set(ei, SH_EPROTO, 0, "ut_pex message is not a dictionary");
    }
    out->nadded = out->ndropped = out->junk = 0;
    read_added(root, "added", "added.f", 6, out);
    read_added(root, "added6", "added6.f", 18, out);
    read_dropped(root, "dropped", 6, out);
    read_dropped(root, "dropped6", 18, out);
    sh_bdoc_free(doc);
    return 0;
}

/* ---- encoding ---- */

/* Appends one bencoded string holding the compact entries of one family
 * (or, with flags, their flag bytes), written in place without a copy. */
static void put_addrs(sh_bbuf *b, const sh_pex_peer *pp, const sh_addr *aa, uint32_t n,
                      uint8_t family, bool flags)
{
    size_t esize = family == 4 ? 6 : 18, count = 0;
    for (uint32_t i = 0; i < n; i++)
        count += (pp ? pp[i].addr.family : aa[i].family) == family;
    char hdr[24];
    int hl = snprintf(hdr, sizeof hdr, "%zu:", flags ? count : count * esize);
    sh_bbuf_raw(b, hdr, (size_t)hl);
    for (uint32_t i = 0; i < n; i++) {
        const sh_addr *a = pp ? &pp[i].addr : &aa[i];
        if (a->family != family) continue;
        if (flags) {
            sh_bbuf_raw(b, &pp[i].flags, 1);
        } else {
            uint8_t c[18];
            sh_bbuf_raw(b, c, sh_addr_to_compact(a, c));
        }
    }
}

static bool any_of(const sh_pex_peer *pp, const sh_addr *aa, uint32_t n, uint8_t family)
{
    for (uint32_t i = 0; i < n; i++)
        if ((pp ? pp[i].addr.family : aa[i].family) == family) return true;
    return false;
}

/* Keys in raw byte order: added, added.f, added6, added6.f, dropped, dropped6. */
void sh_pex_encode(sh_bbuf *b, const sh_pex_peer *added, uint32_t nadded, const sh_addr *dropped,
                   uint32_t ndropped)
{
    sh_benc_dict_begin(b);
    sh_benc_cstr(b, "added");
    put_addrs(b, added, NULL, nadded, 4, false);
    sh_benc_cstr(b, "added.f");
    put_addrs(b, added, NULL, nadded, 4, true);
    if (any_of(added, NULL, nadded, 6)) {
        sh_benc_cstr(b, "added6");
        put_addrs(b, added, NULL, nadded, 6, false);
        sh_benc_cstr(b, "added6.f");
        put_addrs(b, added, NULL, nadded, 6, true);
    }
    sh_benc_cstr(b, "dropped");
    put_addrs(b, NULL, dropped, ndropped, 4, false);
    if (any_of(NULL, dropped, ndropped, 6)) {
        sh_benc_cstr(b, "dropped6");
        put_addrs(b, NULL, dropped, ndropped, 6, false);
    }
    sh_benc_end(b);
}
