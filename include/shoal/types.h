/*
 * types.h — small value types shared by every core module.
 *
 * sh_span is a borrowed (pointer, length) view: wire data is never assumed to
 * be NUL-terminated. sh_addr names an endpoint without any socket header, so
 * the core stays free of <sys/socket.h>. Nothing here allocates.
 */
#ifndef SHOAL_TYPES_H
#define SHOAL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sh_span {
    const uint8_t *ptr;
    size_t len;
} sh_span;

#define SH_SPAN_LIT(s) ((sh_span){(const uint8_t *)(s), sizeof(s) - 1})

/* Compare a span with a C string, byte for byte. */
bool sh_span_eq(sh_span s, const char *cstr);

/* An IPv4 or IPv6 endpoint. ip holds 4 or 16 bytes in network order. */
typedef struct sh_addr {
    uint8_t family;  /* 4 or 6; 0 means "unset" */
    uint8_t ip[16];
    uint16_t port;   /* host order */
} sh_addr;

#define SH_ADDR_STRLEN 48  /* "[ffff:...:ffff]:65535" + NUL fits */

/* "1.2.3.4:5", "[::1]:6881". Writes a NUL-terminated string, returns buf. */
char *sh_addr_format(const sh_addr *a, char *buf, size_t buflen);
/* Parses the forms sh_addr_format writes. 0 or SH_EINVAL. */
int sh_addr_parse(const char *s, sh_addr *out);
/* Parses "1.2.3.4" or "::1" without a port. 0 or SH_EINVAL. */
int sh_addr_parse_ip(const char *s, size_t len, sh_addr *out);
bool sh_addr_eq(const sh_addr *a, const sh_addr *b);
/* Same IP, port ignored. */
bool sh_addr_ip_eq(const sh_addr *a, const sh_addr *b);
/* A total order (family, ip, port) for deterministic sorting. */
int sh_addr_cmp(const sh_addr *a, const sh_addr *b);

/* Compact forms: 6 bytes (IPv4) or 18 bytes (IPv6), ip then port, network order. */
int sh_addr_from_compact(const uint8_t *p, size_t len, sh_addr *out);
size_t sh_addr_to_compact(const sh_addr *a, uint8_t out[18]);

/* Nanoseconds of monotonic time, as every core entry point receives it. */
typedef uint64_t sh_time;
#define SH_MS(x) ((sh_time)(x) * 1000000ull)
#define SH_SEC(x) ((sh_time)(x) * 1000000000ull)
#define SH_TIME_NEVER UINT64_MAX

/* Lowercase hex of n bytes into out (2n+1 bytes). Returns out. */
char *sh_hex(const uint8_t *p, size_t n, char *out);
/* Parses exactly 2n hex digits into out. 0 or SH_EINVAL. */
int sh_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

#endif
