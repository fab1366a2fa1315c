/*
 * announcer_url.c — which tracker URLs the announcer can use, and where a
 * UDP tracker lives. Strict on purpose: a URL from a torrent is hostile, and
 * a typo in -t should be named, not silently announced to nowhere.
 */
#include "announcer_int.h"

#include <string.h>

static bool prefix_ci(const char *s, const char *p)
{
    for (; *p; s++, p++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if (c != *p) return false;
    }
    return true;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* The host part at s: "[v6]" or a name/IPv4; *end past it, text into host. */
static int parse_host(const char *s, const char **end, char *host, sh_errinfo *ei)
{
    size_t n;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close) return sh_errinfo_set(ei, SH_EINVAL, 0, "unclosed '[' in host");
        n = (size_t)(close - s - 1);
        sh_addr ip;
        if (n >= ANN_HOST_MAX || sh_addr_parse_ip(s + 1, n, &ip) || ip.family != 6)
            return sh_errinfo_set(ei, SH_EINVAL, 0, "bad IPv6 address in brackets");
        memcpy(host, s + 1, n);
        *end = close + 1;
    } else {
        for (n = 0; host_char(s[n]); n++) {
        }
        if (n == 0) return sh_errinfo_set(ei, SH_EINVAL, 0, "no host");
        if (n >= ANN_HOST_MAX) return sh_errinfo_set(ei, SH_EINVAL, 0, "host name too long");
        memcpy(host, s, n);
        *end = s + n;
    }
    host[n] = 0;
    return 0;
}

static int parse_port(const char *s, const char **end, uint16_t *port, sh_errinfo *ei)
{
    if (*s != ':') return sh_errinfo_set(ei, SH_EINVAL, 0, "udp:// needs a port (udp://host:port)");
    s++;
    unsigned v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9' && n < 6)
        v = v * 10 + (unsigned)(s[n++] - '0');
    if (n == 0 || n > 5 || v == 0 || v > 65535)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "bad port (1-65535)");
    *port = (uint16_t)v;
    *end = s + n;
    return 0;
}

static int parse_udp(const char *rest, char *host, uint16_t *port, sh_errinfo *ei)
{
    const char *p = rest;
    int rc = parse_host(rest, &p, host, ei);
    if (rc == 0) rc = parse_port(p, &p, port, ei);
    if (rc == 0 && *p && *p != '/')
        rc = sh_errinfo_set(ei, SH_EINVAL, 0, "unexpected '%c' after the port", *p);
    return rc;
}

int ann_parse_url(const char *url, ann_kind *kind, char *host, uint16_t *port, sh_errinfo *ei)
{
    size_t len = strnlen(url, ANN_URL_MAX + 1);
    if (len > ANN_URL_MAX) return sh_errinfo_set(ei, SH_EINVAL, 0, "URL too long");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return sh_errinfo_set(ei, SH_EINVAL, i, "space, control or non-ASCII byte in URL");
    }
    host[0] = 0;
    *port = 0;
    if (prefix_ci(url, "udp://")) {
        *kind = KIND_UDP;
        return parse_udp(url + 6, host, port, ei);
    }
    size_t skip = prefix_ci(url, "http://") ? 7 : prefix_ci(url, "https://") ? 8 : 0;
    if (skip == 0)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "not an http://, https:// or udp:// URL");
    if (url[skip] == 0 || url[skip] == '/' || url[skip] == '?')
        return sh_errinfo_set(ei, SH_EINVAL, 0, "no host");
    *kind = KIND_HTTP;
    return 0;
}

int sh_announcer_url_check(const char *url, sh_errinfo *ei)
{
    ann_kind kind;
    char host[ANN_HOST_MAX];
    uint16_t port;
    if (!url) return sh_errinfo_set(ei, SH_EINVAL, 0, "no URL");
    return ann_parse_url(url, &kind, host, &port, ei);
}
