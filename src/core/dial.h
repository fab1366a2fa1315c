/*
 * dial.h — the redial policy shared by everything that dials peers (the
 * swarm, the metadata fetcher): how long an address rests after a
 * connection to it failed or ended.
 *
 * A connection that moved data clears the failure count; each failure in a
 * row doubles the pause, from SH_DIAL_BACKOFF_MIN to SH_DIAL_BACKOFF_MAX.
 * Pure arithmetic; internal to the core.
 */
#ifndef SHOAL_DIAL_H
#define SHOAL_DIAL_H

#include <shoal/types.h>

#define SH_DIAL_BACKOFF_MIN SH_SEC(10)
#define SH_DIAL_BACKOFF_MAX SH_SEC(300)
#define SH_DIAL_MAX_FAILS 30u /* the count saturates here */

/* The pause before the next dial after `fails` failures in a row (0: the
 * last connection was useful). */
sh_time sh_dial_backoff(uint32_t fails);

/* The failure count after a connection ended; `useful`: it moved data. */
uint32_t sh_dial_next_fails(uint32_t fails, bool useful);

#endif
