/*
 * bencode_enc.c — the bencode encoder: appends to a growable sh_bbuf.
 *
 * The first allocation failure is sticky (b->err) and turns every later call
 * into a no-op, so a caller builds a whole document and checks once.
 */
#include <shoal/bencode.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sh_bbuf_init(sh_bbuf *b)
{
    memset(b, 0, sizeof *b);
}

void sh_bbuf_free(sh_bbuf *b)
{
    if (!b) return;
    free(b->data);
    sh_bbuf_init(b);
}

uint8_t *sh_bbuf_take(sh_bbuf *b, size_t *len)
{
    uint8_t *d = b->err ? NULL : b->data;
    if (b->err) free(b->data);
    if (!b->err && !d) d = malloc(1); /* an empty document is still a success */
    if (len) *len = d ? b->len : 0;
    sh_bbuf_init(b);
    return d;
}

static bool reserve(sh_bbuf *b, size_t n)
{
    if (b->err) return false;
    if (n <= b->cap - b->len) return true;
    if (n > SIZE_MAX / 2 - b->len) {
        b->err = SH_ENOMEM;
        return false;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->err = SH_ENOMEM;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void sh_bbuf_raw(sh_bbuf *b, const void *p, size_t n)
{
    if (!reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sh_benc_int(sh_bbuf *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "i%" PRId64 "e", v);
    sh_bbuf_raw(b, tmp, (size_t)n);
}

void sh_benc_str(sh_bbuf *b, const void *p, size_t n)
{
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%zu:", n);
    sh_bbuf_raw(b, tmp, (size_t)k);
    sh_bbuf_raw(b, p, n);
}

void sh_benc_cstr(sh_bbuf *b, const char *s)
{
    sh_benc_str(b, s, strlen(s));
}

void sh_benc_list_begin(sh_bbuf *b)
{
    sh_bbuf_raw(b, "l", 1);
}

void sh_benc_dict_begin(sh_bbuf *b)
{
    sh_bbuf_raw(b, "d", 1);
}

void sh_benc_end(sh_bbuf *b)
{
    sh_bbuf_raw(b, "e", 1);
}

void sh_benc_kv_int(sh_bbuf *b, const char *key, int64_t v)
{
    sh_benc_cstr(b, key);
    sh_benc_int(b, v);
}

void sh_benc_kv_str(sh_bbuf *b, const char *key, const void *p, size_t n)
{
    sh_benc_cstr(b, key);
    sh_benc_str(b, p, n);
}

void sh_benc_kv_cstr(sh_bbuf *b, const char *key, const char *s)
{
    sh_benc_cstr(b, key);
    sh_benc_cstr(b, s);
}
