/*
 * announce.h — the tracker protocols as codecs, for both ends: HTTP announce
 * and scrape (BEP 3, BEP 23 compact peers, BEP 7 peers6, BEP 48 scrape) and
 * the UDP tracker protocol (BEP 15).
 *
 * Server side: a raw query string (as it appears after '?', still
 * percent-encoded) becomes an sh_announce_req; a result becomes a bencoded
 * body. Client side: a request becomes a URL or a UDP packet; a body or
 * packet becomes an sh_announce_reply. All parsing is bounded and treats
 * input as hostile: a missing or wrong-length info_hash, a bad port, a
 * malformed packet is an error with a message fit to send back as a
 * "failure reason". No sockets, no DNS, no clocks here.
 */
#ifndef SHOAL_ANNOUNCE_H
#define SHOAL_ANNOUNCE_H

#include <shoal/bencode.h>
#include <shoal/error.h>
#include <shoal/types.h>

#define SH_NUMWANT_DEFAULT 50u
#define SH_NUMWANT_MAX 200u
#define SH_SCRAPE_MAX 64u        /* info hashes in one scrape */
#define SH_QUERY_MAX 4096u       /* longest announce query accepted */

typedef enum sh_tevent {
    SH_TEV_NONE = 0,
    SH_TEV_COMPLETED = 1,
    SH_TEV_STARTED = 2,
    SH_TEV_STOPPED = 3,
    SH_TEV_PAUSED = 4,  /* BEP 21 "paused": upload-only partial seed; tracked like none */
} sh_tevent;  /* values 0..3 match BEP 15 */

typedef struct sh_announce_req {
    uint8_t info_hash[20];
    uint8_t peer_id[20];
    sh_addr addr;          /* server: the sender's IP with the announced port */
    uint64_t uploaded, downloaded, left;
    sh_tevent event;
    uint32_t numwant;      /* already capped to SH_NUMWANT_MAX; default when absent */
    uint32_t key;
    bool compact;          /* BEP 23: default true */
    bool no_peer_id;
    bool want_v6;          /* server: include peers6 */
} sh_announce_req;

typedef struct sh_tpeer {
    sh_addr addr;
    uint8_t peer_id[20];
    bool has_peer_id;
} sh_tpeer;

/* What a tracker answers (server encodes it, client decodes it). */
typedef struct sh_announce_reply {
    uint32_t interval;         /* seconds; client decode: 0 = absent */
    uint32_t min_interval;     /* seconds; 0 = absent */
    uint32_t complete;         /* seeders */
    uint32_t incomplete;       /* leechers */
    uint32_t downloaded;       /* completed count, if given */
    sh_tpeer *peers;           /* client decode: malloc'd, caller frees with sh_announce_reply_free */
    uint32_t num_peers;
    char failure[256];         /* "failure reason" (non-empty means failure) */
    char warning[256];         /* "warning message" */
} sh_announce_reply;

void sh_announce_reply_free(sh_announce_reply *r);

typedef struct sh_scrape_entry {
    uint8_t info_hash[20];
    uint32_t complete, downloaded, incomplete;
} sh_scrape_entry;

/* ---- HTTP, server side ---- */

/* Parses an announce query. remote: the TCP peer (its IP is used, never an
 * "ip=" parameter). Errors: SH_EINVAL with ei->msg the failure reason. */
int sh_http_announce_parse(const char *query, size_t len, const sh_addr *remote,
                           sh_announce_req *out, sh_errinfo *ei);
/* Parses a scrape query: up to max info_hash parameters (none = all, *n = 0). */
int sh_http_scrape_parse(const char *query, size_t len, uint8_t (*hashes)[20], uint32_t max,
                         uint32_t *n, sh_errinfo *ei);
/* Encodes an announce answer: compact (peers/peers6 strings) or dictionaries. */
void sh_http_announce_encode(sh_bbuf *b, const sh_announce_reply *r, bool compact,
                             bool no_peer_id);
