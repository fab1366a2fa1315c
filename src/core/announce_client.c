/*
 * announce_client.c — a peer's end of HTTP announce: the request URL, and the
 * tracker's bencoded answer as an sh_announce_reply.
 *
 * The answer is hostile bytes. It is parsed with tight bencode limits, at
 * most SH_ANN_MAX_PEERS peers are kept, and a dictionary peer whose "ip" is
 * not an IP literal or whose port is out of range is skipped rather than
 * failing the whole answer: one odd entry must not cost a peer the swarm.
 * A compact string whose length is not a multiple of its entry size is an
 * error, since no entry in it can be trusted to be aligned.
 */
#include "announce_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers bigger than this are not announce answers (2000 dictionary peers ≈ 150 KiB). */
#define MAX_BODY (1u << 20)
#define MAX_NODES (1u << 16)

void sh_announce_reply_free(sh_announce_reply *r)
{
    if (!r) return;
    free(r->peers);
    r->peers = NULL;
    r->num_peers = 0;
}

void sh_ann_copy_text(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    if (cap == 0) return;
    if (n > cap - 1) n = cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
    dst[n] = 0;
}

/* ---- the URL ---- */

static bool unreserved(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '~';
}

/* Appends the escaped bytes at u + *o; room was reserved by the caller. */
static void put_escaped(char *u, size_t *o, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        if (unreserved(p[i])) {
            u[(*o)++] = (char)p[i];
        } else {
            u[(*o)++] = '%';
            u[(*o)++] = hex[p[i] >> 4];
            u[(*o)++] = hex[p[i] & 15];
        }
    }
}

static const char *event_name(sh_tevent ev)
{
    switch (ev) {
    case SH_TEV_STARTED:
        return "started";
    case SH_TEV_COMPLETED:
        return "completed";
    case SH_TEV_STOPPED:
        return "stopped";
    case SH_TEV_PAUSED:
        return "paused";
    default:
        return NULL;
    }
}

/* The separator between base and our parameters: '?', '&' or nothing. */
static const char *url_separator(const char *base, size_t blen)
{
    if (!memchr(base, '?', blen)) return "?";
    if (base[blen - 1] == '?' || base[blen - 1] == '&') return "";
    return "&";
}

/* Room for everything after base: 2 × 60 escaped bytes and a few numbers. */
#define URL_TAIL_MAX 400u

char *sh_http_announce_url(const char *base, const sh_announce_req *r)
{
    size_t blen = strlen(base);
    if (blen > SIZE_MAX - URL_TAIL_MAX) return NULL;
    size_t cap = blen + URL_TAIL_MAX;
    char *u = malloc(cap);
    if (!u) return NULL;
    memcpy(u, base, blen);
    size_t o = blen;
    o += (size_t)snprintf(u + o, cap - o, "%sinfo_hash=", url_separator(base, blen));
    put_escaped(u, &o, r->info_hash, 20);
    o += (size_t)snprintf(u + o, cap - o, "&peer_id=");
    put_escaped(u, &o, r->peer_id, 20);
    o += (size_t)snprintf(u + o, cap - o,
                          "&port=%u&uploaded=%" PRIu64 "&downloaded=%" PRIu64 "&left=%" PRIu64,
                          (unsigned)r->addr.port, r->uploaded, r->downloaded, r->left);
    const char *ev = event_name(r->event);
    if (ev) o += (size_t)snprintf(u + o, cap - o, "&event=%s", ev);
    snprintf(u + o, cap - o, "&compact=1&numwant=%u&key=%08" PRIX32, (unsigned)r->numwant, r->key);
    return u;
}

/* ---- the answer ---- */

static uint32_t clamp_u32(const sh_bnode *n)
{
    if (!n || n->type != SH_BINT || n->v.i < 0) return 0;
    return n->v.i > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n->v.i;
}

static int check_compact(const sh_bnode *s, size_t each, const char *key, sh_errinfo *ei)
{
    if (!s || s->v.s.len % each == 0) return 0;
    return sh_errinfo_set(ei, SH_EPROTO, 0, "%s length %zu is not a multiple of %zu", key,
                          s->v.s.len, each);
}

/* Appends the compact entries of size each in string s (length checked). */
static void add_compact(const sh_bnode *s, size_t each, sh_announce_reply *out, uint32_t cap)
{
    for (size_t off = 0; s && off < s->v.s.len && out->num_peers < cap; off += each) {
        sh_tpeer *p = &out->peers[out->num_peers];
        memset(p, 0, sizeof *p);
        if (sh_addr_from_compact(s->v.s.ptr + off, each, &p->addr) == 0 && p->addr.port)
            out->num_peers++;
    }
}

