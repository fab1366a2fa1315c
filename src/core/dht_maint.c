/*
 * dht_maint.c — what the node does on its own: keeping the routing table
 * honest (pinging questionable nodes, refreshing idle buckets), expiring
 * stored peers, and joining the network (bootstrap).
 *
 * The timer runs no more often than DHT_TICK, and only as often as there
 * is work: after each run it sleeps until the next questionable node may be
 * pinged, the next good node turns questionable, the next bucket goes idle
 * for DHT_REFRESH_TIME (or was marked stale by joining), or a minute has
 * passed (store expiry) — so a quiet
 * node in a simulation of thousands costs next to nothing.
 *
 * Bootstrap through an address: ping it and send it find_node(our id);
 * when that answers (its nodes are then in the table), run a find_node
 * lookup for our id through the table; repeat the whole while the table
 * has fewer than DHT_K good nodes, at most DHT_BOOT_ATTEMPTS times; then
 * refresh every bucket but the nearest (Kademlia's join). After that, a
 * node still short of DHT_K good nodes looks up its own id again
 * every DHT_LONELY_TIME (or, with an empty table, bootstraps again).
 */
#include "dht_int.h"

#include <string.h>

static sh_time min_t(sh_time a, sh_time b)
{
    return a < b ? a : b;
}

/* When a good node turns questionable (BEP 5: 15 minutes without news). */
static sh_time goes_stale(const dht_node *n)
{
    sh_time t = n->last_reply;
    if (n->queried && n->last_query > t) t = n->last_query;
    return t + DHT_GOOD_TIME;
}

/* Pings up to DHT_PINGS_PER_TICK questionable nodes, fairly: the scan resumes where the
 * previous one ran out of budget. Returns when the next one will be due. */
static sh_time ping_questionable(sh_dht *d, sh_time now)
{
    sh_time next = SH_TIME_NEVER;
    uint32_t pings = 0, nb = d->table.nb;
    uint32_t start = d->ping_cursor < nb ? d->ping_cursor : 0;
    for (uint32_t k = 0; k < nb; k++) {
        uint32_t bi = (start + k) % nb;
        dht_bucket *b = &d->table.b[bi];
        for (int j = 0; j < b->count; j++) {
            dht_node *n = &b->n[j];
            if (dht_node_bad(n)) continue; /* it waits to be replaced */
            if (dht_node_good(n, now)) {
                next = min_t(next, goes_stale(n));
                continue;
            }
            sh_time due = n->pinged ? n->last_ping + DHT_REPING_TIME : now;
            if (due > now) {
                next = min_t(next, due);
            } else if (pings < DHT_PINGS_PER_TICK) {
                dht_ping(d, &n->addr, now);
                pings++;
                next = min_t(next, now + DHT_REPING_TIME);
            } else {
                d->ping_cursor = bi;
                return now + DHT_TICK;
            }
        }
    }
    return next;
}

/* A find_node lookup for a random id in every bucket idle for DHT_REFRESH_TIME. */
static sh_time refresh_buckets(sh_dht *d, sh_time now)
{
    sh_time next = SH_TIME_NEVER;
    for (uint32_t i = 0; i < d->table.nb; i++) {
        dht_bucket *b = &d->table.b[i];
        sh_time due = b->changed + DHT_REFRESH_TIME;
        if (due > now && !b->stale) {
            next = min_t(next, due);
            continue;
        }
        if (d->internal_searches >= DHT_MAX_INTERNAL) return now + DHT_TICK;
        uint8_t target[20];
        bool last = i == d->table.nb - 1;
        dht_id_random(d->id, i, !last, &d->rng, target);
        /* restarting the clock first: the lookup may finish, and split the table, at once */
        b->changed = now;
        b->stale = false;
        next = min_t(next, now + DHT_REFRESH_TIME);
        dht_search_start(d, target, false, 0, true, -1, now);
    }
    return next;
}

