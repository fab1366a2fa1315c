/*
 * wire.h — the BitTorrent peer wire protocol codec: the handshake (BEP 3),
 * length-prefixed messages (BEP 3), the fast extension (BEP 6), extended
 * messages (BEP 10) and the v2 hash messages (BEP 52).
 *
 * The decoder is incremental: bytes arrive split at any point, and whole
 * messages come out. A message that lies entirely in the caller's input is
 * returned as spans into that input (zero-copy); one that is split is
 * assembled in the decoder's own buffer, which never grows past max_msg.
 * Every message is validated for its exact length before it is returned, as
 * libtorrent and Transmission do: a request is 13 bytes, a have 5, a piece
 * carries 1..max_block bytes, a request asks for 1..max_block bytes. Anything
 * else is SH_EPROTO and the connection must be closed; the decoder is then
 * dead and returns SH_EPROTO forever. Messages with an id this codec does not
 * know are consumed and skipped silently (never buffered; max_msg still
 * applies), so future extensions do not cost the connection.
 *
 * The codec knows nothing of connections, torrents or sockets.
 */
#ifndef SHOAL_WIRE_H
#define SHOAL_WIRE_H

#include <shoal/error.h>
#include <shoal/types.h>

#define SH_HANDSHAKE_LEN 68
#define SH_PSTR "BitTorrent protocol"

/* Reserved-bit flags (BEP 4 numbering is awkward; these name the bits we use). */
#define SH_RSV_EXTENSION 0x01u  /* reserved[5] & 0x10, BEP 10 */
#define SH_RSV_FAST 0x02u       /* reserved[7] & 0x04, BEP 6 */
#define SH_RSV_DHT 0x04u        /* reserved[7] & 0x01, BEP 5 */
#define SH_RSV_V2 0x08u         /* reserved[7] & 0x10, BEP 52 upgrade (hybrids only) */

/* Default bounds: BEP 3 blocks are 16 KiB; libtorrent drops messages > 1 MiB. */
#define SH_WIRE_BLOCK 16384u
#define SH_WIRE_MAX_MSG (1u << 20)

typedef enum sh_msg_id {
    SH_MSG_CHOKE = 0,
    SH_MSG_UNCHOKE = 1,
    SH_MSG_INTERESTED = 2,
    SH_MSG_NOT_INTERESTED = 3,
    SH_MSG_HAVE = 4,
    SH_MSG_BITFIELD = 5,
    SH_MSG_REQUEST = 6,
    SH_MSG_PIECE = 7,
    SH_MSG_CANCEL = 8,
    SH_MSG_PORT = 9,
    SH_MSG_SUGGEST = 13,
    SH_MSG_HAVE_ALL = 14,
    SH_MSG_HAVE_NONE = 15,
    SH_MSG_REJECT = 16,
    SH_MSG_ALLOWED_FAST = 17,
    SH_MSG_EXTENDED = 20,
    SH_MSG_HASH_REQUEST = 21,
    SH_MSG_HASHES = 22,
    SH_MSG_HASH_REJECT = 23,
    SH_MSG_KEEPALIVE = 255,  /* the zero-length message; not a wire id */
} sh_msg_id;

typedef struct sh_handshake {
    uint32_t flags;          /* SH_RSV_* we understood */
    uint8_t reserved[8];     /* as received (unknown bits are kept, ignored) */
    uint8_t info_hash[20];
    uint8_t peer_id[20];
} sh_handshake;

/* BEP 52 hash request / hash reject / hashes header. */
typedef struct sh_hashreq {
    uint8_t root[32];
    uint32_t base_layer;
    uint32_t index;
    uint32_t length;
    uint32_t proof_layers;
} sh_hashreq;