/* retry_in: BEP 31 "retry in", in minutes; 0 leaves it out. */
void sh_http_failure_encode(sh_bbuf *b, const char *reason, uint32_t retry_in);
void sh_http_scrape_encode(sh_bbuf *b, const sh_scrape_entry *e, uint32_t n);

/* ---- HTTP, client side ---- */

/* base + "?info_hash=...&peer_id=...&port=...&uploaded=...&downloaded=...&left=...
 * &event=...&compact=1&numwant=...&key=..." (malloc'd; '&' if base has '?').
 * NULL on OOM. Never sends ip/ipv4/ipv6 (INTEROP.md §4.8). event is left out
 * for SH_TEV_NONE; compact=1 is always sent (r->compact is not read). */
char *sh_http_announce_url(const char *base, const sh_announce_req *r);
/* Decodes a tracker's answer body: compact and dictionary peers, peers6,
 * failure reason, warning message, intervals. Bounded (peers capped).
 * A "failure reason" answer returns SH_ETRACKER with *out filled (failure
 * set, no peers), like sh_tstore_announce's refusals. */
int sh_http_announce_decode(const uint8_t *body, size_t len, sh_announce_reply *out,
                            sh_errinfo *ei);

/* ---- UDP (BEP 15) ---- */

#define SH_UDP_PROTOCOL_ID 0x41727101980ull
enum { SH_UDP_CONNECT = 0, SH_UDP_ANNOUNCE = 1, SH_UDP_SCRAPE = 2, SH_UDP_ERROR = 3 };

typedef struct sh_udp_msg {
    uint32_t action;
    uint32_t txid;
    uint64_t conn_id;
    sh_announce_req req;            /* announce request */
    uint8_t (*hashes)[20];          /* scrape request: points into the packet copy */
    uint32_t num_hashes;
} sh_udp_msg;

/* Server: decode a request packet (connect, announce, scrape). remote gives
 * the IP for req.addr. Malformed → SH_EPROTO (drop silently or send error). */
int sh_udp_request_decode(const uint8_t *pkt, size_t len, const sh_addr *remote, sh_udp_msg *out,
                          uint8_t (*hash_buf)[20], uint32_t hash_max);
/* Server: encode answers into out (returns bytes written, 0 if cap is too
 * small). An announce answer is 20 bytes + 6 or 18 per peer of family;
 * peers that do not fit in cap are left out. */
size_t sh_udp_connect_reply(uint8_t *out, uint32_t txid, uint64_t conn_id);
size_t sh_udp_announce_reply(uint8_t *out, size_t cap, uint32_t txid, const sh_announce_reply *r,
                             int family);
size_t sh_udp_scrape_reply(uint8_t *out, size_t cap, uint32_t txid, const sh_scrape_entry *e,
                           uint32_t n);
size_t sh_udp_error_reply(uint8_t *out, size_t cap, uint32_t txid, const char *msg);

/* Client: encode requests / decode answers. */
size_t sh_udp_connect_request(uint8_t out[16], uint32_t txid);
size_t sh_udp_announce_request(uint8_t out[98], uint64_t conn_id, uint32_t txid,
                               const sh_announce_req *r);
/* Decodes a tracker's UDP answer to txid. For a connect answer *conn_id is
 * set; for an announce answer *out is filled (peers malloc'd) with the
 * peer family of the packet; an error answer fills out->failure and
 * returns SH_ETRACKER (with *action = SH_UDP_ERROR). */
int sh_udp_reply_decode(const uint8_t *pkt, size_t len, uint32_t txid, int family,
                        uint32_t *action, uint64_t *conn_id, sh_announce_reply *out);

/*
 * Stateless connection ids (BEP 15 anti-spoofing): a keyed hash of the
 * client's address and a time window, so the server keeps no table and a
 * forged or expired id is recognised. An id is accepted during the window it
 * was issued in and the next one (windows of 60 s: 1–2 minutes of validity).
 */
uint64_t sh_udp_conn_id(const uint8_t secret[32], const sh_addr *client, sh_time now);
bool sh_udp_conn_id_ok(const uint8_t secret[32], const sh_addr *client, uint64_t id, sh_time now);

#endif
