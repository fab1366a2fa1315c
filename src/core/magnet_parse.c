/*
 * magnet_parse.c — reading magnet links (magnet.h), and the .torrent a
 * fetched info dictionary becomes.
 *
 * The query is split on '&'; each "key=value" is percent-decoded ('+' is a
 * space, as in HTML forms and libtorrent). Keys may carry an index suffix
 * ("xt.1", "tr.2"), as BEP 9 allows. Sources: BEP 9 (xt, dn, tr, x.pe),
 * BEP 52 (btmh), RFC 4648 (base32), RFC 3986 (percent-encoding).
 */
#include <shoal/magnet.h>

#include <stdlib.h>
#include <string.h>

typedef struct mparse {
    sh_magnet *m;
    sh_errinfo *ei;
    size_t off; /* of the current parameter, for error offsets */
} mparse;

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool prefix_ci(const char *s, size_t len, const char *pre)
{
    size_t n = strlen(pre);
    if (len < n) return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != pre[i]) return false;
    return true;
}

bool sh_magnet_is_link(const char *s)
{
    return s && prefix_ci(s, strlen(s), "magnet:");
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..len) into out (NUL-terminated; at most SH_MAGNET_MAX_VALUE bytes). */
static int decode(mparse *mp, const char *what, const char *s, size_t len, char *out,
                  size_t *outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return sh_errinfo_set(mp->ei, SH_EINVAL, mp->off + i,
                                      "%s: '%%' is not followed by two hex digits", what);
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0)
            return sh_errinfo_set(mp->ei, SH_EINVAL, mp->off + i, "%s contains a NUL byte", what);
        if (n == SH_MAGNET_MAX_VALUE)
            return sh_errinfo_set(mp->ei, SH_ELIMIT, mp->off, "%s is longer than %u bytes", what,
                                  SH_MAGNET_MAX_VALUE);
        out[n++] = (char)c;
    }
    out[n] = 0;
    *outlen = n;
    return 0;
}

/* ---- hashes ---- */

