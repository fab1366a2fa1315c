/*
 * dht_search.c — iterative Kademlia lookups: find_node (bootstrap, bucket
 * refresh) and get_peers (the user's searches, optionally followed by
 * announce_peer).
 *
 * A lookup keeps the DHT_SEARCH_NODES candidates closest to the target,
 * sorted by XOR distance, seeded from our table. It keeps DHT_ALPHA queries
 * in flight to the closest candidates not yet asked among the DHT_K closest
 * that have not failed; every answer may bring closer candidates; a query
 * unanswered after DHT_QUERY_TIMEOUT marks its node failed (no retry: the
 * next candidate is asked instead). It ends when the DHT_K closest
 * candidates that have not failed have all answered, or when none is left.
 *
 * Measured on the way: `queried` (nodes asked) and `hops`, the longest chain
 * of answers each of which introduced the next node asked: a candidate from
 * our table is at hop 0, one named by an answer of a hop-h node at h + 1,
 * and hops = 1 + the highest hop among the nodes that answered.
 *
 * get_peers reports peers as they come (SH_DHT_PEERS, each peer once per
 * lookup, the first DHT_SEEN_MAX of them), starting with those announced to
 * us. With an announce port, it finally sends announce_peer with their
 * token to the DHT_K closest nodes that answered with one.
 */
#include "dht_int.h"

#include <stdlib.h>
#include <string.h>

#define DHT_SEEN_MAX 4096u /* distinct peers one lookup reports */

static dht_search *find(const sh_dht *d, uint64_t sid, uint32_t *idx)
{
    for (uint32_t i = 0; i < d->nsearch; i++) {
        if (d->search[i]->id == sid) {
            if (idx) *idx = i;
            return d->search[i];
        }
    }
    return NULL;
}

static void search_free(dht_search *s)
{
    if (!s) return;
    free(s->seen);
    free(s);
}

void dht_search_free_all(sh_dht *d)
{
    for (uint32_t i = 0; i < d->nsearch; i++)
        search_free(d->search[i]);
    d->nsearch = 0;
}

/* ---- candidates -------------------------------------------------------------- */

static dht_cand *cand_by_addr(dht_search *s, const sh_addr *a)
{
    for (uint32_t i = 0; i < s->ncand; i++)
        if (sh_addr_eq(&s->cand[i].addr, a)) return &s->cand[i];
    return NULL;
}

static void add_cand(sh_dht *d, dht_search *s, const uint8_t id[20], const sh_addr *a, uint32_t hop)
{
    if (a->family != d->cfg.family || a->port == 0 || memcmp(id, d->id, 20) == 0) return;
    uint32_t pos = s->ncand;
    for (uint32_t i = 0; i < s->ncand; i++) {
        if (memcmp(s->cand[i].id, id, 20) == 0 || sh_addr_eq(&s->cand[i].addr, a)) return;
        if (pos == s->ncand && dht_id_closer(id, s->cand[i].id, s->target) < 0) pos = i;
    }
    if (pos == DHT_SEARCH_NODES) return; /* farther than all we keep */
    if (s->ncand == DHT_SEARCH_NODES) {
        if (s->cand[DHT_SEARCH_NODES - 1].state == DHT_CAND_INFLIGHT) s->inflight--;
        s->ncand--; /* the farthest makes room; its answer, if any, is ignored */
    }
    memmove(&s->cand[pos + 1], &s->cand[pos], (s->ncand - pos) * sizeof s->cand[0]);
    dht_cand *c = &s->cand[pos];
    memset(c, 0, sizeof *c);
    memcpy(c->id, id, 20);
    c->addr = *a;
    c->state = DHT_CAND_NEW;
    c->hop = hop;
    s->ncand++;
}

/* ---- reporting ------------------------------------------------------------------- */

