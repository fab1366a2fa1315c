/*
 * link.c — TCP connections between simulated hosts: dialing, accepting,
 * refusing, closing.
 *
 * A connect takes a round trip: the SYN reaches the listener after the
 * one-way latencies of both hosts, the listener's swarm accepts or refuses
 * at that moment, and the answer travels back. A host that crashed does not
 * answer at all (the dialer's handshake timeout ends the attempt). A close
 * reaches the far side after the latency but never before the data already
 * in flight on that connection, as a FIN follows the data in TCP.
 *
 * Endpoints are never freed during a run (ids of swarm connections are
 * never reused either); an endpoint is small.
 */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

uint32_t sim_end_of(const sim_world *w, uint32_t h, sh_conn_id c)
{
    const sim_host *x = &w->hosts[h];
    return c < x->nconns ? x->conns[c] : SIM_NONE;
}

static int map_conn(sim_host *x, sh_conn_id c, uint32_t e)
{
    if (c >= UINT32_MAX / 2) return SH_ELIMIT;
    if (c >= x->nconns) {
        uint32_t n = x->nconns ? x->nconns : 16;
        while (n <= c)
            n *= 2;
        uint32_t *m = realloc(x->conns, (size_t)n * sizeof *m);
        if (!m) return SH_ENOMEM;
        for (uint32_t i = x->nconns; i < n; i++)
            m[i] = SIM_NONE;
        x->conns = m;
        x->nconns = n;
    }
    x->conns[c] = e;
    return 0;
}

/* A new endpoint, or SIM_NONE when out of memory. */
static uint32_t end_new(sim_world *w, uint32_t h, uint32_t far_host, sh_conn_id c, uint8_t state)
{
    if (w->nends == w->capends) {
        uint32_t n = w->capends ? w->capends * 2 : 1024;
        sim_end *v = realloc(w->ends, (size_t)n * sizeof *v);
        if (!v) return SIM_NONE;
        w->ends = v;
        w->capends = n;
    }
    uint32_t e = w->nends;
    if (map_conn(&w->hosts[h], c, e) < 0) return SIM_NONE;
    w->nends++;
    w->ends[e] = (sim_end){.host = h,
                           .far_host = far_host,
                           .far = SIM_NONE,
                           .conn = c,
                           .state = state,
                           .rr_next = SIM_NONE,
                           .last_chunk = SIM_NONE,
                           .batch = SIM_NONE};
    return e;
}

/*
 * Bytes in flight allowed from a to b: a TCP window of twice the
 * bandwidth-delay product, at least 256 KiB, so a slow receiver pushes back.
 * Plus two chunks: a chunk counts as in flight whole, from its send until
 * its delivery, where the packets of a real stream would leave the window
 * one by one; without this a window of one chunk would be stop-and-wait.
 */
static uint32_t window(const sim_world *w, uint32_t a, uint32_t b)
{
    const sim_host *x = &w->hosts[a], *y = &w->hosts[b];
    uint64_t rate = x->up < y->down ? x->up : y->down;
    sh_time rtt = 2 * (x->lat + y->lat);
    double bdp = (double)rate * (double)rtt / 1e9;
    double win = 2 * bdp;
    if (win < 256.0 * 1024) win = 256.0 * 1024;
    double chunk = (double)w->o.quantum;
    if (chunk < (double)w->o.block + 13) chunk = (double)w->o.block + 13;
    win += 2 * chunk;
    if (win > 1e9) win = 1e9;
    return (uint32_t)win;
}

static sh_time one_way(const sim_world *w, uint32_t a, uint32_t b)
{
    return w->hosts[a].lat + w->hosts[b].lat;
}

