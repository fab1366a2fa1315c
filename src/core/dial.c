/* dial.c — the shared redial back-off (dial.h). */
#include "dial.h"

sh_time sh_dial_backoff(uint32_t fails)
{
    uint32_t shift = fails > 1 ? fails - 1 : 0;
    if (shift >= 5) return SH_DIAL_BACKOFF_MAX;
    sh_time b = SH_DIAL_BACKOFF_MIN << shift;
    return b > SH_DIAL_BACKOFF_MAX ? SH_DIAL_BACKOFF_MAX : b;
}

uint32_t sh_dial_next_fails(uint32_t fails, bool useful)
{
    if (useful) return 0;
    return fails < SH_DIAL_MAX_FAILS ? fails + 1 : fails;
}
