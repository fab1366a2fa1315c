/* log.c — level filtering and formatting; the sink is the creator's. */
#include <shoal/error.h>
#include <shoal/log.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {"error", "warn", "info", "debug", "trace"};

void sh_log(const sh_logger *lg, sh_log_level level, const char *component, const char *fmt, ...)
{
    if (!SH_LOG_ON(lg, level)) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    lg->fn(lg->ud, level, component, line);
}

int sh_log_level_parse(const char *name, sh_log_level *out)
{
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (sh_log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = SH_LOG_WARN;
        return 0;
    }
    return SH_EINVAL;
}

const char *sh_log_level_name(sh_log_level level)
{
    if ((unsigned)level < sizeof names / sizeof names[0]) return names[level];
    return "?";
}
