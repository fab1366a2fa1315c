/*
 * dht.c — the DHT node: its lifecycle, the dispatch of incoming datagrams,
 * the answers to the four BEP 5 queries, and the queue of actions the
 * driver drains.
 *
 * Every datagram is decoded by krpc.c; a query is rate-limited per source IP
 * before anything else is spent on it, a response must match an outstanding
 * transaction from the very address we queried, anything else is dropped
 * and counted. Answers never trust the asker: find_node and get_peers name
 * only nodes we have verified (good ones, topped up with live questionable
 * ones while the table is young), announce_peer stores only with a token
 * issued to the asker's IP.
 *
 * Buffer lifetime: an action's data / peers buffer is owned by the queue
 * and handed to `held` when sh_dht_next_action returns it; every mutating
 * entry point frees `held` first (dht_release). So the pointers stay valid
 * until the next call of any non-const sh_dht_* function on the node.
 */
#include "dht_int.h"

#include <stdlib.h>
#include <string.h>

#define LOG(d, lvl, ...) sh_log(&(d)->cfg.log, (lvl), "dht", __VA_ARGS__)

/* ---- lifecycle ------------------------------------------------------------ */

int sh_dht_new(const sh_dht_config *cfg, sh_time now, sh_dht **out)
{
    if (!cfg || !out || (cfg->family != 4 && cfg->family != 6)) return SH_EINVAL;
    sh_dht *d = calloc(1, sizeof *d);
    if (!d) return SH_ENOMEM;
    d->cfg = *cfg;
    if (!d->cfg.query_rate) d->cfg.query_rate = 50;
    if (!d->cfg.max_peers_stored) d->cfg.max_peers_stored = 100000;
    memcpy(d->id, cfg->node_id, 20);
    sh_rng_seed(&d->rng, cfg->seed);
    dht_tx_init(&d->tx);
    dht_token_init(&d->tokens, cfg->seed, d->id, now);
    dht_store_init(&d->store, d->cfg.max_peers_stored, sh_rng_next(&d->rng));
    int rc = dht_table_init(&d->table, d->id, now);
    if (rc == 0) rc = dht_limit_init(&d->limit, d->cfg.query_rate, sh_rng_next(&d->rng));
    if (rc < 0) {
        sh_dht_free(d);
        return rc;
    }
    d->next_search_id = 1;
    d->now = now;
    d->next_maint = now + DHT_TICK;
    d->next_expire = now + SH_SEC(60);
    d->next_lonely = now + DHT_LONELY_TIME;
    *out = d;
    return 0;
}

void sh_dht_free(sh_dht *d)
{
    if (!d) return;
    dht_search_free_all(d);
    free(d->search);
    for (uint32_t i = 0; i < d->qlen; i++)
        free(d->q[(d->qhead + i) % d->qcap].own);
    free(d->q);
    free(d->held);
    dht_table_free(&d->table);
    dht_store_free(&d->store);
    dht_limit_free(&d->limit);
    dht_tx_free(&d->tx);
    free(d);
}

const uint8_t *sh_dht_id(const sh_dht *d)
{
    return d->id;
}

/* ---- the action queue ------------------------------------------------------ */

void dht_release(sh_dht *d)
{
    free(d->held);
    d->held = NULL;
}

static bool queue_grow(sh_dht *d)
{
    uint32_t ncap = d->qcap ? d->qcap * 2 : 32;
    dht_queued *nq = malloc(ncap * sizeof *nq);
    if (!nq) return false;
    for (uint32_t i = 0; i < d->qlen; i++)
        nq[i] = d->q[(d->qhead + i) % d->qcap];
    free(d->q);
    d->q = nq;
    d->qcap = ncap;
    d->qhead = 0;
    return true;
}

/* Takes ownership of own. A driver that never drains loses datagrams, not memory. */
void dht_push(sh_dht *d, const sh_dht_action *a, void *own)
{
    if (d->qlen >= DHT_MAX_QUEUE || (d->qlen == d->qcap && !queue_grow(d))) {
        free(own);
        LOG(d, SH_LOG_WARN, "action queue full: dropped an action");
        return;
    }
    dht_queued *e = &d->q[(d->qhead + d->qlen) % d->qcap];
    e->a = *a;
    e->own = own;
    d->qlen++;
}

