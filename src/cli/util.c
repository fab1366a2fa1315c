/* util.c — option-value parsing, the stderr log sink, error printing. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void stderr_sink(void *ud, sh_log_level level, const char *component, const char *msg)
{
    (void)ud;
    fprintf(stderr, "shoal[%s] %s: %s\n", component, sh_log_level_name(level), msg);
}

sh_logger cli_logger = {stderr_sink, NULL, SH_LOG_WARN};

int cli_set_log_level(const char *name)
{
    sh_log_level l;
    if (sh_log_level_parse(name, &l)) return -1;
    cli_logger.level = l;
    return 0;
}

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shoal: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "shoal %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'shoal %s --help'.\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_cmd_error(int code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "shoal %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0) return -1;
    double mul = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1024.0; break;
        case 'm': case 'M': mul = 1024.0 * 1024; break;
        case 'g': case 'G': mul = 1024.0 * 1024 * 1024; break;
        case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; break;
        case 'b': case 'B': mul = 1; break;
        default: return -1;
        }
        end++;
        /* accept "K", "KB", "KiB", "K/s" and the like */
        if (!strcasecmp(end, "ib") || !strcasecmp(end, "b") || !strcasecmp(end, "ib/s") ||
            !strcasecmp(end, "b/s") || !strcasecmp(end, "/s"))
            end += strlen(end);
        if (*end) return -1;
    }
    v *= mul;
    if (v >= 18446744073709551615.0) return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_seconds(const char *s, double *out)
{
    if (!s || !*s) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0) return -1;
    *out = v;
    return 0;
}

bool cli_stderr_is_tty(void)
{
    return isatty(2) == 1;
}

const char *cli_fmt_bytes(double bytes, char *buf, unsigned len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}
