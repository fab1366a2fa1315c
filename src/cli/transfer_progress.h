/*
 * transfer_progress.h — what `shoal seed` / `shoal get` show on stderr while
 * they run: on a terminal, one line redrawn in place (state, percent,
 * rates, peers, ETA); otherwise a plain line every few seconds, so a log
 * file gets a readable history instead of carriage returns.
 *
 * It never writes to stdout (which carries "listening on" and --json).
 * Formatting is pure (tp_format) so it can be tested without a terminal.
 */
#ifndef SHOAL_CLI_TRANSFER_PROGRESS_H
#define SHOAL_CLI_TRANSFER_PROGRESS_H

#include <shoal/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tp_sample {
    const char *state;    /* "checking", "downloading", "seeding", ... */
    uint64_t done, total; /* bytes (checking: bytes checked) */
    double down_rate, up_rate;
    uint64_t up_total; /* payload uploaded so far */
    uint32_t peers;
    bool show_eta;
} tp_sample;

typedef struct transfer_progress {
    bool tty;           /* redraw one line in place */
    bool drawn;         /* a line is on screen (tty) and must be cleared */
    sh_time interval;   /* between plain lines */
    sh_time last;       /* when the last line was written */
    const char *prefix; /* "shoal get" */
} transfer_progress;

void tp_init(transfer_progress *tp, const char *prefix, bool tty, sh_time now);
/* Redraws (tty, at most 4 times a second) or prints a plain line (every interval). */
void tp_update(transfer_progress *tp, const tp_sample *s, sh_time now);
/* Clears the line on a terminal so a log line or the final message can follow. */
void tp_clear(transfer_progress *tp);

/* One line for s: "downloading  42.5%  12.3 MiB of 29.0 MiB  down 4.0 MiB/s  up 1.1 MiB/s  5 peers
 * ETA 0:04". */
void tp_format(char *buf, size_t len, const tp_sample *s);

#endif