bool sh_dht_next_action(sh_dht *d, sh_dht_action *a)
{
    dht_release(d);
    if (!d->qlen) return false;
    dht_queued *e = &d->q[d->qhead];
    *a = e->a;
    d->held = e->own;
    d->qhead = (d->qhead + 1) % d->qcap;
    d->qlen--;
    return true;
}

bool dht_send_msg(sh_dht *d, const sh_addr *to, const sh_krpc_msg *m)
{
    sh_bbuf b;
    sh_bbuf_init(&b);
    if (sh_krpc_encode(&b, m) < 0) {
        sh_bbuf_free(&b);
        return false;
    }
    size_t len;
    uint8_t *data = sh_bbuf_take(&b, &len);
    if (!data) return false;
    sh_dht_action a;
    memset(&a, 0, sizeof a);
    a.type = SH_DHT_SEND;
    a.addr = *to;
    a.data = data;
    a.len = len;
    dht_push(d, &a, data);
    return true;
}

/* ---- our queries ------------------------------------------------------------ */

bool dht_query(sh_dht *d, const sh_addr *to, sh_krpc_msg *q, dht_tx_kind kind, uint64_t ref,
               sh_time now)
{
    uint8_t tid[DHT_TID_LEN];
    if (dht_tx_open(&d->tx, &d->rng, kind, to, ref, now + DHT_QUERY_TIMEOUT, tid) < 0) {
        LOG(d, SH_LOG_DEBUG, "too many outstanding queries");
        return false;
    }
    q->kind = SH_KRPC_QUERY;
    memcpy(q->tid, tid, DHT_TID_LEN);
    q->tid_len = DHT_TID_LEN;
    q->read_only = d->cfg.read_only;
    memcpy(q->id, d->id, 20);
    if (!dht_send_msg(d, to, q)) {
        dht_tx tx;
        dht_tx_close(&d->tx, tid, DHT_TID_LEN, to, &tx);
        return false;
    }
    dht_table_sent(&d->table, to, now);
    d->st.out_queries++;
    return true;
}

void dht_ping(sh_dht *d, const sh_addr *to, sh_time now)
{
    sh_krpc_msg q;
    memset(&q, 0, sizeof q);
    q.method = SH_KRPC_PING;
    dht_query(d, to, &q, DHT_TX_PING, 0, now);
}

void dht_note_add(sh_dht *d, dht_add_result r, const dht_node *ping, sh_time now)
{
    if (r == DHT_ADD_PING) dht_ping(d, &ping->addr, now);
    if (r == DHT_ADD_NEW && d->next_maint > now + DHT_TICK) d->next_maint = now + DHT_TICK;
}

static void learn(sh_dht *d, const uint8_t id[20], const sh_addr *a, dht_seen how, sh_time now)
{
    dht_node ping;
    dht_note_add(d, dht_table_add(&d->table, id, a, how, now, &ping), &ping, now);
}

/* ---- answering ---------------------------------------------------------------- */

static void reply_error(sh_dht *d, const sh_addr *to, const sh_krpc_msg *q, int code,
                        const char *msg)
{
    sh_krpc_msg e;
    memset(&e, 0, sizeof e);
    e.kind = SH_KRPC_ERROR;
    memcpy(e.tid, q->tid, q->tid_len);
    e.tid_len = q->tid_len;
    e.err_code = code;
    e.err_msg = (sh_span){(const uint8_t *)msg, strlen(msg)};
    dht_send_msg(d, to, &e);
}

/* The nodes part of an answer: compact entries of our family, into buf. */
static void put_nodes(sh_dht *d, sh_krpc_msg *r, const uint8_t target[20], const sh_addr *asker,
                      uint8_t buf[DHT_K * SH_KRPC_NODE6_LEN], sh_time now)
{
    dht_node near[DHT_K];
    uint32_t n = dht_table_closest(&d->table, target, DHT_PICK_ANSWER, asker, now, near, DHT_K);
    size_t len = 0;
    for (uint32_t i = 0; i < n; i++)
        len += sh_krpc_pack_node(buf + len, near[i].id, &near[i].addr);
    if (d->cfg.family == 4)
        r->nodes = (sh_span){buf, len};
    else
        r->nodes6 = (sh_span){buf, len};
}