typedef struct sh_msg {
    sh_msg_id id;
    uint32_t piece;      /* have, request, piece, cancel, suggest, reject, allowed_fast */
    uint32_t offset;     /* request, piece, cancel, reject */
    uint32_t length;     /* request, cancel, reject; for piece: data.len */
    uint16_t port;       /* port */
    uint8_t ext_id;      /* extended: the extended message id (0 = handshake) */
    sh_hashreq hash;     /* hash request, hashes, hash reject */
    sh_span data;        /* bitfield bits, piece block, extended payload, hashes */
} sh_msg;

typedef struct sh_wire_limits {
    uint32_t max_block;  /* largest piece payload / request length accepted; 0 → 16 KiB */
    uint32_t max_msg;    /* largest message of any kind; 0 → 1 MiB */
    bool virtual_payload; /* simulator only: a piece message keeps its length prefix
                             (9 + block length) but its block bytes are NOT in the
                             stream; it is returned once its 9 body-header bytes (id,
                             index, begin) are read, with data = {NULL, block length}.
                             Both ends of a connection must agree on it. */
} sh_wire_limits;

typedef struct sh_wire_dec sh_wire_dec;

/* A decoder for one connection. It first expects the 68-byte handshake. */
int sh_wire_dec_new(const sh_wire_limits *lim, sh_wire_dec **out);
void sh_wire_dec_free(sh_wire_dec *d);
/* Raises max_block after both sides agreed on larger blocks (extension handshake). */
void sh_wire_dec_set_limits(sh_wire_dec *d, const sh_wire_limits *lim);

/*
 * Decodes from in[0..len). Sets *used to the bytes consumed (always, even on
 * error). Returns:
 *   1  one item decoded: if *is_handshake, *hs is filled, else *msg;
 *      the spans in *msg stay valid until the next call on d, and while the
 *      caller's input buffer is unchanged;
 *   0  need more bytes (all input consumed into the decoder's buffer);
 *   SH_EPROTO  malformed (ei says what) — close the connection.
 * Call repeatedly with in + *used until it returns 0.
 */
int sh_wire_decode(sh_wire_dec *d, const uint8_t *in, size_t len, size_t *used,
                   bool *is_handshake, sh_handshake *hs, sh_msg *msg, sh_errinfo *ei);

/* Bytes the decoder holds of an incomplete message (for memory accounting). */
size_t sh_wire_dec_buffered(const sh_wire_dec *d);

/*
 * Encoders append the complete framed message to b (sh_bbuf from
 * bencode.h, whose sticky error the caller checks once).
 */
struct sh_bbuf;
void sh_wire_put_handshake(struct sh_bbuf *b, uint32_t flags, const uint8_t info_hash[20],
                           const uint8_t peer_id[20]);
void sh_wire_put_simple(struct sh_bbuf *b, sh_msg_id id);  /* choke..not interested, have_all/none, keep-alive */
void sh_wire_put_have(struct sh_bbuf *b, sh_msg_id id, uint32_t piece); /* have, suggest, allowed_fast */
void sh_wire_put_bitfield(struct sh_bbuf *b, const uint8_t *bits, size_t len);
void sh_wire_put_request(struct sh_bbuf *b, sh_msg_id id, uint32_t piece, uint32_t offset,
                         uint32_t length);  /* request, cancel, reject */
/* Only the 13-byte header of a piece message; the payload follows separately (sendfile). */
void sh_wire_put_piece_header(struct sh_bbuf *b, uint32_t piece, uint32_t offset, uint32_t length);
void sh_wire_put_port(struct sh_bbuf *b, uint16_t port);
void sh_wire_put_extended(struct sh_bbuf *b, uint8_t ext_id, const uint8_t *payload, size_t len);
void sh_wire_put_hashreq(struct sh_bbuf *b, sh_msg_id id, const sh_hashreq *h); /* request, reject */
void sh_wire_put_hashes(struct sh_bbuf *b, const sh_hashreq *h, const uint8_t *hashes, uint32_t n);

const char *sh_msg_name(sh_msg_id id);

#endif
