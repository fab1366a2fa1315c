/*
 * dht_node_int.h — the DHT node's insides, shared by dht_node.c (socket,
 * pump, timer) and dht_node_state.c (the state file). Not for other modules.
 */
#ifndef SHOAL_IO_DHT_NODE_INT_H
#define SHOAL_IO_DHT_NODE_INT_H

#include "io/dht_node.h"

#include <sys/socket.h>
#include <sys/uio.h>

#define DHT_NODE_RX_BATCH 16 /* datagrams per recvmmsg */

struct sh_dht_node {
    sh_loop *loop;
    sh_dht *dht;
    sh_logger log;
    int fd;
    bool registered;
    sh_addr addr;
    bool pumping;
    uint64_t timer;
    sh_time timer_at;
    sh_dht_node_fn fn;
    void *fn_ud;
    sh_dht_node_stats st;

    char *state_path;
    sh_time save_interval;
    uint64_t save_timer;
    bool restored;

    uint8_t *rx_buf; /* DHT_NODE_RX_BATCH slots of SH_DHT_NODE_MAX_DATAGRAM bytes */
    struct mmsghdr rx_msg[DHT_NODE_RX_BATCH];
    struct iovec rx_iov[DHT_NODE_RX_BATCH];
    struct sockaddr_storage rx_addr[DHT_NODE_RX_BATCH];
};

void dht_node_pump(sh_dht_node *n, bool after_timer);
/* Loads state_path into the core if it exists; problems are warnings. */
void dht_node_state_load(sh_dht_node *n);
/* Arms the periodic save (no-op without a state path). */
void dht_node_state_schedule(sh_dht_node *n);

#endif