static void answer_get_peers(sh_dht *d, const sh_addr *from, const sh_krpc_msg *q, sh_krpc_msg *r,
                             sh_time now)
{
    uint8_t buf[DHT_K * SH_KRPC_NODE6_LEN];
    r->has_token = true;
    r->token_len = DHT_TOKEN_LEN;
    dht_token_make(&d->tokens, from, now, r->token);
    uint32_t max = d->cfg.family == 4 ? DHT_STORE_ANSWER : DHT_STORE_ANSWER6;
    r->num_values =
        dht_store_get(&d->store, q->target, d->cfg.family, now, &d->rng, r->values, max);
    r->has_values = r->num_values > 0;
    /* nodes too, even with values (as libtorrent does): a lookup that found peers early
     * still needs to reach the closest nodes, to announce and to find the other peers */
    put_nodes(d, r, q->target, from, buf, now);
    dht_send_msg(d, from, r);
}

static void answer_announce(sh_dht *d, const sh_addr *from, const sh_krpc_msg *q, sh_krpc_msg *r,
                            sh_time now)
{
    if (!dht_token_check(&d->tokens, from, q->token, q->token_len, now)) {
        reply_error(d, from, q, SH_KRPC_ERR_PROTOCOL, "bad token");
        return;
    }
    sh_addr peer = *from;
    if (!q->implied_port) peer.port = q->port;
    int rc = dht_store_add(&d->store, q->target, &peer, now);
    if (rc < 0) LOG(d, SH_LOG_DEBUG, "announce not stored: %s", sh_strerror(rc));
    dht_send_msg(d, from, r);
}

static void on_query(sh_dht *d, const sh_addr *from, const sh_krpc_msg *q, sh_time now)
{
    if (d->cfg.read_only || !dht_limit_allow(&d->limit, from, now)) {
        d->st.in_dropped++;
        return;
    }
    d->st.in_queries++;
    if (!q->read_only) learn(d, q->id, from, DHT_QUERIED, now); /* BEP 43: ro nodes stay out */
    sh_krpc_msg r;
    memset(&r, 0, sizeof r);
    r.kind = SH_KRPC_RESPONSE;
    memcpy(r.tid, q->tid, q->tid_len);
    r.tid_len = q->tid_len;
    memcpy(r.id, d->id, 20);
    uint8_t buf[DHT_K * SH_KRPC_NODE6_LEN];
    switch (q->method) {
    case SH_KRPC_PING:
        dht_send_msg(d, from, &r);
        break;
    case SH_KRPC_FIND_NODE:
        put_nodes(d, &r, q->target, from, buf, now);
        dht_send_msg(d, from, &r);
        break;
    case SH_KRPC_GET_PEERS:
        answer_get_peers(d, from, q, &r, now);
        break;
    case SH_KRPC_ANNOUNCE_PEER:
        answer_announce(d, from, q, &r, now);
        break;
    default:
        reply_error(d, from, q, SH_KRPC_ERR_METHOD, "method unknown");
        break;
    }
}

/* ---- responses ------------------------------------------------------------------ */

static void learn_nodes(sh_dht *d, const sh_krpc_msg *m, sh_time now)
{
    sh_span list = d->cfg.family == 4 ? m->nodes : m->nodes6;
    for (size_t i = 0; i < DHT_NODES_PER_REPLY; i++) {
        uint8_t id[20];
        sh_addr a;
        if (sh_krpc_node_at(list, d->cfg.family, i, id, &a) < 0) break;
        learn(d, id, &a, DHT_HEARD, now);
    }
}

