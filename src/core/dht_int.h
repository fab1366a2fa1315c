/*
 * dht_int.h — the private parts of the DHT node (dht.h), shared by its files:
 *
 *   dht_id.c      XOR distance and prefix arithmetic on 160-bit ids
 *   dht_table.c   the routing table of k-buckets
 *   dht_token.c   announce tokens bound to the asker's IP, rotating secrets
 *   dht_store.c   peers announced to us, per info-hash, with expiry
 *   dht_limit.c   per-source-IP rate limit of incoming queries
 *   dht_tx.c      our outstanding queries, keyed by transaction id
 *   dht_search.c  iterative lookups (find_node / get_peers + announce)
 *   dht_maint.c   the timer: timeouts, pings, bucket refresh, bootstrap
 *   dht_save.c    routing-table persistence
 *   dht.c         the node: lifecycle, dispatch, answers, the action queue
 *
 * The table, token, store, limiter and transaction modules are plain data
 * structures that know nothing of the node (the unit tests drive them
 * alone); search, maint and save act on the node. Nothing outside the DHT
 * includes this header, and none of it performs I/O or reads a clock.
 */
#ifndef SHOAL_DHT_INT_H
#define SHOAL_DHT_INT_H

#include <shoal/dht.h>
#include <shoal/krpc.h>
#include <shoal/rng.h>

#define DHT_K 8                          /* bucket size, answer size, announce fan-out */
#define DHT_ALPHA 3                      /* queries in flight per lookup */
#define DHT_SEARCH_NODES 32              /* candidates a lookup keeps */
#define DHT_MAX_SEARCHES 64              /* user lookups at once (dht.h) */
#define DHT_MAX_INTERNAL 16              /* bootstrap and refresh lookups at once */
#define DHT_QUERY_TIMEOUT SH_SEC(2)      /* no answer by then: the node failed */
#define DHT_GOOD_TIME SH_SEC(15 * 60)    /* BEP 5: good = heard from within 15 min */
#define DHT_REFRESH_TIME SH_SEC(15 * 60) /* idle buckets are refreshed after this */
#define DHT_MAX_FAILS 3                  /* failed queries in a row: bad */
#define DHT_REPING_TIME SH_SEC(15)       /* a questionable node is pinged at most this often */
#define DHT_PINGS_PER_TICK 4             /* maintenance pings per timer run */
#define DHT_TICK SH_SEC(1)               /* the timer runs at most this often for maintenance */
#define DHT_NODES_PER_REPLY 16           /* nodes of one response we look at */
#define DHT_BOOT_SLOTS 8                 /* bootstrap addresses remembered */
#define DHT_BOOT_ATTEMPTS 3
#define DHT_LONELY_TIME SH_SEC(15) /* fewer than k good nodes: look for more this often */
#define DHT_MAX_QUEUE 8192         /* queued actions; beyond, datagrams are dropped */
#define DHT_MAX_TX 4096            /* outstanding queries */

/* ---- ids ---------------------------------------------------------------- */

/* <0 if a is closer to target than b, >0 if farther, 0 if equal. */
int dht_id_closer(const uint8_t a[20], const uint8_t b[20], const uint8_t target[20]);
/* Number of leading bits a and b share, 0..160. */
unsigned dht_id_prefix(const uint8_t a[20], const uint8_t b[20]);
/* A random id sharing exactly `bits` leading bits with base (all 160 if bits >= 160),
 * or at least `bits` when `exact` is false. */
void dht_id_random(const uint8_t base[20], unsigned bits, bool exact, sh_rng *r, uint8_t out[20]);
/* A hash of an address for the hash tables, keyed so remote parties cannot aim collisions. */
uint64_t dht_addr_hash(const sh_addr *a, bool with_port, uint64_t key);

/* ---- routing table (dht_table.c) ------------------------------------------
 *
 * Buckets are indexed by the number of leading bits their nodes share with
 * our id: bucket i < nb-1 holds nodes sharing exactly i bits, the last one
 * those sharing nb-1 or more, which is the bucket our own id falls in and the
 * only one that ever splits. Each holds at most DHT_K nodes, plus one
 * candidate waiting for a questionable node to fail. Exact (IP, port)
 * duplicates are merged; nothing else about addresses is restricted.
 */