/* While we know fewer than DHT_K good nodes, look for our neighbours every DHT_LONELY_TIME:
 * through the table if it has a node that is not bad, else through the bootstrap addresses. A node
 * whose bootstrap answers were all lost would otherwise wait for the 15-minute refresh. */
static sh_time stay_connected(sh_dht *d, sh_time now)
{
    uint32_t good, other;
    dht_table_counts(&d->table, now, &good, &other);
    if (good >= DHT_K) return SH_TIME_NEVER;
    if (now < d->next_lonely) return d->next_lonely;
    d->next_lonely = now + DHT_LONELY_TIME;
    dht_node any;
    if (dht_table_closest(&d->table, d->id, DHT_PICK_ANY, NULL, now, &any, 1) > 0) {
        dht_search_start(d, d->id, false, 0, true, -1, now);
        return d->next_lonely;
    }
    for (int i = 0; i < DHT_BOOT_SLOTS; i++) {
        if (!d->boot[i].addr.family || d->boot[i].active) continue;
        d->boot[i].active = true;
        d->boot[i].attempts = 0;
        dht_boot_try(d, i, now);
    }
    return d->next_lonely;
}

void dht_maint_run(sh_dht *d, sh_time now)
{
    sh_time next = now + SH_SEC(60);
    if (now >= d->next_expire) {
        dht_store_expire(&d->store, now);
        d->next_expire = now + SH_SEC(60);
    }
    next = min_t(next, d->next_expire);
    next = min_t(next, ping_questionable(d, now));
    next = min_t(next, refresh_buckets(d, now));
    next = min_t(next, stay_connected(d, now));
    d->next_maint = next > now + DHT_TICK ? next : now + DHT_TICK;
}

/* ---- bootstrap ------------------------------------------------------------------- */

void dht_boot_try(sh_dht *d, int slot, sh_time now)
{
    dht_boot *b = &d->boot[slot];
    b->attempts++;
    dht_ping(d, &b->addr, now);
    sh_krpc_msg q;
    memset(&q, 0, sizeof q);
    q.method = SH_KRPC_FIND_NODE;
    memcpy(q.target, d->id, 20);
    if (!dht_query(d, &b->addr, &q, DHT_TX_BOOT, (uint64_t)slot, now)) b->active = false;
}

static dht_boot *live_slot(sh_dht *d, int slot)
{
    if (slot < 0 || slot >= DHT_BOOT_SLOTS || !d->boot[slot].active) return NULL;
    return &d->boot[slot];
}

/* The last step of joining (Kademlia §2.3): refresh every bucket farther than our closest
 * neighbours. The lookup for our own id only filled the buckets near us; without this, a
 * node may know nobody in the other half of the id space until its first 15-minute refresh. */
static void refresh_far_buckets(sh_dht *d, sh_time now)
{
    for (uint32_t i = 0; i + 1 < d->table.nb; i++)
        d->table.b[i].stale = true;
    d->next_maint = now;
}

static void again_or_stop(sh_dht *d, int slot, sh_time now)
{
    uint32_t good, other;
    dht_table_counts(&d->table, now, &good, &other);
    if (good < DHT_K && d->boot[slot].attempts < DHT_BOOT_ATTEMPTS) {
        dht_boot_try(d, slot, now);
        return;
    }
    d->boot[slot].active = false;
    refresh_far_buckets(d, now);
}

void dht_boot_reply(sh_dht *d, int slot, sh_time now)
{
    if (!live_slot(d, slot)) return;
    if (dht_search_start(d, d->id, false, 0, true, slot, now) == 0) again_or_stop(d, slot, now);
}

void dht_boot_failed(sh_dht *d, int slot, sh_time now)
{
    if (live_slot(d, slot)) again_or_stop(d, slot, now);
}

void dht_boot_search_done(sh_dht *d, int slot, sh_time now)
{
    if (live_slot(d, slot)) again_or_stop(d, slot, now);
}
