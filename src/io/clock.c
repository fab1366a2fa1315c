/* clock.c — CLOCK_MONOTONIC for the core, wall time for metadata. */
#include "io/clock.h"

#include <time.h>

sh_time sh_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (sh_time)ts.tv_sec * 1000000000ull + (sh_time)ts.tv_nsec;
}

double sh_clock_seconds(sh_time t)
{
    return (double)t / 1e9;
}

int64_t sh_clock_wall(void)
{
    return (int64_t)time(NULL);
}
