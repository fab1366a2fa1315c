/*
 * dht_fleet.h — what `shoal dht` runs: one DHT node, or (the hidden
 * --nodes N, for tests and fleet routers) N nodes on one loop, each a real
 * sh_dht with its own UDP socket; and the optional line-based control
 * interface on stdin (--control) that tests use to announce and look up.
 *
 * Nothing here is a library: it belongs to cmd_dht.c and dht_ctl.c.
 */
#ifndef SHOAL_CLI_DHT_FLEET_H
#define SHOAL_CLI_DHT_FLEET_H

#include "io/dht_node.h"
#include "io/loop.h"

#include <stdint.h>

#define DHT_FLEET_MAX_NODES 4096u

typedef struct dht_fleet dht_fleet;

/* What a node's search callback needs to name itself. */
typedef struct dht_fleet_slot {
    dht_fleet *fleet;
    uint32_t index;
} dht_fleet_slot;

struct dht_fleet {
    sh_loop *loop;
    sh_dht_node **nodes;
    dht_fleet_slot *slots;
    uint32_t count;
    /* control interface */
    bool control;
    bool ctl_registered;
    char ctl_line[1024];
    size_t ctl_len;
    bool ctl_skipping; /* inside an overlong line: dropped up to its newline */
    /* Search output produced while a command runs waits for its "started"
     * line (a search can end inside sh_dht_node_search). */
    bool ctl_in_command;
    char *ctl_held;
    size_t ctl_held_len;
};

/* Starts reading commands from stdin (fd 0). -1 if stdin cannot be watched. */
int dht_ctl_start(dht_fleet *f);
void dht_ctl_stop(dht_fleet *f);
/* The search callback in control mode: prints "found" and "done" lines. */
void dht_ctl_on_search(sh_dht_node *n, const sh_dht_action *a, void *ud);

#endif
