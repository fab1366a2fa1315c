/*
 * resolver.h — host names to addresses without blocking the event loop:
 * each lookup runs getaddrinfo(3) on its own short-lived detached thread,
 * and the answer comes back on the loop thread through an eventfd.
 *
 * Made for the few names a peer needs (UDP trackers), not for bulk use: at
 * most SH_RESOLVER_MAX_INFLIGHT lookups at once. Freeing the resolver never
 * waits for a lookup stuck in a slow DNS server: the thread finishes on its
 * own later and its answer is dropped. Callbacks never run after free.
 */
#ifndef SHOAL_IO_RESOLVER_H
#define SHOAL_IO_RESOLVER_H

#include <shoal/types.h>

#include "io/loop.h"

#define SH_RESOLVER_MAX_INFLIGHT 16

/* rc 0: addr is the first address of the requested family (port set to
 * port); otherwise a negative SH_E* and err says why (gai_strerror). */
typedef void (*sh_resolve_fn)(void *ud, const char *host, uint16_t port, int rc,
                              const sh_addr *addr, const char *err);

typedef struct sh_resolver sh_resolver;

int sh_resolver_new(sh_loop *loop, sh_resolve_fn fn, void *ud, sh_resolver **out);
void sh_resolver_free(sh_resolver *r);

/* Starts resolving host (family 4 or 6). 0, SH_ELIMIT (too many in flight),
 * SH_EINVAL (host too long) or SH_ENOMEM/SH_EIO. */
int sh_resolver_lookup(sh_resolver *r, const char *host, uint16_t port, int family);

#endif
