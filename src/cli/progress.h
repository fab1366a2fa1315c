/*
 * progress.h — the one-line progress bar on stderr.
 *
 * Shown only when enabled (the caller passes cli_stderr_is_tty()): a log
 * file or a pipe must not fill with carriage returns. Redraws at most five
 * times a second however often it is updated, so callers can update after
 * every chunk. It never writes to stdout, which carries command results.
 */
#ifndef SHOAL_CLI_PROGRESS_H
#define SHOAL_CLI_PROGRESS_H

#include <shoal/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_progress {
    bool enabled;
    bool drawn;        /* a bar is on screen and must be cleared */
    const char *label; /* e.g. "hashing" */
    uint64_t total;
    uint64_t done;
    sh_time start;
    sh_time last_draw;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, uint64_t total, bool enabled,
                        sh_time now);
/* Records done bytes; redraws if 200 ms have passed since the last draw. */
void cli_progress_update(cli_progress *p, uint64_t done, sh_time now);
/* Clears the bar (if shown). */
void cli_progress_end(cli_progress *p);

/*
 * Formats the line for a terminal `width` columns wide into buf: label,
 * percent, bar, MB/s, ETA. Pure, for tests and for the drawing above.
 */
void cli_progress_format(char *buf, size_t len, unsigned width, const char *label, uint64_t done,
                         uint64_t total, sh_time elapsed);

#endif