static int base32_val(int c)
{
    c = lower(c);
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

/* 32 base32 digits → 20 bytes (160 bits exactly, no padding). */
static int unbase32(const char *s, uint8_t out[20])
{
    uint32_t acc = 0, bits = 0, n = 0;
    for (size_t i = 0; i < 32; i++) {
        int v = base32_val((unsigned char)s[i]);
        if (v < 0) return SH_EINVAL;
        acc = acc << 5 | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return 0;
}

static int set_hash(mparse *mp, bool *has, uint8_t *dst, const uint8_t *h, size_t n,
                    const char *kind)
{
    if (*has && memcmp(dst, h, n) != 0)
        return sh_errinfo_set(mp->ei, SH_EINVAL, mp->off, "two different %s hashes", kind);
    memcpy(dst, h, n);
    *has = true;
    return 0;
}

static int read_btih(mparse *mp, const char *v, size_t n)
{
    uint8_t h[20];
    bool ok = (n == 40 && sh_unhex(v, 40, h, 20) == 0) || (n == 32 && unbase32(v, h) == 0);
    if (!ok)
        return sh_errinfo_set(mp->ei, SH_EINVAL, mp->off,
                              "xt=urn:btih: needs 40 hex or 32 base32 digits (got %zu characters)",
                              n);
    return set_hash(mp, &mp->m->has_v1, mp->m->btih, h, 20, "btih");
}

static int read_btmh(mparse *mp, const char *v, size_t n)
{
    uint8_t h[34];
    if (n != 68 || sh_unhex(v, 68, h, 34) != 0)
        return sh_errinfo_set(mp->ei, SH_EINVAL, mp->off,
                              "xt=urn:btmh: needs a 68-digit hex multihash (got %zu characters)",
                              n);
    if (h[0] != 0x12 || h[1] != 0x20)
        return sh_errinfo_set(mp->ei, SH_EINVAL, mp->off,
                              "xt=urn:btmh: multihash %02x%02x is not SHA-256 (1220)", h[0], h[1]);
    return set_hash(mp, &mp->m->has_v2, mp->m->btmh, h + 2, 32, "btmh");
}

static int read_xt(mparse *mp, const char *v, size_t n)
{
    if (prefix_ci(v, n, "urn:btih:")) return read_btih(mp, v + 9, n - 9);
    if (prefix_ci(v, n, "urn:btmh:")) return read_btmh(mp, v + 9, n - 9);
    return 0; /* another namespace (sha1, ed2k, ...): not ours */
}

/* ---- lists ---- */

static int add_tracker(mparse *mp, const char *v, size_t n)
{
    sh_magnet *m = mp->m;
    if (n == 0) return 0;
    for (uint32_t i = 0; i < m->num_trackers; i++)
        if (strcmp(m->trackers[i], v) == 0) return 0;
    if (m->num_trackers == SH_MAGNET_MAX_TRACKERS) {
        m->ignored++;
        return 0;
    }
    if (!m->trackers && !(m->trackers = calloc(SH_MAGNET_MAX_TRACKERS, sizeof *m->trackers)))
        return SH_ENOMEM;
    char *copy = malloc(n + 1);
    if (!copy) return SH_ENOMEM;
    memcpy(copy, v, n + 1);
    m->trackers[m->num_trackers++] = copy;
    return 0;
}

static int add_peer(mparse *mp, const char *v)
{
    sh_magnet *m = mp->m;
    sh_addr a;
    if (sh_addr_parse(v, &a) < 0 || a.port == 0 || m->num_peers == SH_MAGNET_MAX_PEERS) {
        m->ignored++; /* a host name needs a resolver, which the core has not */
        return 0;
    }
    for (uint32_t i = 0; i < m->num_peers; i++)
        if (sh_addr_eq(&m->peers[i], &a)) return 0;
    if (!m->peers && !(m->peers = calloc(SH_MAGNET_MAX_PEERS, sizeof *m->peers))) return SH_ENOMEM;
    m->peers[m->num_peers++] = a;
    return 0;
}

static int set_name(mparse *mp, const char *v, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy) return SH_ENOMEM;
    memcpy(copy, v, n + 1);
    free(mp->m->name); /* the last dn wins */
    mp->m->name = copy;
    return 0;
}

/* ---- parameters ---- */

/* "xt" matches key "xt" and "xt.<digits>". */
static bool key_is(const char *k, size_t kn, const char *name)
{
    size_t n = strlen(name);
    if (kn < n || memcmp(k, name, n) != 0) return false;
    if (kn == n) return true;
    if (k[n] != '.' || kn == n + 1) return false;
    for (size_t i = n + 1; i < kn; i++)
        if (k[i] < '0' || k[i] > '9') return false;
    return true;
}

static int param(mparse *mp, const char *s, size_t len, char *buf)
{
    const char *eq = memchr(s, '=', len);
    if (!eq) return 0; /* a bare word: nothing we know */
    const char *k = s;
    size_t kn = (size_t)(eq - s), n = 0;
    bool xt = key_is(k, kn, "xt"), tr = key_is(k, kn, "tr");
    bool dn = key_is(k, kn, "dn"), pe = kn == 4 && memcmp(k, "x.pe", 4) == 0;
    if (!xt && !tr && !dn && !pe) return 0; /* ws, xl, so, kt, ...: ignored */
    const char *what = xt ? "xt" : tr ? "tr" : dn ? "dn" : "x.pe";
    int rc = decode(mp, what, eq + 1, len - kn - 1, buf, &n);
    if (rc) return rc;
    if (xt) return read_xt(mp, buf, n);
    if (tr) return add_tracker(mp, buf, n);
    if (dn) return set_name(mp, buf, n);
    return add_peer(mp, buf);
}

static int parse_query(mparse *mp, const char *uri, size_t len)
{
    char *buf = malloc(SH_MAGNET_MAX_VALUE + 1);
    if (!buf) return SH_ENOMEM;
    int rc = 0;
    size_t i = 0;
    while (rc == 0 && i < len) {
        const char *amp = memchr(uri + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - uri) : len;
        mp->off = i;
        if (end > i) rc = param(mp, uri + i, end - i, buf);
        i = end + 1;
    }
    free(buf);
    return rc;
}

int sh_magnet_parse(const char *uri, size_t len, sh_magnet **out, sh_errinfo *ei)
{
    if (!out || (!uri && len)) return SH_EINVAL;
    if (len > SH_MAGNET_MAX_LEN)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "magnet link of %zu bytes (limit %u)", len,
                              SH_MAGNET_MAX_LEN);
    if (!prefix_ci(uri, len, "magnet:?"))
        return sh_errinfo_set(ei, SH_EINVAL, 0, "not a magnet link (must start with magnet:?)");
    if (memchr(uri, 0, len)) return sh_errinfo_set(ei, SH_EINVAL, 0, "magnet link contains NUL");
    sh_magnet *m = calloc(1, sizeof *m);
    if (!m) return SH_ENOMEM;
    mparse mp = {m, ei, 8};
    int rc = parse_query(&mp, uri + 8, len - 8);
    if (rc == 0 && !m->has_v1 && !m->has_v2)
        rc = sh_errinfo_set(ei, SH_EINVAL, 0, "magnet link has no xt=urn:btih: or xt=urn:btmh:");
    if (rc) {
        if (rc == SH_ENOMEM) sh_errinfo_set(ei, rc, 0, "out of memory");
        sh_magnet_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void sh_magnet_free(sh_magnet *m)
{
    if (!m) return;
    for (uint32_t i = 0; i < m->num_trackers; i++)
        free(m->trackers[i]);
    free(m->trackers);
    free(m->peers);
    free(m->name);
    free(m);
}

const uint8_t *sh_magnet_wire_hash(const sh_magnet *m)
{
    return m->has_v1 ? m->btih : m->btmh;
}

/* Keys in byte order: announce, announce-list, info. */
void sh_magnet_torrent(const sh_magnet *m, const uint8_t *info, size_t len, sh_bbuf *out)
{
    sh_benc_dict_begin(out);
    if (m->num_trackers) {
        sh_benc_kv_cstr(out, "announce", m->trackers[0]);
        sh_benc_cstr(out, "announce-list");
        sh_benc_list_begin(out);
        for (uint32_t i = 0; i < m->num_trackers; i++) {
            sh_benc_list_begin(out);
            sh_benc_cstr(out, m->trackers[i]);
            sh_benc_end(out);
        }
        sh_benc_end(out);
    }
    sh_benc_cstr(out, "info");
    sh_bbuf_raw(out, info, len);
    sh_benc_end(out);
}