typedef enum dht_seen {
    DHT_HEARD = 0,   /* named in another node's "nodes" list: unverified */
    DHT_QUERIED = 1, /* it sent us a query */
    DHT_REPLIED = 2, /* it answered one of our queries */
} dht_seen;

typedef struct dht_node {
    uint8_t id[20];
    sh_addr addr;
    sh_time last_reply; /* meaningful once replied */
    sh_time last_query; /* meaningful once queried */
    sh_time last_ping;  /* last query we sent it; meaningful once pinged */
    uint32_t ahash;     /* of addr: a cheap first test when scanning the table */
    uint8_t fails;      /* queries in a row without an answer */
    bool replied, queried, pinged;
} dht_node;

typedef struct dht_bucket {
    dht_node n[DHT_K];
    uint8_t count;
    int8_t victim; /* slot pinged on behalf of cand, -1 if none */
    bool has_cand;
    sh_time victim_at; /* when the victim was pinged */
    sh_time changed;   /* a node joined or answered: the refresh clock */
    bool stale;        /* to be refreshed at the next timer run (after joining) */
    dht_node cand;
} dht_bucket;

typedef struct dht_table {
    uint8_t self[20];
    dht_bucket *b;
    uint32_t nb;
} dht_table;

typedef enum dht_add_result {
    DHT_ADD_DROPPED = 0, /* no room (or not acceptable) */
    DHT_ADD_NEW = 1,     /* inserted */
    DHT_ADD_UPDATED = 2, /* already known: times refreshed */
    DHT_ADD_PING = 3,    /* kept as a candidate: ping *ping, which it replaces if that fails */
} dht_add_result;

typedef enum dht_pick {
    DHT_PICK_GOOD = 0,   /* good nodes only */
    DHT_PICK_ANSWER = 1, /* good nodes, topped up with live questionable ones */
    DHT_PICK_ANY = 2,    /* every node that is not bad */
} dht_pick;

int dht_table_init(dht_table *t, const uint8_t self[20], sh_time now);
void dht_table_free(dht_table *t);
/* Re-sorts every node under a new own id (after sh_dht_load). */
int dht_table_rekey(dht_table *t, const uint8_t self[20], sh_time now);
dht_add_result dht_table_add(dht_table *t, const uint8_t id[20], const sh_addr *a, dht_seen how,
                             sh_time now, dht_node *ping);
/* A query to a got no answer in time; may hand its slot to the bucket's candidate. */
void dht_table_failed(dht_table *t, const sh_addr *a, sh_time now);
/* We sent a query to a (for re-ping pacing). */
void dht_table_sent(dht_table *t, const sh_addr *a, sh_time now);
dht_node *dht_table_find(dht_table *t, const sh_addr *a);
uint32_t dht_table_bucket_of(const dht_table *t, const uint8_t id[20]);
/* Up to max nodes closest to target (max <= DHT_SEARCH_NODES), sorted; skips `except`. */
uint32_t dht_table_closest(const dht_table *t, const uint8_t target[20], dht_pick pick,
                           const sh_addr *except, sh_time now, dht_node *out, uint32_t max);
void dht_table_counts(const dht_table *t, sh_time now, uint32_t *good, uint32_t *other);
bool dht_node_good(const dht_node *n, sh_time now);
bool dht_node_bad(const dht_node *n);

/* ---- tokens (dht_token.c) ------------------------------------------------ */

#define DHT_TOKEN_LEN 8
#define DHT_SECRET_TIME SH_SEC(5 * 60)

typedef struct dht_tokens {
    uint8_t key[32]; /* from the seed and our id: the secrets are derived from it */
    sh_time t0;      /* start of period 0 */
} dht_tokens;

void dht_token_init(dht_tokens *tk, uint64_t seed, const uint8_t id[20], sh_time now);
void dht_token_make(const dht_tokens *tk, const sh_addr *a, sh_time now,
                    uint8_t out[DHT_TOKEN_LEN]);
