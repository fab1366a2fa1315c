/*
 * krpc.c — decoding and encoding KRPC messages (BEP 5, 32, 43).
 *
 * Decoding checks the envelope first ("t", then "y"), so that a query whose
 * arguments are wrong can still be answered with error 203 under its own
 * transaction id; everything after that is validated key by key against the
 * rules listed in krpc.h. Lengths are compared before any copy.
 */
#include <shoal/krpc.h>

#include <string.h>

#define KRPC_MAX_DEPTH 8u    /* the deepest legal message is 3 levels */
#define KRPC_MAX_NODES 2048u /* bencode values per datagram */

static int bad(sh_errinfo *ei, const char *what)
{
    return sh_errinfo_set(ei, SH_EKRPC, 0, "krpc: %s", what);
}

/* A string of exactly n bytes under key k, copied to out. */
static bool get_fixed(const sh_bnode *d, const char *k, uint8_t *out, size_t n)
{
    const sh_bnode *s = sh_bdict_get_type(d, k, SH_BSTR);
    if (!s || s->v.s.len != n) return false;
    memcpy(out, s->v.s.ptr, n);
    return true;
}

/* Absent → true with *present false; wrong type or too long → false. */
static bool get_token(const sh_bnode *d, sh_krpc_msg *m, bool *present)
{
    const sh_bnode *t = sh_bdict_get(d, "token");
    *present = t != NULL;
    if (!t) return true;
    if (t->type != SH_BSTR || t->v.s.len > SH_KRPC_MAX_TOKEN) return false;
    m->has_token = true;
    m->token_len = (uint8_t)t->v.s.len;
    if (t->v.s.len) memcpy(m->token, t->v.s.ptr, t->v.s.len);
    return true;
}

static sh_krpc_method method_of(sh_span q)
{
    if (sh_span_eq(q, "ping")) return SH_KRPC_PING;
    if (sh_span_eq(q, "find_node")) return SH_KRPC_FIND_NODE;
    if (sh_span_eq(q, "get_peers")) return SH_KRPC_GET_PEERS;
    if (sh_span_eq(q, "announce_peer")) return SH_KRPC_ANNOUNCE_PEER;
    return SH_KRPC_UNKNOWN;
}

/* announce_peer: info_hash, token, and a port unless implied_port says otherwise. */
static int announce_args(const sh_bnode *a, sh_krpc_msg *m, sh_errinfo *ei)
{
    bool present;
    if (!get_fixed(a, "info_hash", m->target, 20)) return bad(ei, "a.info_hash must be 20 bytes");
    if (!get_token(a, m, &present) || !present)
        return bad(ei, "a.token must be a string of at most 64 bytes");
    const sh_bnode *ip = sh_bdict_get(a, "implied_port");
    if (ip && ip->type != SH_BINT) return bad(ei, "a.implied_port must be an integer");
    m->implied_port = ip && ip->v.i != 0;
    const sh_bnode *p = sh_bdict_get(a, "port");
    if (p && p->type != SH_BINT) return bad(ei, "a.port must be an integer");
    if (m->implied_port) {
        if (p && (p->v.i < 0 || p->v.i > 65535)) return bad(ei, "a.port out of range");
        m->port = p ? (uint16_t)p->v.i : 0;
        return 0;
    }
    if (!p || p->v.i < 1 || p->v.i > 65535) return bad(ei, "a.port must be 1..65535");
    m->port = (uint16_t)p->v.i;
    return 0;
}

static int decode_query(const sh_bnode *root, sh_krpc_msg *m, sh_errinfo *ei)
{
    m->kind = SH_KRPC_QUERY;
    m->answerable = true;
    const sh_bnode *q = sh_bdict_get_type(root, "q", SH_BSTR);
    if (!q) return bad(ei, "query without a method name q");
    const sh_bnode *a = sh_bdict_get_type(root, "a", SH_BDICT);
    if (!a) return bad(ei, "query without an argument dictionary a");
    const sh_bnode *ro = sh_bdict_get_type(root, "ro", SH_BINT);
    m->read_only = ro && ro->v.i == 1;
    if (!get_fixed(a, "id", m->id, 20)) return bad(ei, "a.id must be 20 bytes");
    m->method = method_of(q->v.s);
    switch (m->method) {
    case SH_KRPC_FIND_NODE:
        if (!get_fixed(a, "target", m->target, 20)) return bad(ei, "a.target must be 20 bytes");
        return 0;
    case SH_KRPC_GET_PEERS:
        if (!get_fixed(a, "info_hash", m->target, 20))
            return bad(ei, "a.info_hash must be 20 bytes");
        return 0;
    case SH_KRPC_ANNOUNCE_PEER:
        return announce_args(a, m, ei);
    default:
        return 0;
    }
}

