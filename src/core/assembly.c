/* assembly.c — sorted table of piece buffers (see assembly.h). */
#include "assembly.h"

#include <shoal/error.h>

#include <stdlib.h>
#include <string.h>

void sh_asm_init(sh_assembly *a)
{
    memset(a, 0, sizeof *a);
}

static void spares_free(sh_assembly *a)
{
    for (uint32_t i = 0; i < a->nspare; i++)
        free(a->spare[i].buf);
    a->nspare = 0;
    a->spare_bytes = 0;
}

/* A buffer of len bytes: a spare of that size if there is one. */
static uint8_t *buf_take(sh_assembly *a, uint32_t len)
{
    for (uint32_t i = a->nspare; i-- > 0;) {
        if (a->spare[i].len != len) continue;
        uint8_t *b = a->spare[i].buf;
        a->spare[i] = a->spare[--a->nspare];
        a->spare_bytes -= len;
        return b;
    }
    return malloc(len);
}

static void buf_give(sh_assembly *a, uint8_t *buf, uint32_t len)
{
    if (!buf) return;
    if (a->nspare < SH_ASM_SPARE && len <= SH_ASM_SPARE_BYTES - a->spare_bytes) {
        a->spare[a->nspare++] = (sh_asm_spare){buf, len};
        a->spare_bytes += len;
        return;
    }
    free(buf);
}

static void piece_free(sh_assembly *a, sh_asm_piece *p)
{
    if (!p) return;
    buf_give(a, p->buf, p->len);
    free(p);
}

void sh_asm_free(sh_assembly *a)
{
    for (size_t i = 0; i < a->n; i++)
        piece_free(a, a->v[i]);
    spares_free(a);
    free(a->v);
    free(a->keys);
    memset(a, 0, sizeof *a);
}

/* First index whose piece is >= piece. */
static size_t lower_bound(const sh_assembly *a, uint32_t piece)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->keys[mid] < piece)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

sh_asm_piece *sh_asm_find(const sh_assembly *a, uint32_t piece)
{
    size_t i = lower_bound(a, piece);
    return i < a->n && a->keys[i] == piece ? a->v[i] : NULL;
}

static int reserve(sh_assembly *a)
{
    if (a->n < a->cap) return 0;
    size_t ncap = a->cap ? a->cap * 2 : 16;
    sh_asm_piece **nv = realloc(a->v, ncap * sizeof *nv);
    if (!nv) return SH_ENOMEM;
    a->v = nv;
    uint32_t *nk = realloc(a->keys, ncap * sizeof *nk);
    if (!nk) return SH_ENOMEM; /* v grew alone: harmless, cap still fits both */
    a->keys = nk;
    a->cap = ncap;
    return 0;
}

sh_asm_piece *sh_asm_get(sh_assembly *a, uint32_t piece, uint32_t len)
{
    size_t i = lower_bound(a, piece);
    if (i < a->n && a->keys[i] == piece) return a->v[i];
    if (len == 0 || reserve(a) < 0) return NULL;
    sh_asm_piece *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->buf = a->no_buffers ? NULL : buf_take(a, len);
    if (!p->buf && !a->no_buffers) {
        free(p);
        return NULL;
    }
    p->piece = piece;
    p->len = len;
    memmove(a->v + i + 1, a->v + i, (a->n - i) * sizeof *a->v);
    memmove(a->keys + i + 1, a->keys + i, (a->n - i) * sizeof *a->keys);
    a->v[i] = p;
    a->keys[i] = piece;
    a->n++;
    return p;
}

static void add_contrib(sh_asm_piece *p, const sh_addr *from)
{
    sh_addr ip = *from;
    ip.port = 0;
    for (uint32_t i = 0; i < p->ncontrib; i++)
        if (sh_addr_ip_eq(&p->contrib[i], &ip)) return;
    if (p->ncontrib < SH_ASM_MAX_CONTRIB) p->contrib[p->ncontrib++] = ip;
}

int sh_asm_write(sh_asm_piece *p, uint32_t offset, const uint8_t *data, size_t len,
                 const sh_addr *from)
{
    if (offset > p->len || len > p->len - offset) return SH_ERANGE;
    if (p->buf) memcpy(p->buf + offset, data, len);
    if (from) add_contrib(p, from);
    return 0;
}

void sh_asm_drop(sh_assembly *a, uint32_t piece)
{
    size_t i = lower_bound(a, piece);
    if (i >= a->n || a->keys[i] != piece) return;
    piece_free(a, a->v[i]);
    memmove(a->v + i, a->v + i + 1, (a->n - i - 1) * sizeof *a->v);
    memmove(a->keys + i, a->keys + i + 1, (a->n - i - 1) * sizeof *a->keys);
    a->n--;
    /* Nothing in progress (done, or idle): spares would only hold memory. */
    if (a->n == 0) spares_free(a);
}

uint64_t sh_asm_bytes(const sh_assembly *a)
{
    uint64_t t = 0;
    for (size_t i = 0; i < a->n; i++)
        t += a->v[i]->len;
    return t;
}
