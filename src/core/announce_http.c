/*
 * announce_http.c — the tracker's end of HTTP announce and scrape (BEP 3,
 * BEP 23, BEP 7, BEP 48): a raw query string in, a bencoded body out.
 *
 * The query is hostile bytes. Rules, applied in this order:
 * - longer than SH_QUERY_MAX: refused before anything is read;
 * - pairs are split on '&', key from value on the first '='; empty pairs and
 *   unknown keys are skipped; a repeated key keeps its first value (so a
 *   second "info_hash=" cannot smuggle in another torrent);
 * - percent escapes must be complete ("%4" at the end, "%zz" are errors in a
 *   known parameter); '+' stays '+' (it means space only in HTML forms, and
 *   info_hash bytes are binary);
 * - info_hash and peer_id decode to exactly 20 bytes (any byte, %00 too);
 * - port 1..65535, uploaded/downloaded/left plain unsigned decimals that fit
 *   64 bits; numwant any decimal, capped; event one of the BEP 3/21 names;
 * - the peer's IP is always the TCP peer's; an "ip=" parameter is ignored,
 *   since trusting it would let anyone point a swarm at a third party.
 * Each refusal leaves a short reason in ei->msg for the "failure reason".
 */
#include "announce_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A scrape names up to SH_SCRAPE_MAX hashes of 60 escaped characters each. */
#define SCRAPE_QUERY_MAX (SH_QUERY_MAX + 72u * SH_SCRAPE_MAX)

enum { DEC_OK = 0, DEC_BAD = -1, DEC_LONG = -2 };

typedef struct param {
    const char *k, *v;
    size_t klen, vlen;
    size_t off; /* offset of the pair in the query, for ei->offset */
} param;

enum {
    K_INFO_HASH,
    K_PEER_ID,
    K_PORT,
    K_UPLOADED,
    K_DOWNLOADED,
    K_LEFT,
    K_EVENT,
    K_COMPACT,
    K_NO_PEER_ID,
    K_NUMWANT,
    K_KEY,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "info_hash", "peer_id", "port",       "uploaded", "downloaded", "left",
    "event",     "compact", "no_peer_id", "numwant",  "key",
};

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into dst (at most cap bytes). */
static int pct_decode(const char *s, size_t n, uint8_t *dst, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3) return DEC_BAD;
            int hi = hexv((unsigned char)s[i + 1]), lo = hexv((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) return DEC_BAD;
            c = hi << 4 | lo;
            i += 2;
        }
        if (o == cap) return DEC_LONG;
        dst[o++] = (uint8_t)c;
    }
    *outlen = o;
    return DEC_OK;
}

/* The next non-empty "key=value" pair at or after *pos; false at the end. */
static bool next_param(const char *q, size_t len, size_t *pos, param *p)
{
    while (*pos < len) {
        size_t start = *pos;
        const char *amp = memchr(q + start, '&', len - start);
        size_t end = amp ? (size_t)(amp - q) : len;
        *pos = amp ? end + 1 : len;
        if (end == start) continue;
        const char *eq = memchr(q + start, '=', end - start);
        size_t kend = eq ? (size_t)(eq - q) : end;
        p->k = q + start;
        p->klen = kend - start;
        p->v = q + (eq ? kend + 1 : end);
        p->vlen = eq ? end - kend - 1 : 0;
        p->off = start;
        return true;
    }
    return false;
}

/* Which known key p names (keys may be escaped too), or K_COUNT. */
static int key_id(const param *p)
{
    uint8_t k[16];
    size_t n;
    if (pct_decode(p->k, p->klen, k, sizeof k, &n) != DEC_OK) return K_COUNT;
    for (int i = 0; i < K_COUNT; i++)
        if (strlen(key_names[i]) == n && memcmp(key_names[i], k, n) == 0) return i;
    return K_COUNT;
}