/* True for a token made for a's IP in the current or the previous period. */
bool dht_token_check(const dht_tokens *tk, const sh_addr *a, const uint8_t *tok, size_t len,
                     sh_time now);

/* ---- announced peers (dht_store.c) ---------------------------------------- */

#define DHT_STORE_TTL SH_SEC(30 * 60)
#define DHT_STORE_PER_HASH 1000
#define DHT_STORE_ANSWER 50  /* values in one IPv4 get_peers answer (~760 bytes in all) */
#define DHT_STORE_ANSWER6 32 /* values in one IPv6 answer: ~1100 bytes, under the 1280 MTU */

typedef struct dht_peer {
    sh_addr addr;
    sh_time expires;
} dht_peer;

typedef struct dht_swarm {
    uint8_t ih[20];
    uint32_t n, cap; /* n == 0: empty slot */
    dht_peer *p;
} dht_swarm;

typedef struct dht_store {
    dht_swarm *slot;
    uint32_t cap, used; /* cap is 0 or a power of two */
    uint32_t peers, max_peers;
    uint64_t key;
} dht_store;

void dht_store_init(dht_store *s, uint32_t max_peers, uint64_t key);
void dht_store_free(dht_store *s);
/* 0, SH_ELIMIT (full: per hash or in total) or SH_ENOMEM. Re-announcing refreshes. */
int dht_store_add(dht_store *s, const uint8_t ih[20], const sh_addr *a, sh_time now);
/* Up to max random live peers of ih of the given family into out. */
uint32_t dht_store_get(dht_store *s, const uint8_t ih[20], int family, sh_time now, sh_rng *r,
                       sh_addr *out, uint32_t max);
void dht_store_expire(dht_store *s, sh_time now);

/* ---- per-IP query rate limit (dht_limit.c) -------------------------------- */

typedef struct dht_limit_ent {
    uint8_t ip[16];
    uint8_t family; /* 0: empty */
    sh_time tat;    /* GCRA: the time at which this IP's bucket is full again */
    sh_time used;   /* last query: the LRU order within a set */
} dht_limit_ent;

typedef struct dht_limiter {
    dht_limit_ent *e;
    uint32_t sets; /* power of two; 4 ways each */
    uint32_t rate; /* queries per second, also the burst */
    uint64_t key;
} dht_limiter;

int dht_limit_init(dht_limiter *l, uint32_t rate, uint64_t key);
void dht_limit_free(dht_limiter *l);
bool dht_limit_allow(dht_limiter *l, const sh_addr *a, sh_time now);

/* ---- outstanding queries (dht_tx.c) --------------------------------------- */

typedef enum dht_tx_kind {
    DHT_TX_PING = 1,     /* maintenance / replacement / bootstrap ping */
    DHT_TX_BOOT = 2,     /* bootstrap find_node(self); `ref` is the boot slot */
    DHT_TX_SEARCH = 3,   /* a lookup's query; `ref` is the search id */
    DHT_TX_ANNOUNCE = 4, /* announce_peer after a lookup */
} dht_tx_kind;

typedef struct dht_tx {
    uint16_t nonce; /* the random half of the transaction id; 0: free slot */
    uint8_t kind;
    sh_addr addr;
    uint64_t ref;
    sh_time deadline;
    uint32_t prev, next; /* deadline order (next also chains free slots) */
} dht_tx;

typedef struct dht_txs {
    dht_tx *v;
    uint32_t cap, count;
    uint32_t head, tail, free; /* DHT_TX_NIL when empty */
} dht_txs;

#define DHT_TX_NIL UINT32_MAX
#define DHT_TID_LEN 4

void dht_tx_init(dht_txs *t);
void dht_tx_free(dht_txs *t);
/* A new transaction; writes its 4-byte id. SH_ELIMIT when DHT_MAX_TX are outstanding. */
int dht_tx_open(dht_txs *t, sh_rng *r, dht_tx_kind kind, const sh_addr *a, uint64_t ref,
                sh_time deadline, uint8_t tid[DHT_TID_LEN]);