/* A compact node list under key k: a string whose length is a multiple of unit. */
static bool get_nodes(const sh_bnode *r, const char *k, size_t unit, sh_span *out)
{
    const sh_bnode *n = sh_bdict_get(r, k);
    if (!n) return true;
    if (n->type != SH_BSTR || n->v.s.len % unit) return false;
    *out = n->v.s;
    return true;
}

/* The first SH_KRPC_MAX_VALUES entries are checked and kept; later ones are never read. */
static int get_values(const sh_bnode *r, sh_krpc_msg *m, sh_errinfo *ei)
{
    const sh_bnode *v = sh_bdict_get(r, "values");
    if (!v) return 0;
    if (v->type != SH_BLIST) return bad(ei, "r.values must be a list");
    m->has_values = true;
    for (const sh_bnode *e = sh_bnode_first(v); e && m->num_values < SH_KRPC_MAX_VALUES;
         e = sh_bnode_next(v, e)) {
        if (e->type != SH_BSTR ||
            sh_addr_from_compact(e->v.s.ptr, e->v.s.len, &m->values[m->num_values]) != 0)
            return bad(ei, "r.values entries must be 6- or 18-byte strings");
        m->num_values++;
    }
    return 0;
}

static int decode_response(const sh_bnode *root, sh_krpc_msg *m, sh_errinfo *ei)
{
    m->kind = SH_KRPC_RESPONSE;
    const sh_bnode *r = sh_bdict_get_type(root, "r", SH_BDICT);
    if (!r) return bad(ei, "response without a dictionary r");
    if (!get_fixed(r, "id", m->id, 20)) return bad(ei, "r.id must be 20 bytes");
    if (!get_nodes(r, "nodes", SH_KRPC_NODE4_LEN, &m->nodes))
        return bad(ei, "r.nodes must be a string of 26-byte entries");
    if (!get_nodes(r, "nodes6", SH_KRPC_NODE6_LEN, &m->nodes6))
        return bad(ei, "r.nodes6 must be a string of 38-byte entries");
    bool present;
    if (!get_token(r, m, &present)) return bad(ei, "r.token must be a string of at most 64 bytes");
    return get_values(r, m, ei);
}

static int decode_error(const sh_bnode *root, sh_krpc_msg *m, sh_errinfo *ei)
{
    m->kind = SH_KRPC_ERROR;
    const sh_bnode *e = sh_bdict_get_type(root, "e", SH_BLIST);
    const sh_bnode *code = e ? sh_bnode_first(e) : NULL;
    const sh_bnode *msg = code ? sh_bnode_next(e, code) : NULL;
    if (!msg || code->type != SH_BINT || msg->type != SH_BSTR)
        return bad(ei, "error e must be a list [code, message]");
    m->err_code = code->v.i;
    m->err_msg = msg->v.s;
    return 0;
}

static int decode_root(const sh_bnode *root, sh_krpc_msg *m, sh_errinfo *ei)
{
    if (root->type != SH_BDICT) return bad(ei, "message is not a dictionary");
    const sh_bnode *t = sh_bdict_get_type(root, "t", SH_BSTR);
    if (!t || t->v.s.len > SH_KRPC_MAX_TID)
        return bad(ei, "transaction id t missing or longer than 16 bytes");
    m->tid_len = (uint8_t)t->v.s.len;
    if (t->v.s.len) memcpy(m->tid, t->v.s.ptr, t->v.s.len);
    const sh_bnode *y = sh_bdict_get_type(root, "y", SH_BSTR);
    if (y && sh_span_eq(y->v.s, "q")) return decode_query(root, m, ei);
    if (y && sh_span_eq(y->v.s, "r")) return decode_response(root, m, ei);
    if (y && sh_span_eq(y->v.s, "e")) return decode_error(root, m, ei);
    return bad(ei, "message type y is not q, r or e");
}

