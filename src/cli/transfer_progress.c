/* transfer_progress.c — progress lines for seed/get (see transfer_progress.h). */
#include "cli/transfer_progress.h"

#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TTY_REDRAW SH_MS(250)
#define PLAIN_EVERY SH_SEC(5)

void tp_init(transfer_progress *tp, const char *prefix, bool tty, sh_time now)
{
    memset(tp, 0, sizeof *tp);
    tp->tty = tty;
    tp->prefix = prefix;
    tp->interval = tty ? TTY_REDRAW : PLAIN_EVERY;
    tp->last = now;
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

void tp_format(char *buf, size_t len, const tp_sample *s)
{
    if (!len) return;
    uint64_t done = s->done > s->total ? s->total : s->done;
    double pct = s->total ? 100.0 * (double)done / (double)s->total : 100.0;
    char d[32], t[32], dr[32], ur[32], ut[32], eta[16];
    cli_fmt_bytes((double)done, d, sizeof d);
    cli_fmt_bytes((double)s->total, t, sizeof t);
    cli_fmt_bytes(s->down_rate, dr, sizeof dr);
    cli_fmt_bytes(s->up_rate, ur, sizeof ur);
    cli_fmt_bytes((double)s->up_total, ut, sizeof ut);
    if (!strcmp(s->state, "seeding")) {
        snprintf(buf, len, "seeding  %s  up %s/s  %u peer%s  %s uploaded", t, ur, s->peers,
                 s->peers == 1 ? "" : "s", ut);
        return;
    }
    if (!strcmp(s->state, "checking")) {
        snprintf(buf, len, "checking  %5.1f%%  %s of %s", pct, d, t);
        return;
    }
    double left = (double)(s->total - done);
    fmt_eta(eta, sizeof eta, s->show_eta && s->down_rate > 0 ? left / s->down_rate : -1);
    snprintf(buf, len, "%s  %5.1f%%  %s of %s  down %s/s  up %s/s  %u peer%s  ETA %s", s->state,
             pct, d, t, dr, ur, s->peers, s->peers == 1 ? "" : "s", eta);
}

static unsigned term_width(void)
{
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

void tp_update(transfer_progress *tp, const tp_sample *s, sh_time now)
{
    if (now - tp->last < tp->interval && (tp->drawn || !tp->tty)) return;
    tp->last = now;
    char line[256];
    tp_format(line, sizeof line, s);
    if (tp->tty) {
        unsigned w = term_width();
        if (strlen(line) >= w) line[w - 1] = 0; /* never wrap: \r must return to this line */
        fprintf(stderr, "\r%s\033[K", line);
        tp->drawn = true;
    } else {
        fprintf(stderr, "%s: %s\n", tp->prefix, line);
    }
    fflush(stderr);
}

void tp_clear(transfer_progress *tp)
{
    if (tp->tty && tp->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    tp->drawn = false;
}