void sim_act_connect(sim_world *w, uint32_t h, const sh_action *a)
{
    uint32_t g = sim_host_of_addr(w, &a->addr);
    uint32_t e = end_new(w, h, g, a->conn, SIM_CONNECTING);
    w->st.connects++;
    if (e == SIM_NONE) { /* out of memory: the swarm sees a failed connect */
        sh_swarm_closed(w->hosts[h].sw, a->conn, SH_ENOMEM, w->now);
        return;
    }
    if (g == SIM_NONE) { /* nobody there: refused after a round trip to the network */
        sim_push(w, w->now + 2 * w->hosts[h].lat, EV_REFUSED, h, e);
        return;
    }
    sim_push(w, w->now + one_way(w, h, g), EV_SYN, g, e);
}

void sim_on_syn(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    uint32_t h = E->host, g = E->far_host;
    sim_host *G = &w->hosts[g];
    if (E->state == SIM_CLOSED || G->crashed) return;
    sh_addr src = w->hosts[h].addr;
    src.port = G->next_port; /* an ephemeral port of the dialer; only has to look plausible */
    G->next_port = G->next_port == 65535 ? 40000 : G->next_port + 1;
    w->log_host = g;
    sh_conn_id cg = sh_swarm_accept(G->sw, &src, w->now);
    uint32_t f = cg ? end_new(w, g, h, cg, SIM_OPEN) : SIM_NONE;
    if (f == SIM_NONE) {
        if (cg) sh_swarm_closed(w->hosts[g].sw, cg, SH_ENOMEM, w->now);
        w->st.refused++;
        sim_push(w, w->now + one_way(w, g, h), EV_REFUSED, h, e);
        sim_drain(w, g);
        return;
    }
    E = &w->ends[e]; /* end_new may have moved the table */
    E->far = f;
    w->ends[f].far = e;
    E->window = window(w, h, g);
    w->ends[f].window = window(w, g, h);
    sim_push(w, w->now + one_way(w, g, h), EV_SYNACK, h, e);
    sim_drain(w, g);
}

void sim_on_synack(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    uint32_t h = E->host;
    if (E->state == SIM_CLOSED) { /* gave up (or crashed) meanwhile: the listener learns it */
        if (E->far != SIM_NONE)
            sim_push(w, w->now + one_way(w, h, E->far_host), EV_FIN, E->far_host, E->far);
        return;
    }
    E->state = SIM_OPEN;
    w->log_host = h;
    sh_swarm_connected(w->hosts[h].sw, E->conn, w->now);
    sim_drain(w, h);
}

void sim_on_refused(sim_world *w, uint32_t e)
{
    sim_end *E = &w->ends[e];
    uint32_t h = E->host;
    if (E->state == SIM_CLOSED || w->hosts[h].crashed) return;
    E->state = SIM_CLOSED;
    w->log_host = h;
    sh_swarm_closed(w->hosts[h].sw, E->conn, SH_ECLOSED, w->now);
    sim_drain(w, h);
}

void sim_end_close_far(sim_world *w, uint32_t e)
{
    const sim_end *E = &w->ends[e];
    if (E->far == SIM_NONE) return;
    sh_time t = sim_max(w->now + one_way(w, E->host, E->far_host), E->last_arrival + 1);
    sim_push(w, t, EV_FIN, E->far_host, E->far);
}

void sim_act_close(sim_world *w, uint32_t h, const sh_action *a)
{
    w->st.closes++;
    sh_swarm_closed(w->hosts[h].sw, a->conn, a->reason, w->now);
    uint32_t e = sim_end_of(w, h, a->conn);
    if (e == SIM_NONE || w->ends[e].state == SIM_CLOSED) return;
    sim_end_flush(w, e); /* what was written goes out before the FIN */
    if (w->ends[e].state == SIM_OPEN) sim_end_close_far(w, e);
    w->ends[e].state = SIM_CLOSED; /* CONNECTING: the SYN or SYN-ACK finds it closed */
}

void sim_on_fin(sim_world *w, uint32_t f)
{
    sim_end *F = &w->ends[f];
    uint32_t g = F->host;
    if (F->state == SIM_CLOSED || w->hosts[g].crashed) return;
    F->state = SIM_CLOSED;
    w->log_host = g;
    sh_swarm_closed(w->hosts[g].sw, F->conn, SH_ECLOSED, w->now);
    sim_drain(w, g);
}
