/*
 * types.c — spans, endpoints and hex. Addresses are parsed here rather than
 * with inet_pton so the core needs nothing from the socket headers.
 */
#include <shoal/error.h>
#include <shoal/types.h>

#include <stdio.h>
#include <string.h>

bool sh_span_eq(sh_span s, const char *cstr)
{
    size_t n = strlen(cstr);
    return s.len == n && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

static int parse_ipv4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.') return SH_EINVAL;
            i++;
        }
        unsigned v = 0;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || v > 255) return SH_EINVAL;
        if (i - start > 1 && s[start] == '0') return SH_EINVAL; /* no octal look-alikes */
        out[part] = (uint8_t)v;
    }
    return i == len ? 0 : SH_EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* RFC 4291 text form: groups of up to 4 hex digits, one "::", optional dotted IPv4 tail. */
static int parse_ipv6(const char *s, size_t len, uint8_t out[16])
{
    uint16_t head[8], tail[8];
    int nhead = 0, ntail = 0, *n = &nhead;
    uint16_t *g = head;
    bool gap = false;
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        gap = true;
        n = &ntail;
        g = tail;
        i = 2;
    } else if (len >= 1 && s[0] == ':') {
        return SH_EINVAL;
    }
    while (i < len) {
        /* an embedded IPv4 address ends the text */
        size_t j = i;
        while (j < len && s[j] != ':' && s[j] != '.') j++;
        if (j < len && s[j] == '.') {
            uint8_t v4[4];
            if (nhead + ntail > 6 || parse_ipv4(s + i, len - i, v4)) return SH_EINVAL;
            g[(*n)++] = (uint16_t)(v4[0] << 8 | v4[1]);
            g[(*n)++] = (uint16_t)(v4[2] << 8 | v4[3]);
            i = len;
            break;
        }
        unsigned v = 0;
        size_t start = i;
        while (i < len && hexval(s[i]) >= 0 && i - start < 4) v = v * 16 + (unsigned)hexval(s[i++]);
        if (i == start || nhead + ntail >= 8) return SH_EINVAL;
        g[(*n)++] = (uint16_t)v;
        if (i == len) break;
        if (s[i] != ':') return SH_EINVAL;
        i++;
        if (i < len && s[i] == ':') {
            if (gap) return SH_EINVAL;
            gap = true;
            n = &ntail;
            g = tail;
            i++;
        } else if (i == len) {
            return SH_EINVAL; /* trailing single ':' */
        }
    }
    int total = nhead + ntail;
    if ((!gap && total != 8) || (gap && total > 7)) return SH_EINVAL;
    uint16_t all[8] = {0};
    memcpy(all, head, sizeof(uint16_t) * (size_t)nhead);
    memcpy(all + 8 - ntail, tail, sizeof(uint16_t) * (size_t)ntail);
    for (int k = 0; k < 8; k++) {
        out[2 * k] = (uint8_t)(all[k] >> 8);
        out[2 * k + 1] = (uint8_t)all[k];
    }
    return 0;
}

int sh_addr_parse_ip(const char *s, size_t len, sh_addr *out)
{
    sh_addr a = {0};
    if (parse_ipv4(s, len, a.ip) == 0) {
        a.family = 4;
    } else if (parse_ipv6(s, len, a.ip) == 0) {
        a.family = 6;
    } else {
        return SH_EINVAL;
    }
    *out = a;
    return 0;
}

int sh_addr_parse(const char *s, sh_addr *out)
{
    size_t len = strlen(s);
    const char *host, *colon;
    size_t hostlen;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close[1] != ':') return SH_EINVAL;
        host = s + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return SH_EINVAL;
        host = s;
        hostlen = (size_t)(colon - s);
        if (memchr(host, ':', hostlen)) return SH_EINVAL; /* bare IPv6 needs brackets */
    }
    const char *p = colon + 1;
    if (!*p) return SH_EINVAL;
    unsigned long port = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return SH_EINVAL;
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535) return SH_EINVAL;
    }
    sh_addr a;
    if (sh_addr_parse_ip(host, hostlen, &a)) return SH_EINVAL;
    a.port = (uint16_t)port;
    *out = a;
    return 0;
}

char *sh_addr_format(const sh_addr *a, char *buf, size_t buflen)
{
    if (a->family == 4) {
        snprintf(buf, buflen, "%u.%u.%u.%u:%u", a->ip[0], a->ip[1], a->ip[2], a->ip[3], a->port);
        return buf;
    }
    if (a->family != 6) {
        snprintf(buf, buflen, "(none)");
        return buf;
    }
    /* Compress the longest run of zero groups (length >= 2), as RFC 5952 asks. */
    uint16_t g[8];
    for (int k = 0; k < 8; k++) g[k] = (uint16_t)(a->ip[2 * k] << 8 | a->ip[2 * k + 1]);
    int best = -1, bestlen = 1;
    for (int k = 0; k < 8;) {
        int e = k;
        while (e < 8 && g[e] == 0) e++;
        if (e - k > bestlen) {
            best = k;
            bestlen = e - k;
        }
        k = e > k ? e : k + 1;
    }
    char tmp[SH_ADDR_STRLEN];
    size_t o = 0;
    tmp[o++] = '[';
    for (int k = 0; k < 8; k++) {
        if (k == best) {
            tmp[o++] = ':';
            if (k == 0) tmp[o++] = ':';
            k += bestlen - 1;
            continue;
        }
        o += (size_t)snprintf(tmp + o, sizeof tmp - o, "%x", g[k]);
        if (k < 7) tmp[o++] = ':';
    }
    tmp[o] = 0;
    snprintf(buf, buflen, "%s]:%u", tmp, a->port);
    return buf;
}

bool sh_addr_ip_eq(const sh_addr *a, const sh_addr *b)
{
    if (a->family != b->family) return false;
    return memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

bool sh_addr_eq(const sh_addr *a, const sh_addr *b)
{
    return sh_addr_ip_eq(a, b) && a->port == b->port;
}

int sh_addr_cmp(const sh_addr *a, const sh_addr *b)
{
    if (a->family != b->family) return a->family < b->family ? -1 : 1;
    int c = memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16);
    if (c) return c < 0 ? -1 : 1;
    if (a->port != b->port) return a->port < b->port ? -1 : 1;
    return 0;
}

int sh_addr_from_compact(const uint8_t *p, size_t len, sh_addr *out)
{
    sh_addr a = {0};
    if (len == 6) {
        a.family = 4;
        memcpy(a.ip, p, 4);
    } else if (len == 18) {
        a.family = 6;
        memcpy(a.ip, p, 16);
    } else {
        return SH_EINVAL;
    }
    a.port = (uint16_t)(p[len - 2] << 8 | p[len - 1]);
    *out = a;
    return 0;
}

size_t sh_addr_to_compact(const sh_addr *a, uint8_t out[18])
{
    size_t n = a->family == 4 ? 4 : 16;
    memcpy(out, a->ip, n);
    out[n] = (uint8_t)(a->port >> 8);
    out[n + 1] = (uint8_t)a->port;
    return n + 2;
}

char *sh_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
    return out;
}

int sh_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n) return SH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return SH_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