int sh_krpc_decode(const uint8_t *buf, size_t len, sh_krpc_msg *m, sh_errinfo *ei)
{
    memset(m, 0, sizeof *m);
    if (len > SH_KRPC_MAX_DATAGRAM) return bad(ei, "datagram too large");
    sh_bencode_limits lim = {KRPC_MAX_DEPTH, KRPC_MAX_NODES, SH_KRPC_MAX_DATAGRAM};
    sh_bdoc *doc = NULL;
    int rc = sh_bencode_parse(buf, len, &lim, &doc, ei);
    if (rc < 0) return SH_EKRPC; /* ei already names the bencode rule */
    rc = decode_root(sh_bdoc_root(doc), m, ei);
    sh_bdoc_free(doc);
    if (rc < 0) {
        bool answerable = m->answerable;
        uint8_t tid[SH_KRPC_MAX_TID], tid_len = m->tid_len;
        memcpy(tid, m->tid, sizeof tid);
        memset(m, 0, sizeof *m); /* no half-decoded fields escape */
        m->answerable = answerable;
        m->kind = answerable ? SH_KRPC_QUERY : 0;
        m->tid_len = tid_len;
        memcpy(m->tid, tid, sizeof tid);
        return SH_EKRPC;
    }
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

static const char *method_name(sh_krpc_method mt)
{
    switch (mt) {
    case SH_KRPC_PING:
        return "ping";
    case SH_KRPC_FIND_NODE:
        return "find_node";
    case SH_KRPC_GET_PEERS:
        return "get_peers";
    case SH_KRPC_ANNOUNCE_PEER:
        return "announce_peer";
    default:
        return NULL;
    }
}

/* Arguments in key order: id, implied_port, info_hash, port, target, token. */
static void put_args(sh_bbuf *b, const sh_krpc_msg *m)
{
    sh_benc_dict_begin(b);
    sh_benc_kv_str(b, "id", m->id, 20);
    if (m->method == SH_KRPC_ANNOUNCE_PEER) {
        if (m->implied_port) sh_benc_kv_int(b, "implied_port", 1);
        sh_benc_kv_str(b, "info_hash", m->target, 20);
        sh_benc_kv_int(b, "port", m->port);
        sh_benc_kv_str(b, "token", m->token, m->token_len);
    } else if (m->method == SH_KRPC_GET_PEERS) {
        sh_benc_kv_str(b, "info_hash", m->target, 20);
    } else if (m->method == SH_KRPC_FIND_NODE) {
        sh_benc_kv_str(b, "target", m->target, 20);
    }
    sh_benc_end(b);
}

/* Response body in key order: id, nodes, nodes6, token, values. */
static void put_reply(sh_bbuf *b, const sh_krpc_msg *m)
{
    sh_benc_dict_begin(b);
    sh_benc_kv_str(b, "id", m->id, 20);
    if (m->nodes.len) sh_benc_kv_str(b, "nodes", m->nodes.ptr, m->nodes.len);
    if (m->nodes6.len) sh_benc_kv_str(b, "nodes6", m->nodes6.ptr, m->nodes6.len);
    if (m->has_token) sh_benc_kv_str(b, "token", m->token, m->token_len);
    if (m->has_values) {
        sh_benc_cstr(b, "values");
        sh_benc_list_begin(b);
        for (uint32_t i = 0; i < m->num_values; i++) {
            uint8_t c[18];
            size_t n = sh_addr_to_compact(&m->values[i], c);
            sh_benc_str(b, c, n);
        }
        sh_benc_end(b);
    }
    sh_benc_end(b);
}

static bool encodable(const sh_krpc_msg *m)
{
    if (m->tid_len > SH_KRPC_MAX_TID || m->token_len > SH_KRPC_MAX_TOKEN) return false;
    if (m->num_values > SH_KRPC_MAX_VALUES) return false;
    for (uint32_t i = 0; i < m->num_values; i++)
        if (m->values[i].family != 4 && m->values[i].family != 6) return false;
    if (m->kind == SH_KRPC_QUERY) return method_name(m->method) != NULL;
    return m->kind == SH_KRPC_RESPONSE || m->kind == SH_KRPC_ERROR;
}

/* Top-level keys in order: a | e | r, q, ro, t, y. */
int sh_krpc_encode(sh_bbuf *b, const sh_krpc_msg *m)
{
    if (!encodable(m)) return SH_EINVAL;
    sh_benc_dict_begin(b);
    if (m->kind == SH_KRPC_QUERY) {
        sh_benc_cstr(b, "a");
        put_args(b, m);
        sh_benc_kv_cstr(b, "q", method_name(m->method));
        if (m->read_only) sh_benc_kv_int(b, "ro", 1);
    } else if (m->kind == SH_KRPC_ERROR) {
        sh_benc_cstr(b, "e");
        sh_benc_list_begin(b);
        sh_benc_int(b, m->err_code);
        sh_benc_str(b, m->err_msg.ptr, m->err_msg.len);
        sh_benc_end(b);
    } else {
        sh_benc_cstr(b, "r");
        put_reply(b, m);
    }
    sh_benc_kv_str(b, "t", m->tid, m->tid_len);
    sh_benc_kv_cstr(b, "y", m->kind == SH_KRPC_QUERY ? "q" : m->kind == SH_KRPC_ERROR ? "e" : "r");
    sh_benc_end(b);
    return 0;
}

size_t sh_krpc_pack_node(uint8_t *out, const uint8_t id[20], const sh_addr *a)
{
    if (a->family != 4 && a->family != 6) return 0;
    memcpy(out, id, 20);
    return 20 + sh_addr_to_compact(a, out + 20);
}

int sh_krpc_node_at(sh_span list, int family, size_t i, uint8_t id[20], sh_addr *a)
{
    if (family != 4 && family != 6) return SH_EINVAL;
    size_t unit = family == 4 ? SH_KRPC_NODE4_LEN : SH_KRPC_NODE6_LEN;
    if (i >= list.len / unit) return SH_ERANGE;
    const uint8_t *p = list.ptr + i * unit;
    memcpy(id, p, 20);
    return sh_addr_from_compact(p + 20, unit - 20, a);
}