/* One dictionary peer {ip, port, peer id?}; false when unusable. */
static bool dict_peer(const sh_bnode *d, sh_tpeer *p)
{
    const sh_bnode *ip = sh_bdict_get_type(d, "ip", SH_BSTR);
    const sh_bnode *port = sh_bdict_get_type(d, "port", SH_BINT);
    const sh_bnode *id = sh_bdict_get_type(d, "peer id", SH_BSTR);
    if (!ip || !port || port->v.i < 1 || port->v.i > 65535) return false;
    memset(p, 0, sizeof *p);
    if (sh_addr_parse_ip((const char *)ip->v.s.ptr, ip->v.s.len, &p->addr)) return false;
    p->addr.port = (uint16_t)port->v.i;
    if (id && id->v.s.len == 20) {
        memcpy(p->peer_id, id->v.s.ptr, 20);
        p->has_peer_id = true;
    }
    return true;
}

static void add_dict_peers(const sh_bnode *list, sh_announce_reply *out, uint32_t cap)
{
    for (const sh_bnode *e = sh_bnode_first(list); e && out->num_peers < cap;
         e = sh_bnode_next(list, e)) {
        if (e->type == SH_BDICT && dict_peer(e, &out->peers[out->num_peers])) out->num_peers++;
    }
}

/* Upper bound on the peers the answer can yield, capped. */
static uint32_t peer_room(const sh_bnode *peers, const sh_bnode *peers6)
{
    size_t n = 0;
    if (peers && peers->type == SH_BSTR) n += peers->v.s.len / 6;
    if (peers && peers->type == SH_BLIST) n += peers->count;
    if (peers6) n += peers6->v.s.len / 18;
    return n > SH_ANN_MAX_PEERS ? SH_ANN_MAX_PEERS : (uint32_t)n;
}

static int decode_peers(const sh_bnode *root, sh_announce_reply *out, sh_errinfo *ei)
{
    const sh_bnode *peers = sh_bdict_get(root, "peers");
    const sh_bnode *peers6 = sh_bdict_get_type(root, "peers6", SH_BSTR);
    if (peers && peers->type != SH_BSTR && peers->type != SH_BLIST)
        return sh_errinfo_set(ei, SH_EPROTO, 0, "peers is neither a string nor a list");
    const sh_bnode *compact = peers && peers->type == SH_BSTR ? peers : NULL;
    int rc = check_compact(compact, 6, "peers", ei);
    if (rc == 0) rc = check_compact(peers6, 18, "peers6", ei);
    if (rc) return rc;
    uint32_t cap = peer_room(peers, peers6);
    if (cap == 0) return 0;
    out->peers = malloc((size_t)cap * sizeof *out->peers);
    if (!out->peers) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    add_compact(compact, 6, out, cap);
    if (peers && peers->type == SH_BLIST) add_dict_peers(peers, out, cap);
    add_compact(peers6, 18, out, cap);
    return 0;
}

static void decode_text(const sh_bnode *root, const char *key, char *dst, size_t cap)
{
    const sh_bnode *s = sh_bdict_get_type(root, key, SH_BSTR);
    if (s) sh_ann_copy_text(dst, cap, s->v.s.ptr, s->v.s.len);
}

static int decode_root(const sh_bnode *root, sh_announce_reply *r, sh_errinfo *ei)
{
    if (root->type != SH_BDICT)
        return sh_errinfo_set(ei, SH_EPROTO, 0, "answer is not a dictionary");
    decode_text(root, "failure reason", r->failure, sizeof r->failure);
    if (r->failure[0]) return sh_errinfo_set(ei, SH_ETRACKER, 0, "tracker: %s", r->failure);
    decode_text(root, "warning message", r->warning, sizeof r->warning);
    r->interval = clamp_u32(sh_bdict_get(root, "interval"));
    r->min_interval = clamp_u32(sh_bdict_get(root, "min interval"));
    r->complete = clamp_u32(sh_bdict_get(root, "complete"));
    r->incomplete = clamp_u32(sh_bdict_get(root, "incomplete"));
    r->downloaded = clamp_u32(sh_bdict_get(root, "downloaded"));
    return decode_peers(root, r, ei);
}

int sh_http_announce_decode(const uint8_t *body, size_t len, sh_announce_reply *out, sh_errinfo *ei)
{
    if (len > MAX_BODY) return sh_errinfo_set(ei, SH_ELIMIT, 0, "answer too large");
    sh_bencode_limits lim = {.max_depth = 8, .max_nodes = MAX_NODES, .max_input = MAX_BODY};
    sh_bdoc *doc = NULL;
    int rc = sh_bencode_parse(body, len, &lim, &doc, ei);
    if (rc) return rc;
    sh_announce_reply r;
    memset(&r, 0, sizeof r);
    rc = decode_root(sh_bdoc_root(doc), &r, ei);
    sh_bdoc_free(doc);
    if (rc == 0 || rc == SH_ETRACKER) {
        *out = r; /* a failure answer is still an answer: out->failure says why */
        return rc;
    }
    sh_announce_reply_free(&r);
    return rc;
}
