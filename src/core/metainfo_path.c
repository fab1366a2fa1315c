/*
 * metainfo_path.c — path rules of the .torrent loader.
 *
 * A path from a torrent becomes a file name on disk, so each component must
 * be safe on its own: not empty, not "." or "..", no '/' (which would split
 * it), no NUL (which would cut it), at most 255 bytes. Across files, two
 * paths must not name the same file, and no file may be a directory of
 * another ("a" and "a/b"), or creating one would clobber the other.
 */
#include "metainfo_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sh_mi_check_component(sh_span c, const char *field, sh_errinfo *ei)
{
    if (c.len == 0) return sh_errinfo_set(ei, SH_EPATH, 0, "%s is empty", field);
    if (c.len > SH_META_MAX_COMPONENT)
        return sh_errinfo_set(ei, SH_EPATH, 0, "%s has %zu bytes, more than %u", field, c.len,
                              SH_META_MAX_COMPONENT);
    if (sh_span_eq(c, ".") || sh_span_eq(c, ".."))
        return sh_errinfo_set(ei, SH_EPATH, 0, "%s is \"%s\"", field, c.len == 1 ? "." : "..");
    if (memchr(c.ptr, '/', c.len)) return sh_errinfo_set(ei, SH_EPATH, 0, "%s contains '/'", field);
    if (memchr(c.ptr, 0, c.len)) return sh_errinfo_set(ei, SH_EPATH, 0, "%s contains NUL", field);
    return 0;
}

void sh_mi_escape(sh_span s, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
        size_t need = plain ? 1 : 4;
        if (o + need + 4 > size) { /* keep room for "..." and the NUL */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (plain)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    }
    out[o] = 0;
}

char *sh_mi_strdup(sh_span s)
{
    char *p = malloc(s.len + 1);
    if (!p) return NULL;
    if (s.len) memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    return p;
}

char *sh_mi_pad_path(uint64_t length)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, ".pad/%llu", (unsigned long long)length);
    return sh_mi_strdup((sh_span){(const uint8_t *)tmp, (size_t)n});
}

/*
 * Orders paths component-wise: '/' sorts below every other byte (NUL cannot
 * occur inside), so "a" < "a/b" < "a-b", and a file that is a directory of
 * another sorts right before some file under that directory.
 */
static unsigned path_key(unsigned char c)
{
    return c == 0 ? 0 : c == '/' ? 1 : (unsigned)c + 1;
}

static int path_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned ka = path_key((unsigned char)*a), kb = path_key((unsigned char)*b);
        if (ka != kb) return ka < kb ? -1 : 1;
        if (!ka) return 0;
    }
}

static int cmp_ptr(const void *x, const void *y)
{
    return path_cmp(*(const char *const *)x, *(const char *const *)y);
}

static int conflict(const char *a, const char *b, sh_errinfo *ei)
{
    size_t la = strlen(a);
    bool same = strcmp(a, b) == 0;
    if (!same && !(strncmp(a, b, la) == 0 && b[la] == '/')) return 0;
    char ea[96];
    sh_mi_escape((sh_span){(const uint8_t *)a, la}, ea, sizeof ea);
    if (same) return sh_errinfo_set(ei, SH_EPATH, 0, "duplicate file path \"%s\"", ea);
    return sh_errinfo_set(ei, SH_EPATH, 0, "file \"%s\" is also a directory of another file", ea);
}

int sh_mi_check_unique(const sh_file *files, uint32_t n, sh_errinfo *ei)
{
    const char **v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return SH_ENOMEM;
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!files[i].pad) v[m++] = files[i].path;
    qsort(v, m, sizeof *v, cmp_ptr);
    int rc = 0;
    for (uint32_t i = 1; i < m && !rc; i++)
        rc = conflict(v[i - 1], v[i], ei);
    free(v);
    return rc;
}