/* Closes and returns (in *out) the transaction tid names if it was sent to `from`. */
bool dht_tx_close(dht_txs *t, const uint8_t *tid, size_t tid_len, const sh_addr *from, dht_tx *out);
/* Closes and returns the oldest transaction if its deadline is <= now. */
bool dht_tx_expire(dht_txs *t, sh_time now, dht_tx *out);
sh_time dht_tx_next_deadline(const dht_txs *t);

/* ---- lookups (dht_search.c) ----------------------------------------------- */

enum { DHT_CAND_NEW = 0, DHT_CAND_INFLIGHT, DHT_CAND_REPLIED, DHT_CAND_FAILED };

typedef struct dht_cand {
    uint8_t id[20];
    sh_addr addr;
    uint8_t state;
    bool has_token;
    uint8_t token_len;
    uint32_t hop; /* responses on the chain that introduced it (0: from our table) */
    uint8_t token[SH_KRPC_MAX_TOKEN];
} dht_cand;

typedef struct dht_search {
    uint64_t id;
    uint8_t target[20];
    bool get_peers; /* else find_node */
    bool internal;  /* bootstrap / refresh: reports nothing */
    int boot;       /* bootstrap slot it serves, or -1 */
    uint16_t announce_port;
    uint32_t ncand, inflight, queried, hops;
    dht_cand cand[DHT_SEARCH_NODES];
    sh_addr *seen; /* peers reported so far: open addressing, family 0 = empty */
    uint32_t seen_cap, nseen;
} dht_search;

/* ---- the node ------------------------------------------------------------- */

typedef struct dht_queued {
    sh_dht_action a;
    void *own; /* the buffer a.data or a.peers points into */
} dht_queued;

typedef struct dht_boot {
    sh_addr addr;
    uint8_t attempts;
    bool active;
} dht_boot;

struct sh_dht {
    sh_dht_config cfg;
    uint8_t id[20];
    sh_rng rng;
    dht_table table;
    dht_tokens tokens;
    dht_store store;
    dht_limiter limit;
    dht_txs tx;

    dht_search **search;
    uint32_t nsearch, search_cap, user_searches, internal_searches;
    uint64_t next_search_id;

    dht_queued *q; /* ring buffer of actions */
    uint32_t qhead, qlen, qcap;
    void *held; /* buffer of the action last returned: freed on the next call */

    dht_boot boot[DHT_BOOT_SLOTS];
    sh_time now; /* the latest time an entry point was given (for stats) */
    sh_time next_maint, next_expire, next_lonely;
    uint32_t ping_cursor;
    sh_dht_stats st;
};

/* dht.c */
void dht_release(sh_dht *d); /* frees the held buffer: the start of every mutating call */
void dht_push(sh_dht *d, const sh_dht_action *a, void *own);
bool dht_send_msg(sh_dht *d, const sh_addr *to, const sh_krpc_msg *m);
/* Sends a query of our own; false if it could not be sent. */
bool dht_query(sh_dht *d, const sh_addr *to, sh_krpc_msg *q, dht_tx_kind kind, uint64_t ref,
               sh_time now);
void dht_ping(sh_dht *d, const sh_addr *to, sh_time now);
/* Feeds a table verdict back: pings a node the table wants checked, wakes the timer. */
void dht_note_add(sh_dht *d, dht_add_result r, const dht_node *ping, sh_time now);

/* dht_search.c */
uint64_t dht_search_start(sh_dht *d, const uint8_t target[20], bool get_peers, uint16_t port,
                          bool internal, int boot, sh_time now);
void dht_search_reply(sh_dht *d, uint64_t sid, const sh_addr *from, const sh_krpc_msg *m,
                      sh_time now);
void dht_search_fail(sh_dht *d, uint64_t sid, const sh_addr *from, sh_time now);
void dht_search_free_all(sh_dht *d);

/* dht_maint.c */
void dht_maint_run(sh_dht *d, sh_time now);
void dht_boot_try(sh_dht *d, int slot, sh_time now);
void dht_boot_reply(sh_dht *d, int slot, sh_time now);
void dht_boot_failed(sh_dht *d, int slot, sh_time now);
void dht_boot_search_done(sh_dht *d, int slot, sh_time now);

#endif
