/*
 * announce_int.h — helpers shared by the tracker protocol codecs
 * (announce_http.c, announce_client.c, announce_udp.c). Not a public API.
 */
#ifndef SHOAL_ANNOUNCE_INT_H
#define SHOAL_ANNOUNCE_INT_H

#include <shoal/announce.h>

/* Most peers a client accepts from one answer (HTTP or UDP); the rest are dropped. */
#define SH_ANN_MAX_PEERS 2000u

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a dual-stack socket
 * reports IPv4 clients) becomes the plain IPv4 address; others are copied. */
void sh_ann_unmap(const sh_addr *in, sh_addr *out);

/* Copies n bytes of tracker-supplied text into dst (cap >= 1) as a C string:
 * cut to fit, control bytes replaced by '?', so it is safe to log. */
void sh_ann_copy_text(char *dst, size_t cap, const uint8_t *p, size_t n);

/* "1.2.3.4" or "::1" (no brackets, no port) into out (>= SH_ADDR_STRLEN). */
void sh_ann_ip_text(const sh_addr *a, char *out);

#endif
