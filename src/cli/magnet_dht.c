/* magnet_dht.c — DHT lookups feeding the metadata fetch (see magnet_dht.h). */
#include "cli/magnet_dht.h"

#include "io/dht_node.h"

#include <stdlib.h>
#include <string.h>

#define TAG "dht"
#define TICK SH_MS(250)
#define EVERY SH_SEC(5)
#define JOIN_WAIT_MAX SH_SEC(10)

struct magnet_dht {
    sh_loop *loop;
    sh_mfdrv *d;
    sh_logger log;
    sh_dht_node *node;
    uint8_t hash[20];
    sh_addr self;
    sh_time started, next_at;
    bool running;
    uint64_t lookups, found;
    uint64_t timer;
};

static void on_search(sh_dht_node *n, const sh_dht_action *a, void *ud)
{
    (void)n;
    magnet_dht *m = ud;
    if (a->type == SH_DHT_SEARCH_DONE) {
        m->running = false;
        m->lookups++;
        m->next_at = sh_loop_now(m->loop) + EVERY;
        sh_log(&m->log, SH_LOG_INFO, TAG, "metadata lookup done: %llu peers so far, %u hops",
               (unsigned long long)m->found, a->hops);
        return;
    }
    if (a->type != SH_DHT_PEERS) return;
    uint32_t np = a->num_peers;
    sh_addr *peers = malloc((np ? np : 1) * sizeof *peers); /* a->peers belongs to the node */
    if (!peers) return;
    memcpy(peers, a->peers, np * sizeof *peers);
    for (uint32_t i = 0; i < np; i++) {
        if (sh_addr_eq(&peers[i], &m->self)) continue;
        m->found++;
        sh_mfdrv_add_peer(m->d, &peers[i], SH_SRC_DHT);
    }
    free(peers);
}

static void on_tick(sh_loop *l, uint64_t id, void *ud)
{
    (void)id;
    magnet_dht *m = ud;
    m->timer = 0;
    sh_time now = sh_loop_now(l);
    sh_dht_node_stats ns;
    sh_dht_node_stats_get(m->node, &ns);
    bool ready = m->lookups > 0 || ns.dht.good >= 1 || now - m->started >= JOIN_WAIT_MAX;
    if (!m->running && now >= m->next_at && ready) {
        m->running = true; /* before the call: the lookup may end inside it */
        if (sh_dht_node_search(m->node, m->hash, 0) == 0) {
            m->running = false;
            m->next_at = now + EVERY;
        }
    }
    m->timer = sh_loop_timer(l, now + TICK, on_tick, m);
}

static int open_node(magnet_dht *m, const peer_opts *o, sh_errinfo *ei)
{
    sh_dht_node_config c = {.log = m->log};
    c.bind = o->listen;
    if (!c.bind.family) c.bind.family = 4;
    c.bind.port = o->dht_port ? o->dht_port : o->listen.port;
    int rc = sh_dht_node_new(m->loop, &c, &m->node, ei);
    if (rc == SH_EEXIST && !o->dht_port) {
        c.bind.port = 0;
        rc = sh_dht_node_new(m->loop, &c, &m->node, ei);
    }
    return rc;
}

int magnet_dht_start(sh_loop *loop, const peer_opts *o, const uint8_t hash[20], sh_mfdrv *d,
                     sh_logger log, magnet_dht **out, sh_errinfo *ei)
{
    *out = NULL;
    if (o->num_dht_bootstrap == 0 && o->dht_port == 0) return 0;
    magnet_dht *m = calloc(1, sizeof *m);
    if (!m) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    m->loop = loop;
    m->d = d;
    m->log = log;
    memcpy(m->hash, hash, 20);
    m->self = o->listen;
    m->started = sh_loop_now(loop);
    int rc = open_node(m, o, ei);
    if (rc) {
        free(m);
        return rc;
    }
    sh_dht_node_on_search(m->node, on_search, m);
    for (size_t i = 0; i < o->num_dht_bootstrap; i++)
        sh_dht_node_bootstrap(m->node, &o->dht_bootstrap[i]);
    m->timer = sh_loop_timer(loop, m->started + TICK, on_tick, m);
    if (!m->timer) {
        magnet_dht_free(m);
        return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    }
    *out = m;
    return 0;
}

uint64_t magnet_dht_found(const magnet_dht *m)
{
    return m ? m->found : 0;
}

void magnet_dht_free(magnet_dht *m)
{
    if (!m) return;
    if (m->timer) sh_loop_cancel(m->loop, m->timer);
    sh_dht_node_free(m->node);
    free(m);
}
