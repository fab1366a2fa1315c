/*
 * krpc.h — the KRPC message codec of the BitTorrent DHT (BEP 5, with the
 * "nodes6" of BEP 32 and the read-only flag "ro" of BEP 43): one bencoded
 * dictionary per UDP datagram, a query ("y":"q"), a response ("y":"r") or an
 * error ("y":"e"), tied together by a transaction id "t".
 *
 * The decoder is strict and bounded, because every datagram is hostile: the
 * bencode itself must be canonical (bencode.h), transaction ids are at most
 * 16 bytes, node ids and info-hashes exactly 20, "nodes" a multiple of 26
 * bytes and "nodes6" of 38, "values" a list of 6- or 18-byte strings (the
 * first SH_KRPC_MAX_VALUES are kept, the rest skipped unread), tokens at
 * most 64 bytes, ports 1..65535 (unless implied_port is set). Unknown keys
 * and the client version "v" are ignored. A query whose arguments are
 * missing or of the wrong type is reported as answerable, so the node can
 * send error 203 back; anything else malformed is to be dropped silently.
 *
 * This module only converts between bytes and sh_krpc_msg: it keeps no
 * state, sends nothing, never allocates beyond the bencode parse, and must
 * never abort on any input.
 */
#ifndef SHOAL_KRPC_H
#define SHOAL_KRPC_H

#include <shoal/bencode.h>
#include <shoal/error.h>
#include <shoal/types.h>

#define SH_KRPC_MAX_TID 16
#define SH_KRPC_MAX_TOKEN 64
#define SH_KRPC_MAX_VALUES 200
#define SH_KRPC_MAX_DATAGRAM 65536 /* larger input is refused before parsing */
#define SH_KRPC_NODE4_LEN 26       /* compact node: id, IPv4, port */
#define SH_KRPC_NODE6_LEN 38       /* compact node: id, IPv6, port */

/* BEP 5 error codes. */
#define SH_KRPC_ERR_GENERIC 201
#define SH_KRPC_ERR_SERVER 202
#define SH_KRPC_ERR_PROTOCOL 203
#define SH_KRPC_ERR_METHOD 204

typedef enum sh_krpc_kind {
    SH_KRPC_QUERY = 1,
    SH_KRPC_RESPONSE = 2,
    SH_KRPC_ERROR = 3,
} sh_krpc_kind;

typedef enum sh_krpc_method {
    SH_KRPC_NONE = 0, /* responses and errors carry no method */
    SH_KRPC_PING = 1,
    SH_KRPC_FIND_NODE = 2,
    SH_KRPC_GET_PEERS = 3,
    SH_KRPC_ANNOUNCE_PEER = 4,
    SH_KRPC_UNKNOWN = 5, /* a well-formed query of a method we do not know: answer 204 */
} sh_krpc_method;

/*
 * One message. Which fields mean something depends on kind and method;
 * the rest are zero after decoding and ignored when encoding.
 * The spans (nodes, nodes6, err_msg) borrow the decoded buffer.
 */
typedef struct sh_krpc_msg {
    sh_krpc_kind kind;
    sh_krpc_method method;        /* queries */
    uint8_t tid[SH_KRPC_MAX_TID]; /* "t", echoed by the answer */
    uint8_t tid_len;
    bool answerable;    /* see sh_krpc_decode */
    bool read_only;     /* queries: "ro": 1 (BEP 43) */
    uint8_t id[20];     /* the sender's node id (queries, responses) */
    uint8_t target[20]; /* find_node "target"; get_peers/announce "info_hash" */
    uint16_t port;      /* announce_peer "port" */
    bool implied_port;  /* announce_peer: use the datagram's source port */
    bool has_token;     /* announce_peer (always), get_peers responses */
    uint8_t token_len;
    uint8_t token[SH_KRPC_MAX_TOKEN];
    sh_span nodes;       /* responses: compact IPv4 nodes, len % 26 == 0 */
    sh_span nodes6;      /* responses: compact IPv6 nodes, len % 38 == 0 */
    bool has_values;     /* responses: a "values" list was present */
    uint32_t num_values; /* at most SH_KRPC_MAX_VALUES */
    sh_addr values[SH_KRPC_MAX_VALUES];
    int64_t err_code; /* errors: "e"[0] */
    sh_span err_msg;  /* errors: "e"[1] */
} sh_krpc_msg;

/*
 * Decodes one datagram into *m (always overwritten).
 * 0: a valid message.
 * SH_EKRPC: malformed (ei says which rule was broken). m->answerable is set
 *   when the sender deserves error 203: the datagram is a dictionary with a
 *   "t" string of at most 16 bytes (copied into m->tid) and "y":"q". Every
 *   other failure (not bencode, not a dictionary, no usable "t", an unknown
 *   "y", a bad response) leaves answerable false: drop it silently.
 * Never anything else, on any input (allocation failure of the bencode
 * parse is reported as SH_EKRPC too: the datagram is lost either way).
 */
int sh_krpc_decode(const uint8_t *buf, size_t len, sh_krpc_msg *m, sh_errinfo *ei);

/*
 * Appends the encoding of m to b: a query (method ping..announce_peer; "ro"
 * when read_only), a response (id, then nodes / nodes6 / token / values
 * when non-empty or, for values, when has_values) or an error (err_code,
 * err_msg). Keys are written in bencode order. SH_EINVAL if m cannot be
 * encoded (unknown kind or method, oversized tid or token, a values entry
 * that is not an address); otherwise b->err tells whether memory ran out.
 */
int sh_krpc_encode(sh_bbuf *b, const sh_krpc_msg *m);

/*
 * Compact node entries. pack writes id + ip + port to out, which has room
 * for 26 bytes (IPv4) or 38 (IPv6), and returns that length (0, writing
 * nothing, for an unset family). node_at reads
 * the i-th entry of a compact list of the given family; SH_ERANGE past the
 * end.
 */
size_t sh_krpc_pack_node(uint8_t *out, const uint8_t id[20], const sh_addr *a);
int sh_krpc_node_at(sh_span list, int family, size_t i, uint8_t id[20], sh_addr *a);

#endif
