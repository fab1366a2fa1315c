/*
 * tstore_int.h — the tracker store's internals, shared by tstore.c (the
 * public entry points), tstore_swarm.c (tables and per-swarm peer arrays)
 * and tstore_policy.c (whom to hand out). Not a public API.
 *
 * Layout. Swarms live in an open-addressing table keyed by a keyed hash
 * (SipHash) of the info hash. Each swarm keeps its peers in one dense array
 * split into three contiguous class regions,
 *
 *     [ seeds | holders | empty ]      cnt[CLS_SEED], cnt[CLS_HOLDER], cnt[CLS_EMPTY]
 *
 * so the policy can sample one class uniformly by index in O(1) per draw.
 * A peer changes class by at most two swaps across region boundaries, and
 * leaves by moving to the empty region and swapping with the last element.
 * An open-addressing index (linear probing, backward-shift deletion, no
 * tombstones) maps the peer's address (ip, port) to its position.
 */
#ifndef SHOAL_TSTORE_INT_H
#define SHOAL_TSTORE_INT_H

#include <shoal/rng.h>
#include <shoal/tstore.h>

#include "siphash.h"

enum { CLS_SEED = 0, CLS_HOLDER = 1, CLS_EMPTY = 2, CLS_N = 3 };

#define TS_NONE UINT32_MAX

/* One peer: 64 bytes. Times are whole seconds of the driver's clock. */
typedef struct ts_peer {
    uint8_t ip[16]; /* 4 or 16 bytes used, rest zero */
    uint16_t port;
    uint8_t family;    /* 4 or 6 */
    uint8_t completed; /* its completion was counted */
    uint32_t seen;     /* last announce, seconds (wraps; compared by difference) */
    uint32_t hwin;     /* handout window that `handouts` counts in */
    uint32_t handouts; /* times handed out during window hwin */
    uint64_t left;
    uint8_t peer_id[20];
    uint32_t hash; /* keyed hash of the address: home slot in the index */
} ts_peer;

typedef struct ts_swarm {
    uint8_t info_hash[20];
    uint32_t n, cap;      /* peers, array capacity */
    uint32_t cnt[CLS_N];  /* region sizes; their sum is n */
    uint32_t downloaded;  /* completions counted (scrape "downloaded") */
    uint32_t qwin, qfull; /* seeds at their handout quota in window qwin */
    uint64_t hash;        /* keyed hash of info_hash: home slot in the swarm table */
    uint64_t max_left;    /* largest left ever announced: "nothing yet" */
    ts_peer *peers;
    uint32_t *idx; /* position + 1, 0 = free; idx_mask + 1 slots */
    uint32_t idx_mask;
} ts_swarm;

/* Scratch for sparse Fisher–Yates: a map from index to displaced index. */
#define TS_FY_SLOTS 2048u
typedef struct ts_fy_slot {
    uint32_t gen, key, val;
} ts_fy_slot;

struct sh_tstore {
    sh_tstore_config cfg; /* defaults resolved */
    sh_sipkey key;
    sh_rng rng;

    ts_swarm **tab; /* swarm table, tab_mask + 1 slots */
    uint32_t tab_mask, nswarms;

    uint8_t (*allow)[20]; /* private mode allow-list: open addressing */
    uint8_t *allow_used;
    uint32_t allow_mask, nallow;

    uint64_t npeers, nseeds, completed, announces, scrapes, refused;

    uint32_t exp_slot, exp_pos; /* expiry cursor: swarm table slot, peer position */

    ts_fy_slot *fy;
    uint32_t fy_gen;
};

/* ---- tstore_swarm.c: tables ---- */

int sh_ts_tables_init(sh_tstore *t);
void sh_ts_tables_free(sh_tstore *t);
/* The swarm for ih and its slot, or NULL. */
ts_swarm *sh_ts_swarm_find(const sh_tstore *t, const uint8_t ih[20], uint32_t *slot);
int sh_ts_swarm_add(sh_tstore *t, const uint8_t ih[20], ts_swarm **out);
/* Removes the swarm in slot (its peers too). Later entries may shift into slot. */
void sh_ts_swarm_del(sh_tstore *t, uint32_t slot);
bool sh_ts_allowed(const sh_tstore *t, const uint8_t ih[20]);
int sh_ts_allow_add(sh_tstore *t, const uint8_t ih[20]);

/* ---- tstore_swarm.c: peers of one swarm ---- */

uint32_t sh_ts_region_start(const ts_swarm *s, int cls);
int sh_ts_class_of(const ts_swarm *s, uint32_t pos);
/* Position of the peer at address a, or TS_NONE. */
uint32_t sh_ts_peer_find(const sh_tstore *t, const ts_swarm *s, const sh_addr *a);
/* Appends a zeroed peer at a in the empty class; *pos is where. */
int sh_ts_peer_add(sh_tstore *t, ts_swarm *s, const sh_addr *a, uint32_t *pos);
void sh_ts_peer_del(sh_tstore *t, ts_swarm *s, uint32_t pos);
/* Moves the peer at pos into class cls; returns its new position. */
uint32_t sh_ts_peer_set_class(sh_tstore *t, ts_swarm *s, uint32_t pos, int cls);
/* Bytes held by the store's tables and arrays (for the memory report). */
size_t sh_ts_mem_bytes(const sh_tstore *t);

/* ---- tstore_policy.c ---- */

typedef struct ts_asker {
    uint32_t pos;           /* its own entry, never handed to it */
    const uint8_t *peer_id; /* another entry with this id is it too */
    uint8_t family;
    bool want_v6;
    uint32_t now_s, window; /* seconds; handout window number */
} ts_asker;

/* Fills out with up to want peers of s chosen for asker a; returns how many. */
uint32_t sh_ts_select(sh_tstore *t, ts_swarm *s, const ts_asker *a, uint32_t want, sh_tpeer *out);
/* True if the peer has not announced within two intervals. */
bool sh_ts_stale(const sh_tstore *t, const ts_peer *p, uint32_t now_s);

#endif
