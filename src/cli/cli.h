/*
 * cli.h — what every `shoal` subcommand shares: the command table, exit
 * codes, option-value parsers, the stderr log sink and error reporting.
 *
 * Exit codes are part of the interface: 0 done, 1 failed, 2 bad usage or
 * bad input. Every error message names what was wrong.
 */
#ifndef SHOAL_CLI_H
#define SHOAL_CLI_H

#include <shoal/log.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);  /* argv[0] is the command name */
} cli_command;

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_seed(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_tracker(int argc, char **argv);
int cmd_dht(int argc, char **argv);

/* "error: <formatted>\n" to stderr; returns code so callers can `return cli_error(2, ...)`. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "Try 'shoal CMD --help'." after an error and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "shoal <cmd>: <formatted>\n" to stderr; returns code. The form every
 * command uses for errors about its input, e.g. "shoal info: x.torrent: ...". */
int cli_cmd_error(int code, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "123", "4K", "1.5M", "2G", "1GiB" (binary multiples). 0 or -1 on junk/overflow. */
int cli_parse_size(const char *s, uint64_t *out);
/* Seconds as a non-negative decimal ("2.5"). 0 or -1. */
int cli_parse_seconds(const char *s, double *out);

/* The process-wide logger writing "shoal[component] level: msg" to stderr. */
extern sh_logger cli_logger;
/* Sets cli_logger's level from --log-level; -1 on an unknown name. */
int cli_set_log_level(const char *name);

/* True when stderr is a terminal (progress bars go there only then). */
bool cli_stderr_is_tty(void);

/* Human-readable bytes ("1.5 GiB") into buf. */
const char *cli_fmt_bytes(double bytes, char *buf, unsigned len);

/*
 * Text from a torrent or the network is hostile: it may hold terminal escape
 * sequences or invalid UTF-8. (text.c)
 */
/* Writes s with control characters (C0, DEL, C1) and invalid UTF-8 bytes as \xNN. */
void cli_fputs_safe(FILE *f, const char *s);
/* A malloc'd copy of s that is valid UTF-8 (invalid bytes become U+FFFD); NULL on OOM. */
char *cli_utf8_lossy(const char *s);

#endif
