/*
 * dht_net_harness.h — an in-memory UDP network in virtual time, for testing many
 * sh_dht nodes together (tests only, not part of libshoal).
 *
 * Node i listens on 127.x.y.z:6881 where x.y.z is i + 1 as a 24-bit number
 * (so the first 254 nodes are 127.0.0.1 … 127.0.0.254). Datagrams take
 * latency + uniform [0, jitter) to arrive and are lost with probability
 * `loss`. Time jumps from event to event (datagram arrivals and the nodes'
 * own deadlines, kept in heaps), so thousands of nodes run quickly and a
 * run is reproducible from its seed: the digest covers every datagram sent.
 */
#ifndef SHOAL_TEST_DHT_NET_HARNESS_H
#define SHOAL_TEST_DHT_NET_HARNESS_H

#include <shoal/dht.h>

typedef struct dht_net dht_net;

typedef struct dht_net_cfg {
    uint32_t nodes;
    uint64_t seed;
    sh_time latency;
    sh_time jitter;
    double loss;
    uint32_t query_rate; /* for every node; 0: the default */
} dht_net_cfg;

/* Called for each SH_DHT_PEERS / SH_DHT_SEARCH_DONE action a node emits. */
typedef void (*dht_net_event_fn)(void *ud, uint32_t node, const sh_dht_action *a, sh_time now);
/* Called for each datagram a node sends to an address that is not a node. */
typedef void (*dht_net_foreign_fn)(void *ud, uint32_t node, const sh_addr *to, const uint8_t *p,
                                   size_t len, sh_time now);

dht_net *dht_net_new(const dht_net_cfg *cfg, sh_time start);
void dht_net_free(dht_net *n);
void dht_net_on_event(dht_net *n, dht_net_event_fn fn, void *ud);
void dht_net_on_foreign(dht_net *n, dht_net_foreign_fn fn, void *ud);

sh_dht *dht_net_node(dht_net *n, uint32_t i);
sh_addr dht_net_addr(uint32_t i);
int64_t dht_net_index(const dht_net *n, const sh_addr *a); /* -1 if not a node */
sh_time dht_net_now(const dht_net *n);
void dht_net_set_loss(dht_net *n, double loss);
/* A dead node receives nothing and its timers stop. */
void dht_net_kill(dht_net *n, uint32_t i);

/* Runs events until virtual time `until` (inclusive); now = until afterwards. */
void dht_net_run(dht_net *n, sh_time until);
/* After calling an sh_dht function on node i directly: drains it and re-arms its timer. */
void dht_net_touched(dht_net *n, uint32_t i);
/* Sends a datagram from a foreign address to node `to` (through the network model). */
void dht_net_inject(dht_net *n, const sh_addr *from, uint32_t to, const uint8_t *p, size_t len);

void dht_net_bootstrap(dht_net *n, uint32_t i, uint32_t via);
/* Starts a search on node i; *sid is set before the node's first actions are drained. */
void dht_net_search(dht_net *n, uint32_t i, const uint8_t ih[20], uint16_t port, uint64_t *sid);

typedef struct dht_net_stats {
    uint64_t sent, lost, delivered, foreign, events;
} dht_net_stats;
void dht_net_stats_get(const dht_net *n, dht_net_stats *st);
uint64_t dht_net_digest(const dht_net *n);

#endif
