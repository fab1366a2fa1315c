/*
 * tstore_int.h — the tracker store's internals, shared by tstore.c (the
 * public entry points), tstore_swarm.c (the swarm table, the allow-list),
 * tstore_peers.c (each swarm's peer array, its index and class regions) and
 * tstore_policy.c (whom to hand out). Not a public API.
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
 *
 * Memory is the point of the entry's shape: a peer is 16 bytes (IPv4
 * address, port, flags, its seed handouts, last announce, a hash of its peer
 * id), four to a cache line, so a random sample touches few lines. A swarm
 * that holds an IPv6 peer switches to 32-byte entries, the 16 plus the other
 * 12 bytes of the address. Nothing in an entry is derivable from where it
 * sits: a peer's class is its region, and `left` matters only as the class.
 * Full peer ids (only the dictionary form of an HTTP answer shows them) live
 * in a parallel array, or nowhere when the store is configured without them.
 *
 * The index maps an address to its position: open addressing with linear
 * probing, at most three quarters full, backward-shift deletion (no
 * tombstones). A slot holds position + 1 in its low TS_POS_BITS bits and
 * the top bits of the address hash above them, so a probe compares tags
 * without touching the peer array; the home slot of an entry is recomputed
 * from its address when needed (swaps, deletions, rebuilds), which keeps
 * the hash out of the entry.
 */
#ifndef SHOAL_TSTORE_INT_H
#define SHOAL_TSTORE_INT_H

#include <shoal/rng.h>
#include <shoal/tstore.h>

#include "siphash.h"

enum { CLS_SEED = 0, CLS_HOLDER = 1, CLS_EMPTY = 2, CLS_N = 3 };

#define TS_NONE UINT32_MAX

#define TS_POS_BITS 22u
#define TS_POS_MASK ((1u << TS_POS_BITS) - 1u)
#define TS_MAX_SWARM_PEERS TS_POS_MASK /* position + 1 must fit the slot */
#define TS_MAX_HANDOUTS 255u           /* ts_peer.handouts saturates here */

#define TS_F_V6 1u        /* an IPv6 peer (the swarm's entries are wide) */
#define TS_F_COMPLETED 2u /* its completion was counted */

#define TS_NARROW 16u /* entry size while a swarm holds only IPv4 peers */
#define TS_WIDE 32u   /* ... once it holds an IPv6 one: + 12 address bytes + 4 padding */

/* One peer; in a wide swarm the other 12 bytes of an IPv6 address follow.
 * Times are whole seconds of the driver's clock. */
typedef struct ts_peer {
    uint8_t ip[4]; /* IPv4 address, or the first 4 bytes of the IPv6 one */
    uint16_t port;
    uint8_t flags;    /* TS_F_* */
    uint8_t handouts; /* seeds: times handed out in the swarm's window qwin */
    uint32_t seen;    /* last announce, seconds (wraps; compared by difference) */
    uint32_t pid;     /* keyed hash of its peer id: the asker under another address */
} ts_peer;

typedef struct ts_swarm {
    uint8_t info_hash[20];
    uint32_t n, cap;      /* peers, array capacity */
    uint32_t cnt[CLS_N];  /* region sizes; their sum is n */
    uint32_t downloaded;  /* completions counted (scrape "downloaded") */
    uint32_t qwin, qfull; /* the window seeds' handouts count in; seeds at quota in it */
    uint32_t stride;      /* TS_NARROW or TS_WIDE */
    uint64_t hash;        /* keyed hash of info_hash: home slot in the swarm table */
    uint64_t max_left;    /* largest left ever announced: "nothing yet" */
    uint8_t *peers;       /* cap entries of stride bytes */
    uint8_t (*ids)[20];   /* cap peer ids, parallel to peers; NULL if not kept */
    uint32_t *idx;        /* tag | position + 1, 0 = free; idx_mask + 1 slots */
    uint32_t idx_mask;
} ts_swarm;

static inline ts_peer *ts_at(const ts_swarm *s, uint32_t pos)
{
    return (ts_peer *)(void *)(s->peers + (size_t)pos * s->stride);
}

/* The last 12 bytes of an IPv6 peer's address (wide swarms only). */
static inline uint8_t *ts_ip_rest(ts_peer *p)
{
    return (uint8_t *)p + TS_NARROW;
}

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
/* Smallest power of two >= 2 * n (at least 16), or 0 if too large. */
uint32_t sh_ts_table_size(uint32_t n);
/* The swarm for ih and its slot, or NULL. */
ts_swarm *sh_ts_swarm_find(const sh_tstore *t, const uint8_t ih[20], uint32_t *slot);
int sh_ts_swarm_add(sh_tstore *t, const uint8_t ih[20], ts_swarm **out);
/* Removes the swarm in slot (its peers too). Later entries may shift into slot. */
void sh_ts_swarm_del(sh_tstore *t, uint32_t slot);
bool sh_ts_allowed(const sh_tstore *t, const uint8_t ih[20]);
int sh_ts_allow_add(sh_tstore *t, const uint8_t ih[20]);

/* ---- tstore_peers.c: the peers of one swarm ---- */

void sh_ts_peers_free(ts_swarm *s);
uint32_t sh_ts_region_start(const ts_swarm *s, int cls);
int sh_ts_class_of(const ts_swarm *s, uint32_t pos);
/* Position of the peer at address a, or TS_NONE. */
uint32_t sh_ts_peer_find(const sh_tstore *t, const ts_swarm *s, const sh_addr *a);
/* Appends a zeroed peer at a in the empty class; *pos is where. */
int sh_ts_peer_add(sh_tstore *t, ts_swarm *s, const sh_addr *a, uint32_t *pos);
void sh_ts_peer_del(sh_tstore *t, ts_swarm *s, uint32_t pos);
/* Moves the peer at pos into class cls; returns its new position. */
uint32_t sh_ts_peer_set_class(sh_tstore *t, ts_swarm *s, uint32_t pos, int cls);
/* The peer's address. */
void sh_ts_peer_addr(const ts_swarm *s, uint32_t pos, sh_addr *out);
/* Bytes held by the store's tables and arrays (for the memory report). */
size_t sh_ts_mem_bytes(const sh_tstore *t);

/* ---- tstore_policy.c ---- */

typedef struct ts_asker {
    uint32_t pos; /* its own entry, never handed to it */
    uint32_t pid; /* another entry with this peer id hash is it too */
    uint8_t family;
    bool want_v6;
    bool want_ids;          /* copy peer ids into the answer (if the store keeps them) */
    uint32_t now_s, window; /* seconds; handout window number */
} ts_asker;

/* Fills out with up to want peers of s chosen for asker a; returns how many. */
uint32_t sh_ts_select(sh_tstore *t, ts_swarm *s, const ts_asker *a, uint32_t want, sh_tpeer *out);
/* True if the peer has not announced within two intervals. */
bool sh_ts_stale(const sh_tstore *t, const ts_peer *p, uint32_t now_s);

#endif
