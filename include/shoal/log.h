/*
 * log.h — one small logger with levels and a component tag.
 *
 * Core modules never write anywhere: they format a line and hand it to the
 * sink callback their creator supplied. The driver's sink writes to stderr.
 * A logger with fn == NULL discards everything; formatting is skipped when
 * the level is filtered out, so debug logging costs one comparison.
 */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

typedef enum sh_log_level {
    SH_LOG_ERROR = 0,
    SH_LOG_WARN = 1,
    SH_LOG_INFO = 2,
    SH_LOG_DEBUG = 3,
    SH_LOG_TRACE = 4,
} sh_log_level;

typedef void (*sh_log_fn)(void *ud, sh_log_level level, const char *component, const char *msg);

typedef struct sh_logger {
    sh_log_fn fn;        /* sink, or NULL to discard */
    void *ud;            /* passed to fn */
    sh_log_level level;  /* lines above this level are dropped */
} sh_logger;

void sh_log(const sh_logger *lg, sh_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "error", "warn", "info", "debug", "trace" <-> level. Returns 0 or SH_EINVAL. */
int sh_log_level_parse(const char *name, sh_log_level *out);
const char *sh_log_level_name(sh_log_level level);

#define SH_LOG_ON(lg, lvl) ((lg) && (lg)->fn && (lvl) <= (lg)->level)

#endif