/* A 20-byte binary value (info_hash, peer_id). */
static int parse_id20(const param *p, const char *name, uint8_t out[20], sh_errinfo *ei)
{
    size_t n = 0;
    int rc = pct_decode(p->v, p->vlen, out, 20, &n);
    if (rc == DEC_BAD) return sh_errinfo_set(ei, SH_EINVAL, p->off, "bad escape in %s", name);
    if (rc == DEC_LONG || n != 20)
        return sh_errinfo_set(ei, SH_EINVAL, p->off, "%s must be 20 bytes", name);
    return 0;
}

/* Decodes a short textual value into buf (NUL-terminated); false if bad or long. */
static bool short_value(const param *p, char *buf, size_t cap, size_t *n)
{
    if (pct_decode(p->v, p->vlen, (uint8_t *)buf, cap - 1, n) != DEC_OK) return false;
    buf[*n] = 0;
    return true;
}

/* Plain unsigned decimal that fits 64 bits: no sign, no space, not empty. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Decimal digits, saturating at cap (numwant=1000000000000 is just "many"). */
static bool parse_capped(const char *s, size_t n, uint32_t cap, uint32_t *out)
{
    if (n == 0) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > cap) v = cap;
    }
    *out = (uint32_t)v;
    return true;
}

static bool parse_event(const char *s, size_t n, sh_tevent *ev)
{
    static const struct {
        const char *name;
        sh_tevent ev;
    } names[] = {{"", SH_TEV_NONE},
                 {"started", SH_TEV_STARTED},
                 {"completed", SH_TEV_COMPLETED},
                 {"stopped", SH_TEV_STOPPED},
                 {"paused", SH_TEV_PAUSED}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == n && memcmp(s, names[i].name, n) == 0) {
            *ev = names[i].ev;
            return true;
        }
    }
    return false;
}

/* "key": clients send 8 hex digits; anything else is folded into 32 bits. */
static uint32_t parse_key(const char *s, size_t n)
{
    uint32_t v = 0;
    bool hex = n > 0 && n <= 8;
    for (size_t i = 0; hex && i < n; i++) {
        int d = hexv((unsigned char)s[i]);
        if (d < 0) hex = false;
        v = v << 4 | (uint32_t)(d & 15);
    }
    if (hex) return v;
    v = 2166136261u; /* FNV-1a: only needs to be stable, not strong */
    for (size_t i = 0; i < n; i++)
        v = (v ^ (uint8_t)s[i]) * 16777619u;
    return v;
}

/* Parses one numeric or textual parameter into out. */
static int parse_scalar(int id, const param *p, sh_announce_req *out, sh_errinfo *ei)
{
    char buf[72];
    size_t n = 0;
    bool ok = short_value(p, buf, sizeof buf, &n);
    uint64_t v = 0;
    switch (id) {
    case K_PORT:
        ok = ok && parse_u64(buf, n, &v) && v >= 1 && v <= 65535;
        out->addr.port = (uint16_t)v;
        break;
    case K_UPLOADED:
        ok = ok && parse_u64(buf, n, &out->uploaded);
        break;
    case K_DOWNLOADED:
        ok = ok && parse_u64(buf, n, &out->downloaded);
        break;
    case K_LEFT:
        ok = ok && parse_u64(buf, n, &out->left);
        break;
    case K_EVENT:
        ok = ok && parse_event(buf, n, &out->event);
        break;
    case K_NUMWANT:
        ok = ok && parse_capped(buf, n, SH_NUMWANT_MAX, &out->numwant);
        break;
    case K_COMPACT:
        out->compact = !(ok && n == 1 && buf[0] == '0');
        return 0;
    case K_NO_PEER_ID:
        out->no_peer_id = !(ok && n == 1 && buf[0] == '0');
        return 0;
    case K_KEY:
        out->key = ok ? parse_key(buf, n) : 0;
        return 0;
    default:
        return 0;
    }
    if (!ok) return sh_errinfo_set(ei, SH_EINVAL, p->off, "invalid %s", key_names[id]);
    return 0;
}

static int parse_param(int id, const param *p, sh_announce_req *out, sh_errinfo *ei)
{
    if (id == K_INFO_HASH) return parse_id20(p, "info_hash", out->info_hash, ei);
    if (id == K_PEER_ID) return parse_id20(p, "peer_id", out->peer_id, ei);
    return parse_scalar(id, p, out, ei);
}

