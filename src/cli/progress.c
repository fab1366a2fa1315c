/* progress.c — the stderr progress bar (see progress.h). */
#include "cli/progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define REDRAW_NS SH_MS(200)

static unsigned term_width(void)
{
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

static void fmt_eta(char *buf, size_t len, double secs)
{
    if (!(secs >= 0) || secs > 99 * 3600.0) {
        snprintf(buf, len, "--:--");
        return;
    }
    unsigned s = (unsigned)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, len, "%u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%u:%02u", s / 60, s % 60);
}

void cli_progress_format(char *buf, size_t len, unsigned width, const char *label, uint64_t done,
                         uint64_t total, sh_time elapsed)
{
    if (!len) return;
    if (done > total) done = total;
    double frac = total ? (double)done / (double)total : 1.0;
    double secs = (double)elapsed / 1e9;
    double rate = secs > 0 ? (double)done / secs : 0; /* bytes/s */
    char eta[16];
    fmt_eta(eta, sizeof eta, rate > 0 ? (double)(total - done) / rate : -1);
    char tail[64];
    snprintf(tail, sizeof tail, " %7.1f MB/s  ETA %s", rate / 1e6, eta);
    char head[64];
    snprintf(head, sizeof head, "%s %3u%% ", label, (unsigned)(frac * 100));
    /* The bar takes what the text leaves of the width (minus one column so
     * the cursor never wraps), at least 10 columns, else it is left out. */
    size_t text = strlen(head) + strlen(tail) + 2;
    int bar = width > text + 1 ? (int)(width - text - 1) : 0;
    if (bar > 50) bar = 50;
    if (bar < 10) bar = 0;
    char barbuf[64] = "";
    if (bar) {
        int fill = (int)(frac * bar);
        barbuf[0] = '[';
        for (int i = 0; i < bar; i++)
            barbuf[1 + i] = i < fill ? '#' : '.';
        barbuf[bar + 1] = ']';
        barbuf[bar + 2] = 0;
    }
    snprintf(buf, len, "%s%s%s", head, barbuf, tail);
}

static void draw(cli_progress *p, sh_time now)
{
    char line[256];
    cli_progress_format(line, sizeof line, term_width(), p->label, p->done, p->total,
                        now - p->start);
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->drawn = true;
    p->last_draw = now;
}

void cli_progress_start(cli_progress *p, const char *label, uint64_t total, bool enabled,
                        sh_time now)
{
    *p = (cli_progress){
        .enabled = enabled, .label = label, .total = total, .start = now, .last_draw = now};
}

void cli_progress_update(cli_progress *p, uint64_t done, sh_time now)
{
    p->done = done;
    if (!p->enabled || now - p->last_draw < REDRAW_NS) return;
    draw(p, now);
}

void cli_progress_end(cli_progress *p)
{
    if (p->enabled && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}
