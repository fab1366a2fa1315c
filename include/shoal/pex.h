/*
 * pex.h — the BEP 11 peer exchange message (ut_pex): which peers the
 * sender is connected to now ("added", with one flag byte each) and which
 * it was connected to and no longer is ("dropped"), IPv4 and IPv6 apart.
 *
 * The codec only turns bytes into addresses and back. Policy — whom to
 * advertise, how often, how many candidates one peer may inject — lives in
 * the swarm (src/core/swarm_pex.c).
 *
 * Parsing is bounded and forgiving in the way clients in the wild need: at
 * most SH_PEX_MAX_LIST entries per list are kept (the rest is counted as
 * junk), a list whose length is not a whole number of entries is dropped
 * whole, entries with port 0 or an unspecified address are dropped, flags
 * that do not match their list's length are ignored (libtorrent sends them
 * always, older clients not at all). Only a payload that is not a bencoded
 * dictionary, or one over SH_PEX_MAX_MSG bytes, is an error. It must never
 * allocate per entry or read past the input.
 */
#ifndef SHOAL_PEX_H
#define SHOAL_PEX_H

#include <shoal/bencode.h>
#include <shoal/error.h>
#include <shoal/types.h>

/* Flag bits of added.f / added6.f (BEP 11). */
#define SH_PEX_ENCRYPT 0x01u   /* prefers encryption */
#define SH_PEX_SEED 0x02u      /* seed / upload only */
#define SH_PEX_UTP 0x04u       /* supports uTP */
#define SH_PEX_HOLEPUNCH 0x08u /* supports the holepunch extension */
#define SH_PEX_REACHABLE 0x10u /* outgoing connection: the address is connectable */

#define SH_PEX_MAX_LIST 200u       /* entries kept per list (added, added6, dropped, dropped6) */
#define SH_PEX_MAX_MSG (64u << 10) /* largest payload accepted (libtorrent drops > 500 KiB) */

typedef struct sh_pex_peer {
    sh_addr addr;
    uint8_t flags; /* SH_PEX_* */
} sh_pex_peer;

/* A decoded message: IPv4 entries first, then IPv6, in the order received. */
typedef struct sh_pex_msg {
    sh_pex_peer added[2 * SH_PEX_MAX_LIST];
    uint32_t nadded;
    sh_addr dropped[2 * SH_PEX_MAX_LIST];
    uint32_t ndropped;
    uint32_t junk; /* entries (or whole lists) dropped as malformed or beyond the bound */
} sh_pex_msg;

/* Parses a ut_pex payload. SH_ELIMIT if over SH_PEX_MAX_MSG, SH_EBENCODE or
 * SH_EPROTO (not a dictionary), SH_ENOMEM. */
int sh_pex_parse(const uint8_t *p, size_t len, sh_pex_msg *out, sh_errinfo *ei);

/*
 * Encodes a message from mixed IPv4/IPv6 lists (entries of other families
 * are skipped). added.f (and added6.f when there are IPv6 entries) is always
 * written, one byte per entry, because libtorrent ignores "added" without it;
 * "added", "added.f" and "dropped" are always present, even empty, as
 * libtorrent sends them.
 */
void sh_pex_encode(sh_bbuf *b, const sh_pex_peer *added, uint32_t nadded, const sh_addr *dropped,
                   uint32_t ndropped);

#endif
