/*
 * choker.c — the upload-slot policy (see choker.h). Inputs arrive in
 * connection-id order and every tie is broken by that order, so the result
 * depends only on the snapshot, the mode, the time and the rng.
 */
#include "choker.h"

#include <stdlib.h>

void sh_choker_init(sh_choker *c)
{
    c->optimistic = 0;
    c->opt_until = 0;
}

/* Ranking: is a better than b for a regular slot? */
static bool better(const sh_choke_peer *a, const sh_choke_peer *b, bool seeding)
{
    if (a->coop != b->coop) return a->coop;
    if (a->coop && a->unchoked != b->unchoked) return a->unchoked; /* sticky: see choker.h */
    if (a->coop || seeding) {
        if (a->last_served != b->last_served) return a->last_served < b->last_served;
    } else if (a->down_rate != b->down_rate) {
        return a->down_rate > b->down_rate;
    }
    return a->conn < b->conn;
}

/* Index of the best interested peer not yet chosen, or n. */
static size_t best_free(const sh_choke_peer *p, size_t n, bool seeding)
{
    size_t best = n;
    for (size_t i = 0; i < n; i++) {
        if (!p[i].interested || p[i].unchoke) continue;
        if (best == n || better(&p[i], &p[best], seeding)) best = i;
    }
    return best;
}

static void pick_best(sh_choke_peer *p, size_t n, uint32_t k, bool seeding)
{
    for (uint32_t got = 0; got < k; got++) {
        size_t i = best_free(p, n, seeding);
        if (i == n) return;
        p[i].unchoke = true;
    }
}

static size_t find(const sh_choke_peer *p, size_t n, sh_conn_id conn)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].conn == conn) return i;
    return n;
}

/* Keeps or rotates the optimistic slot among interested peers not chosen. */
static void pick_optimistic(sh_choker *c, sh_choke_peer *p, size_t n, sh_rng *rng, sh_time now)
{
    size_t cur = find(p, n, c->optimistic);
    bool keep = cur < n && p[cur].interested && !p[cur].unchoke && now < c->opt_until;
    if (keep) {
        p[cur].unchoke = true;
        return;
    }
    size_t eligible = 0;
    for (size_t i = 0; i < n; i++)
        eligible += p[i].interested && !p[i].unchoke;
    c->optimistic = 0;
    if (eligible == 0) return;
    uint64_t k = sh_rng_below(rng, eligible);
    for (size_t i = 0; i < n; i++) {
        if (!p[i].interested || p[i].unchoke) continue;
        if (k-- == 0) {
            p[i].unchoke = true;
            c->optimistic = p[i].conn;
            c->opt_until = now + SH_CHOKER_OPTIMISTIC;
            return;
        }
    }
}

static void run_full(sh_choker *c, sh_choke_peer *p, size_t n, uint32_t slots, bool seeding,
                     sh_rng *rng, sh_time now)
{
    size_t interested = 0;
    for (size_t i = 0; i < n; i++)
        interested += p[i].interested;
    if (interested <= slots) {
        for (size_t i = 0; i < n; i++)
            p[i].unchoke = p[i].interested;
        c->optimistic = 0;
        return;
    }
    uint32_t opt = slots >= 2 ? 1 : 0;
    pick_best(p, n, slots - opt, seeding);
    if (opt) pick_optimistic(c, p, n, rng, now);
}

static void run_fill(sh_choke_peer *p, size_t n, uint32_t slots, bool seeding)
{
    uint32_t used = 0;
    for (size_t i = 0; i < n; i++) {
        p[i].unchoke = p[i].unchoked && p[i].interested;
        used += p[i].unchoke;
    }
    if (used < slots) pick_best(p, n, slots - used, seeding);
}

void sh_choker_run(sh_choker *c, sh_choke_peer *peers, size_t n, uint32_t slots, bool seeding,
                   sh_choke_mode mode, sh_rng *rng, sh_time now)
{
    for (size_t i = 0; i < n; i++)
        peers[i].unchoke = false;
    if (slots == 0) return;
    if (mode == SH_CHOKE_FILL)
        run_fill(peers, n, slots, seeding);
    else
        run_full(c, peers, n, slots, seeding, rng, now);
}