static void on_response(sh_dht *d, const sh_addr *from, const sh_krpc_msg *m, sh_time now)
{
    dht_tx tx;
    if (!dht_tx_close(&d->tx, m->tid, m->tid_len, from, &tx)) {
        d->st.in_dropped++;
        return;
    }
    d->st.in_replies++;
    if (m->kind == SH_KRPC_ERROR) {
        LOG(d, SH_LOG_DEBUG, "error %lld in answer", (long long)m->err_code);
        if (tx.kind == DHT_TX_SEARCH) dht_search_fail(d, tx.ref, from, now);
        if (tx.kind == DHT_TX_BOOT) dht_boot_failed(d, (int)tx.ref, now);
        return;
    }
    learn(d, m->id, from, DHT_REPLIED, now);
    learn_nodes(d, m, now);
    if (tx.kind == DHT_TX_SEARCH) dht_search_reply(d, tx.ref, from, m, now);
    if (tx.kind == DHT_TX_BOOT) dht_boot_reply(d, (int)tx.ref, now);
}

void sh_dht_recv(sh_dht *d, const sh_addr *from, const uint8_t *pkt, size_t len, sh_time now)
{
    dht_release(d);
    d->now = now;
    if (!from || from->family != d->cfg.family || from->port == 0 || (!pkt && len)) {
        d->st.in_dropped++;
        return;
    }
    sh_krpc_msg m;
    sh_errinfo ei = {{0}, 0};
    if (sh_krpc_decode(pkt, len, &m, &ei) < 0) {
        d->st.in_dropped++;
        LOG(d, SH_LOG_TRACE, "malformed datagram: %s", ei.msg);
        if (m.answerable && !d->cfg.read_only && dht_limit_allow(&d->limit, from, now))
            reply_error(d, from, &m, SH_KRPC_ERR_PROTOCOL, "protocol error");
        return;
    }
    if (m.kind == SH_KRPC_QUERY)
        on_query(d, from, &m, now);
    else
        on_response(d, from, &m, now);
}

/* ---- the rest of the public API ---------------------------------------------------- */

uint64_t sh_dht_search(sh_dht *d, const uint8_t info_hash[20], uint16_t announce_port, sh_time now)
{
    dht_release(d);
    d->now = now;
    if (d->user_searches >= DHT_MAX_SEARCHES) return 0;
    return dht_search_start(d, info_hash, true, announce_port, false, -1, now);
}

void sh_dht_bootstrap(sh_dht *d, const sh_addr *addr, sh_time now)
{
    dht_release(d);
    d->now = now;
    if (!addr || addr->family != d->cfg.family || addr->port == 0) return;
    int slot = -1;
    for (int i = 0; i < DHT_BOOT_SLOTS && slot < 0; i++)
        if (d->boot[i].active && sh_addr_eq(&d->boot[i].addr, addr)) slot = i;
    for (int i = 0; i < DHT_BOOT_SLOTS && slot < 0; i++)
        if (!d->boot[i].active) slot = i;
    if (slot < 0) slot = (int)(sh_rng_below(&d->rng, DHT_BOOT_SLOTS)); /* all busy: reuse one */
    d->boot[slot].addr = *addr;
    d->boot[slot].attempts = 0;
    d->boot[slot].active = true;
    d->next_lonely = now + DHT_LONELY_TIME; /* the bootstrap itself looks for neighbours */
    dht_boot_try(d, slot, now);
}

void sh_dht_on_timer(sh_dht *d, sh_time now)
{
    dht_release(d);
    d->now = now;
    dht_tx tx;
    while (dht_tx_expire(&d->tx, now, &tx)) {
        dht_table_failed(&d->table, &tx.addr, now);
        if (tx.kind == DHT_TX_SEARCH) dht_search_fail(d, tx.ref, &tx.addr, now);
        if (tx.kind == DHT_TX_BOOT) dht_boot_failed(d, (int)tx.ref, now);
    }
    if (now >= d->next_maint) dht_maint_run(d, now);
}

sh_time sh_dht_next_deadline(const sh_dht *d)
{
    sh_time t = dht_tx_next_deadline(&d->tx);
    return d->next_maint < t ? d->next_maint : t;
}

void sh_dht_stats_get(const sh_dht *d, sh_dht_stats *st)
{
    *st = d->st;
    dht_table_counts(&d->table, d->now, &st->good, &st->dubious);
    st->buckets = d->table.nb;
    st->searches = d->user_searches;
    st->stored_hashes = d->store.used;
    st->stored_peers = d->store.peers;
}
