/*
 * clock.h — the driver's clock. The core never reads time; the driver reads
 * CLOCK_MONOTONIC here and passes it into every core call.
 */
#ifndef SHOAL_IO_CLOCK_H
#define SHOAL_IO_CLOCK_H

#include <shoal/types.h>

sh_time sh_clock_now(void);           /* monotonic nanoseconds */
double sh_clock_seconds(sh_time t);   /* convenience for printing */
int64_t sh_clock_wall(void);          /* seconds since the Unix epoch (creation dates) */

#endif