/* True if a is new to this lookup (and records it). */
static bool seen_insert(dht_search *s, const sh_addr *a)
{
    if (s->nseen * 2 >= s->seen_cap) {
        if (s->nseen >= DHT_SEEN_MAX) return false;
        uint32_t ncap = s->seen_cap ? s->seen_cap * 2 : 64;
        sh_addr *nv = calloc(ncap, sizeof *nv);
        if (!nv) return false;
        for (uint32_t i = 0; i < s->seen_cap; i++) {
            if (!s->seen[i].family) continue;
            uint32_t j = (uint32_t)dht_addr_hash(&s->seen[i], true, s->id) & (ncap - 1);
            while (nv[j].family)
                j = (j + 1) & (ncap - 1);
            nv[j] = s->seen[i];
        }
        free(s->seen);
        s->seen = nv;
        s->seen_cap = ncap;
    }
    uint32_t j = (uint32_t)dht_addr_hash(a, true, s->id) & (s->seen_cap - 1);
    for (; s->seen[j].family; j = (j + 1) & (s->seen_cap - 1))
        if (sh_addr_eq(&s->seen[j], a)) return false;
    s->seen[j] = *a;
    s->nseen++;
    return true;
}

static void report(sh_dht *d, dht_search *s, const sh_addr *peers, uint32_t n)
{
    if (s->internal || !n) return;
    sh_addr *fresh = malloc(n * sizeof *fresh);
    if (!fresh) return;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if ((peers[i].family == 4 || peers[i].family == 6) && peers[i].port &&
            seen_insert(s, &peers[i]))
            fresh[k++] = peers[i];
    if (!k) {
        free(fresh);
        return;
    }
    sh_dht_action a;
    memset(&a, 0, sizeof a);
    a.type = SH_DHT_PEERS;
    a.search = s->id;
    memcpy(a.info_hash, s->target, 20);
    a.peers = fresh;
    a.num_peers = k;
    dht_push(d, &a, fresh);
}

/* ---- the end of a lookup ------------------------------------------------------- */

static void announce(sh_dht *d, dht_search *s, sh_time now)
{
    uint32_t sent = 0;
    for (uint32_t i = 0; i < s->ncand && sent < DHT_K; i++) {
        dht_cand *c = &s->cand[i];
        if (c->state != DHT_CAND_REPLIED || !c->has_token) continue;
        sh_krpc_msg q;
        memset(&q, 0, sizeof q);
        q.method = SH_KRPC_ANNOUNCE_PEER;
        memcpy(q.target, s->target, 20);
        q.port = s->announce_port;
        q.has_token = true;
        q.token_len = c->token_len;
        memcpy(q.token, c->token, c->token_len);
        if (dht_query(d, &c->addr, &q, DHT_TX_ANNOUNCE, s->id, now)) sent++;
    }
}

static void finish(sh_dht *d, dht_search *s, sh_time now)
{
    if (!s->internal) {
        sh_dht_action a;
        memset(&a, 0, sizeof a);
        a.type = SH_DHT_SEARCH_DONE;
        a.search = s->id;
        memcpy(a.info_hash, s->target, 20);
        a.hops = s->hops;
        a.nodes = s->queried;
        dht_push(d, &a, NULL);
    }
    if (s->announce_port) announce(d, s, now);
    uint32_t idx;
    if (find(d, s->id, &idx)) d->search[idx] = d->search[--d->nsearch];
    if (s->internal)
        d->internal_searches--;
    else
        d->user_searches--;
    int boot = s->boot;
    search_free(s);
    if (boot >= 0) dht_boot_search_done(d, boot, now);
}

/* ---- driving a lookup ------------------------------------------------------------- */

static bool ask(sh_dht *d, dht_search *s, dht_cand *c, sh_time now)
{
    sh_krpc_msg q;
    memset(&q, 0, sizeof q);
    q.method = s->get_peers ? SH_KRPC_GET_PEERS : SH_KRPC_FIND_NODE;
    memcpy(q.target, s->target, 20);
    return dht_query(d, &c->addr, &q, DHT_TX_SEARCH, s->id, now);
}