static int check_required(unsigned seen, size_t len, sh_errinfo *ei)
{
    static const int required[] = {K_INFO_HASH, K_PEER_ID, K_PORT, K_LEFT};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!(seen & 1u << required[i]))
            return sh_errinfo_set(ei, SH_EINVAL, len, "missing %s", key_names[required[i]]);
    return 0;
}

void sh_ann_unmap(const sh_addr *in, sh_addr *out)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    *out = *in;
    if (in->family == 6 && memcmp(in->ip, mapped, 12) == 0) {
        memset(out->ip, 0, sizeof out->ip);
        memcpy(out->ip, in->ip + 12, 4);
        out->family = 4;
    }
}

int sh_http_announce_parse(const char *query, size_t len, const sh_addr *remote,
                           sh_announce_req *out, sh_errinfo *ei)
{
    if (!remote || (remote->family != 4 && remote->family != 6))
        return sh_errinfo_set(ei, SH_EINVAL, 0, "unknown remote address");
    if (len > SH_QUERY_MAX) return sh_errinfo_set(ei, SH_EINVAL, 0, "query too long");
    if (len > 0 && !query) return sh_errinfo_set(ei, SH_EINVAL, 0, "missing query");
    sh_announce_req r;
    memset(&r, 0, sizeof r);
    r.numwant = SH_NUMWANT_DEFAULT;
    r.compact = true;
    unsigned seen = 0;
    size_t pos = 0;
    param p;
    while (next_param(query, len, &pos, &p)) {
        int id = key_id(&p);
        if (id == K_COUNT || (seen & 1u << id)) continue;
        seen |= 1u << id;
        int rc = parse_param(id, &p, &r, ei);
        if (rc) return rc;
    }
    int rc = check_required(seen, len, ei);
    if (rc) return rc;
    uint16_t port = r.addr.port;
    sh_ann_unmap(remote, &r.addr);
    r.addr.port = port;
    r.want_v6 = r.addr.family == 6;
    *out = r;
    return 0;
}

int sh_http_scrape_parse(const char *query, size_t len, uint8_t (*hashes)[20], uint32_t max,
                         uint32_t *n, sh_errinfo *ei)
{
    if (len > SCRAPE_QUERY_MAX) return sh_errinfo_set(ei, SH_EINVAL, 0, "query too long");
    if (len > 0 && !query) return sh_errinfo_set(ei, SH_EINVAL, 0, "missing query");
    uint32_t count = 0;
    size_t pos = 0;
    param p;
    while (next_param(query, len, &pos, &p)) {
        if (key_id(&p) != K_INFO_HASH) continue;
        if (count >= max)
            return sh_errinfo_set(ei, SH_EINVAL, p.off, "too many info_hash (at most %u)", max);
        int rc = parse_id20(&p, "info_hash", hashes[count], ei);
        if (rc) return rc;
        count++;
    }
    *n = count;
    return 0;
}

/* ---- encoding ---- */

void sh_ann_ip_text(const sh_addr *a, char *out)
{
    char tmp[SH_ADDR_STRLEN];
    sh_addr_format(a, tmp, sizeof tmp);
    const char *start = tmp, *end = strrchr(tmp, ':');
    if (a->family == 6) {
        start = tmp + 1;
        end = strrchr(tmp, ']');
    }
    size_t n = end && end >= start ? (size_t)(end - start) : 0;
    memcpy(out, start, n);
    out[n] = 0;
}

/* A string header "N:" without its bytes, which the caller appends. */
static void str_header(sh_bbuf *b, size_t n)
{
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%zu:", n);
    sh_bbuf_raw(b, tmp, (size_t)k);
}

