/* peer_dht.c — a DHT node feeding a peer driver (see peer_dht.h). */
#include "cli/peer_dht.h"

#include "cli/cli.h"
#include "io/dht_node.h"

#include <stdlib.h>
#include <string.h>

#define TAG "dht"
#define TICK SH_MS(250)
#define RETRY SH_SEC(5)          /* a lookup that reached nobody, or a downloader without peers */
#define JOIN_WAIT_MAX SH_SEC(10) /* first lookup: once a node answered, or after this long */

struct peer_dht {
    sh_loop *loop;
    sh_peerd *pd;
    sh_logger log;
    sh_dht_node *node;
    uint8_t hash[20];
    uint16_t announce_port;
    sh_addr self; /* our TCP listener: never a peer of ours */
    sh_time started, next_at;
    bool running;
    uint64_t timer;
    uint64_t found_now; /* peers of the running lookup */
    peer_dht_stats st;
};

bool peer_dht_wanted(const peer_opts *o)
{
    return o->num_dht_bootstrap > 0 || o->dht_port != 0;
}

/* ---- lookups ------------------------------------------------------------------- */

static void schedule_after_lookup(peer_dht *d, const sh_dht_action *a)
{
    sh_peerd_status ps;
    sh_peerd_status_get(d->pd, &ps);
    sh_time now = sh_loop_now(d->loop);
    sh_time every = ps.state == SH_PEERD_SEEDING ? PEER_DHT_INTERVAL_SEED : PEER_DHT_INTERVAL_GET;
    /* A downloader with nobody to talk to asks again soon: in a fleet that
     * starts at once, the seed's announce may land just after our lookup. */
    if (ps.state != SH_PEERD_SEEDING && ps.swarm.peers == 0) every = RETRY;
    d->next_at = now + (a->nodes == 0 ? RETRY : every);
    sh_log(&d->log, SH_LOG_INFO, TAG,
           "lookup done: %llu peers, %u hops, %u nodes asked; next in %llu s",
           (unsigned long long)d->found_now, a->hops, a->nodes,
           (unsigned long long)((d->next_at - now) / SH_SEC(1)));
}

static void on_search(sh_dht_node *n, const sh_dht_action *a, void *ud)
{
    (void)n;
    peer_dht *d = ud;
    if (a->type == SH_DHT_SEARCH_DONE) {
        /* The node runs no lookup but ours: one at a time. */
        d->running = false;
        d->st.lookups++;
        schedule_after_lookup(d, a);
        return;
    }
    if (a->type != SH_DHT_PEERS) return;
    /* Copy first: the driver is called per peer, and a->peers belongs to the node. */
    for (uint32_t i = 0; i < a->num_peers; i++) {
        sh_addr p = a->peers[i];
        if (sh_addr_eq(&p, &d->self)) continue;
        d->found_now++;
        d->st.peers_found++;
        sh_peerd_add_peer(d->pd, &p, SH_SRC_DHT);
    }
}

static bool table_ready(peer_dht *d, sh_time now)
{
    sh_dht_node_stats ns;
    sh_dht_node_stats_get(d->node, &ns);
    /* One good node is enough: a lookup iterates through the nodes it names. */
    return d->st.lookups > 0 || ns.dht.good >= 1 || now - d->started >= JOIN_WAIT_MAX;
}

static void maybe_lookup(peer_dht *d)
{
    sh_time now = sh_loop_now(d->loop);
    if (d->running || now < d->next_at || !table_ready(d, now)) return;
    d->running = true; /* before the call: the lookup may end inside it */
    d->found_now = 0;
    uint64_t id = sh_dht_node_search(d->node, d->hash, d->announce_port);
    if (id == 0) {
        d->running = false;
        d->next_at = now + RETRY;
    }
}

static void on_tick(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    peer_dht *d = ud;
    d->timer = 0;
    maybe_lookup(d);
    d->timer = sh_loop_timer(l, sh_loop_now(l) + TICK, on_tick, d);
}

/* ---- setup --------------------------------------------------------------------- */

static int open_node(peer_dht *d, const peer_opts *o, sh_errinfo *ei)
{
    sh_dht_node_config c = {.log = d->log};
    c.bind = o->listen;
    if (!c.bind.family) c.bind.family = 4; /* 0.0.0.0 */
    c.bind.port = o->dht_port ? o->dht_port : d->self.port;
    int rc = sh_dht_node_new(d->loop, &c, &d->node, ei);
    if (rc == SH_EEXIST && !o->dht_port) {
        char b[SH_ADDR_STRLEN];
        sh_log(&d->log, SH_LOG_WARN, TAG, "UDP %s is taken; the DHT node takes another port",
               sh_addr_format(&c.bind, b, sizeof b));
        c.bind.port = 0;
        rc = sh_dht_node_new(d->loop, &c, &d->node, ei);
    }
    return rc;
}

int peer_dht_start(sh_loop *loop, const peer_opts *o, const sh_metainfo *mi, sh_peerd *pd,
                   sh_logger log, peer_dht **out, sh_errinfo *ei)
{
    *out = NULL;
    if (mi->is_private) {
        sh_log(&log, SH_LOG_WARN, TAG, "private torrent (BEP 27): the DHT is not used");
        return 0;
    }
    peer_dht *d = calloc(1, sizeof *d);
    if (!d) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    d->loop = loop;
    d->pd = pd;
    d->log = log;
    memcpy(d->hash, sh_metainfo_wire_hash(mi), 20);
    sh_peerd_status ps;
    sh_peerd_status_get(pd, &ps);
    d->self = ps.listen;
    d->announce_port = ps.listen.port;
    d->started = sh_loop_now(loop);
    int rc = open_node(d, o, ei);
    if (rc) {
        free(d);
        return rc;
    }
    sh_dht_node_on_search(d->node, on_search, d);
    d->st.addr = sh_dht_node_addr(d->node);
    char b[SH_ADDR_STRLEN], hex[41];
    sh_log(&log, SH_LOG_INFO, TAG, "node %s on %s", sh_hex(sh_dht_node_id(d->node), 20, hex),
           sh_addr_format(&d->st.addr, b, sizeof b));
    for (size_t i = 0; i < o->num_dht_bootstrap; i++)
        sh_dht_node_bootstrap(d->node, &o->dht_bootstrap[i]);
    d->timer = sh_loop_timer(loop, sh_loop_now(loop) + TICK, on_tick, d);
    if (!d->timer) {
        peer_dht_free(d);
        return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    }
    *out = d;
    return 0;
}

void peer_dht_stats_get(const peer_dht *d, peer_dht_stats *st)
{
    *st = d->st;
    sh_dht_node_stats ns;
    sh_dht_node_stats_get(d->node, &ns);
    st->good_nodes = ns.dht.good;
}

void peer_dht_free(peer_dht *d)
{
    if (!d) return;
    if (d->timer) sh_loop_cancel(d->loop, d->timer);
    sh_dht_node_free(d->node);
    free(d);
}