/* Sends what may be sent; finishes (and frees) the lookup when it is over. */
static void progress(sh_dht *d, dht_search *s, sh_time now)
{
    uint32_t live = 0;
    bool over = true;
    for (uint32_t i = 0; i < s->ncand && live < DHT_K; i++) {
        dht_cand *c = &s->cand[i];
        if (c->state == DHT_CAND_NEW && s->inflight < DHT_ALPHA) {
            if (ask(d, s, c, now)) {
                c->state = DHT_CAND_INFLIGHT;
                s->inflight++;
                s->queried++;
            } else {
                c->state = DHT_CAND_FAILED;
            }
        }
        if (c->state == DHT_CAND_FAILED) continue;
        live++;
        if (c->state != DHT_CAND_REPLIED) over = false;
    }
    if (over) finish(d, s, now);
}

uint64_t dht_search_start(sh_dht *d, const uint8_t target[20], bool get_peers, uint16_t port,
                          bool internal, int boot, sh_time now)
{
    if (internal ? d->internal_searches >= DHT_MAX_INTERNAL : d->user_searches >= DHT_MAX_SEARCHES)
        return 0;
    if (d->nsearch == d->search_cap) {
        uint32_t ncap = d->search_cap ? d->search_cap * 2 : 8;
        dht_search **nv = realloc(d->search, ncap * sizeof *nv);
        if (!nv) return 0;
        d->search = nv;
        d->search_cap = ncap;
    }
    dht_search *s = calloc(1, sizeof *s);
    if (!s) return 0;
    s->id = d->next_search_id++;
    memcpy(s->target, target, 20);
    s->get_peers = get_peers;
    s->internal = internal;
    s->boot = boot;
    s->announce_port = port;
    dht_node near[DHT_SEARCH_NODES];
    uint32_t n =
        dht_table_closest(&d->table, target, DHT_PICK_ANY, NULL, now, near, DHT_SEARCH_NODES);
    for (uint32_t i = 0; i < n; i++)
        add_cand(d, s, near[i].id, &near[i].addr, 0);
    d->search[d->nsearch++] = s;
    if (internal)
        d->internal_searches++;
    else
        d->user_searches++;
    uint64_t sid = s->id;
    if (get_peers && !internal) {
        sh_addr local[DHT_STORE_ANSWER];
        uint32_t k =
            dht_store_get(&d->store, target, d->cfg.family, now, &d->rng, local, DHT_STORE_ANSWER);
        report(d, s, local, k);
    }
    progress(d, s, now); /* may finish it at once: an empty table */
    return sid;
}

void dht_search_reply(sh_dht *d, uint64_t sid, const sh_addr *from, const sh_krpc_msg *m,
                      sh_time now)
{
    dht_search *s = find(d, sid, NULL);
    dht_cand *c = s ? cand_by_addr(s, from) : NULL;
    if (!c || c->state != DHT_CAND_INFLIGHT) return;
    c->state = DHT_CAND_REPLIED;
    s->inflight--;
    if (m->has_token) {
        c->has_token = true;
        c->token_len = m->token_len;
        memcpy(c->token, m->token, m->token_len);
    }
    uint32_t hop = c->hop + 1; /* c moves once candidates are inserted */
    if (hop > s->hops) s->hops = hop;
    sh_span list = d->cfg.family == 4 ? m->nodes : m->nodes6;
    for (size_t i = 0; i < DHT_NODES_PER_REPLY; i++) {
        uint8_t id[20];
        sh_addr a;
        if (sh_krpc_node_at(list, d->cfg.family, i, id, &a) < 0) break;
        add_cand(d, s, id, &a, hop);
    }
    if (s->get_peers) report(d, s, m->values, m->num_values);
    progress(d, s, now);
}

void dht_search_fail(sh_dht *d, uint64_t sid, const sh_addr *from, sh_time now)
{
    dht_search *s = find(d, sid, NULL);
    dht_cand *c = s ? cand_by_addr(s, from) : NULL;
    if (!c || c->state != DHT_CAND_INFLIGHT) return;
    c->state = DHT_CAND_FAILED;
    s->inflight--;
    progress(d, s, now);
}
