/*
 * floodgate.h — request flood control per source address: a token bucket
 * (`rate` requests per second, `burst` at once) for every address seen
 * recently, in a table of fixed size, so one host hammering a server cannot
 * starve the others and a horde of addresses cannot grow our memory.
 *
 * Each bucket is one number, its "theoretical arrival time" (the generic
 * cell rate algorithm, equivalent to a token bucket): a request is admitted
 * when tat - now <= (burst - 1) × period, and then moves tat one period on.
 * The table is set-associative (8 ways); a new address takes the way whose
 * bucket is fullest (smallest tat), so only idle entries are forgotten, and
 * forgetting one merely grants that address a full bucket again. IPv6
 * addresses are bucketed by their /64, the unit one host usually owns.
 *
 * It never reads a clock (times are passed in), never allocates after
 * creation and never fails on any address.
 */
#ifndef SHOAL_IO_FLOODGATE_H
#define SHOAL_IO_FLOODGATE_H

#include <shoal/types.h>

typedef struct sh_floodgate sh_floodgate;

/* rate: requests per second (0: admit everything); burst: 0 → 2 × rate;
 * slots: table size, rounded up to a multiple of 8 (0 → 65536);
 * key: 16 random bytes that key the table's hash (so an attacker cannot
 * aim at one set). 0 or SH_ENOMEM / SH_EINVAL (slots over 2^24). */
int sh_floodgate_new(uint32_t rate, uint32_t burst, uint32_t slots, const uint8_t key[16],
                     sh_floodgate **out);
void sh_floodgate_free(sh_floodgate *f);

/* Counts one request from a's IP (port ignored) at now; true if admitted. */
bool sh_floodgate_admit(sh_floodgate *f, const sh_addr *a, sh_time now);

/* Requests refused so far (for metrics). */
uint64_t sh_floodgate_refused(const sh_floodgate *f);

#endif