/* One compact string ("peers" or "peers6") of the peers of one family. */
static void compact_peers(sh_bbuf *b, const char *key, const sh_announce_reply *r, int family)
{
    size_t count = 0, each = family == 4 ? 6 : 18;
    for (uint32_t i = 0; i < r->num_peers; i++)
        count += r->peers[i].addr.family == family;
    if (count == 0 && family == 6) return; /* peers6 only when there is something */
    sh_benc_cstr(b, key);
    str_header(b, count * each);
    for (uint32_t i = 0; i < r->num_peers; i++) {
        if (r->peers[i].addr.family != family) continue;
        uint8_t c[18];
        sh_bbuf_raw(b, c, sh_addr_to_compact(&r->peers[i].addr, c));
    }
}

static void dict_peers(sh_bbuf *b, const sh_announce_reply *r, bool no_peer_id)
{
    sh_benc_cstr(b, "peers");
    sh_benc_list_begin(b);
    for (uint32_t i = 0; i < r->num_peers; i++) {
        const sh_tpeer *p = &r->peers[i];
        if (p->addr.family != 4 && p->addr.family != 6) continue;
        char ip[SH_ADDR_STRLEN];
        sh_ann_ip_text(&p->addr, ip);
        sh_benc_dict_begin(b);
        sh_benc_kv_cstr(b, "ip", ip);
        if (!no_peer_id && p->has_peer_id) sh_benc_kv_str(b, "peer id", p->peer_id, 20);
        sh_benc_kv_int(b, "port", p->addr.port);
        sh_benc_end(b);
    }
    sh_benc_end(b);
}

void sh_http_announce_encode(sh_bbuf *b, const sh_announce_reply *r, bool compact, bool no_peer_id)
{
    if (r->failure[0]) {
        sh_http_failure_encode(b, r->failure, 0);
        return;
    }
    /* keys in byte order, as bencode demands */
    sh_benc_dict_begin(b);
    sh_benc_kv_int(b, "complete", r->complete);
    sh_benc_kv_int(b, "downloaded", r->downloaded);
    sh_benc_kv_int(b, "incomplete", r->incomplete);
    sh_benc_kv_int(b, "interval", r->interval);
    if (r->min_interval) sh_benc_kv_int(b, "min interval", r->min_interval);
    if (compact) {
        compact_peers(b, "peers", r, 4);
        compact_peers(b, "peers6", r, 6);
    } else {
        dict_peers(b, r, no_peer_id);
    }
    if (r->warning[0]) sh_benc_kv_cstr(b, "warning message", r->warning);
    sh_benc_end(b);
}

void sh_http_failure_encode(sh_bbuf *b, const char *reason, uint32_t retry_in)
{
    sh_benc_dict_begin(b);
    sh_benc_kv_cstr(b, "failure reason", reason);
    if (retry_in) sh_benc_kv_int(b, "retry in", retry_in);
    sh_benc_end(b);
}

static int cmp_entry(const void *a, const void *b)
{
    const sh_scrape_entry *x = *(const sh_scrape_entry *const *)a;
    const sh_scrape_entry *y = *(const sh_scrape_entry *const *)b;
    return memcmp(x->info_hash, y->info_hash, 20);
}

void sh_http_scrape_encode(sh_bbuf *b, const sh_scrape_entry *e, uint32_t n)
{
    /* Keys must be sorted and unique: sort pointers, skip repeats. */
    const sh_scrape_entry **v = n ? malloc((size_t)n * sizeof *v) : NULL;
    if (n && !v) {
        if (!b->err) b->err = SH_ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        v[i] = &e[i];
    if (n > 1) qsort(v, n, sizeof *v, cmp_entry);
    sh_benc_dict_begin(b);
    sh_benc_cstr(b, "files");
    sh_benc_dict_begin(b);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0 && memcmp(v[i]->info_hash, v[i - 1]->info_hash, 20) == 0) continue;
        sh_benc_str(b, v[i]->info_hash, 20);
        sh_benc_dict_begin(b);
        sh_benc_kv_int(b, "complete", v[i]->complete);
        sh_benc_kv_int(b, "downloaded", v[i]->downloaded);
        sh_benc_kv_int(b, "incomplete", v[i]->incomplete);
        sh_benc_end(b);
    }
    sh_benc_end(b);
    sh_benc_end(b);
    free(v);
}
