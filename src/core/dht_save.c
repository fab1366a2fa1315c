/*
 * dht_save.c — routing-table persistence, so a restarted node keeps its
 * place in the DHT and rejoins without a bootstrap node.
 *
 * The state is a bencoded dictionary: "id" (our 20-byte id) and "nodes"
 * (IPv4 node) or "nodes6" (IPv6 node), the compact entries of every node
 * that has answered us and is not bad. Loading is as hostile-input-safe as
 * a datagram: bounded size, strict bencode, exact lengths; it adopts the
 * saved id and merges the nodes as questionable, pinging those that found a
 * place, so that only the ones still alive become good.
 */
#include "dht_int.h"

#include <string.h>

#define SAVE_MAX_INPUT (1u << 20)
#define SAVE_MAX_NODES 4096u /* entries looked at on load */

void sh_dht_save(const sh_dht *d, sh_bbuf *out)
{
    sh_bbuf nodes;
    sh_bbuf_init(&nodes);
    for (uint32_t i = 0; i < d->table.nb; i++) {
        const dht_bucket *b = &d->table.b[i];
        for (int j = 0; j < b->count; j++) {
            const dht_node *n = &b->n[j];
            if (!n->replied || dht_node_bad(n)) continue;
            uint8_t e[SH_KRPC_NODE6_LEN];
            size_t len = sh_krpc_pack_node(e, n->id, &n->addr);
            sh_bbuf_raw(&nodes, e, len);
        }
    }
    if (nodes.err) out->err = nodes.err;
    sh_benc_dict_begin(out);
    sh_benc_kv_str(out, "id", d->id, 20);
    sh_benc_kv_str(out, d->cfg.family == 4 ? "nodes" : "nodes6", nodes.data, nodes.len);
    sh_benc_end(out);
    sh_bbuf_free(&nodes);
}

static int bad(sh_errinfo *ei, const char *what)
{
    return sh_errinfo_set(ei, SH_EKRPC, 0, "dht state: %s", what);
}

int sh_dht_load(sh_dht *d, const uint8_t *buf, size_t len, sh_time now, sh_errinfo *ei)
{
    dht_release(d);
    d->now = now;
    if (len > SAVE_MAX_INPUT)
        return sh_errinfo_set(ei, SH_ELIMIT, 0, "dht state: %zu bytes, over 1 MiB", len);
    sh_bencode_limits lim = {4, 64, SAVE_MAX_INPUT};
    sh_bdoc *doc = NULL;
    int rc = sh_bencode_parse(buf, len, &lim, &doc, ei);
    if (rc < 0) return rc;
    const sh_bnode *root = sh_bdoc_root(doc);
    const sh_bnode *id = sh_bdict_get_type(root, "id", SH_BSTR);
    const char *key = d->cfg.family == 4 ? "nodes" : "nodes6";
    size_t unit = d->cfg.family == 4 ? SH_KRPC_NODE4_LEN : SH_KRPC_NODE6_LEN;
    const sh_bnode *nodes = sh_bdict_get(root, key);
    if (!root || root->type != SH_BDICT)
        rc = bad(ei, "not a dictionary");
    else if (!id || id->v.s.len != 20)
        rc = bad(ei, "id must be 20 bytes");
    else if (nodes && (nodes->type != SH_BSTR || nodes->v.s.len % unit))
        rc = bad(ei, "nodes must be a string of compact node entries");
    if (rc == 0 && memcmp(id->v.s.ptr, d->id, 20) != 0) {
        uint8_t nid[20];
        memcpy(nid, id->v.s.ptr, 20);
        rc = dht_table_rekey(&d->table, nid, now);
        if (rc == 0) memcpy(d->id, nid, 20);
    }
    sh_span list = nodes && rc == 0 ? nodes->v.s : (sh_span){NULL, 0};
    for (size_t i = 0; i < SAVE_MAX_NODES; i++) {
        uint8_t nid[20];
        sh_addr a;
        if (sh_krpc_node_at(list, d->cfg.family, i, nid, &a) < 0) break;
        dht_node ping;
        dht_add_result r = dht_table_add(&d->table, nid, &a, DHT_HEARD, now, &ping);
        if (r == DHT_ADD_NEW)
            dht_ping(d, &a, now);
        else
            dht_note_add(d, r, &ping, now);
    }
    sh_bdoc_free(doc);
    return rc;
}
