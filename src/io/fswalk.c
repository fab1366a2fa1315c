/* fswalk.c — recursive directory listing for `shoal create` (see fswalk.h). */
#include "io/fswalk.h"

#include <shoal/error.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct walker {
    const char *root;
    const sh_fswalk_opts *opts;
    sh_fslist *out;
    uint32_t cap;
    char rel[SH_META_MAX_PATH + 1]; /* relative path of the current directory */
    int *err_no;
    char *errpath;
    size_t errpath_len;
} walker;

static int fail(walker *w, int code, int e, const char *rel, const char *name)
{
    if (w->err_no) *w->err_no = e;
    if (w->errpath && w->errpath_len) {
        snprintf(w->errpath, w->errpath_len, "%s%s%s%s%s", w->root, *rel ? "/" : "", rel,
                 name ? "/" : "", name ? name : "");
    }
    return code;
}

static int push(walker *w, const char *relpath, const struct stat *st)
{
    sh_fslist *l = w->out;
    if (l->count >= SH_META_MAX_FILES) return SH_ELIMIT;
    if (l->count == w->cap) {
        uint32_t ncap = w->cap ? w->cap * 2 : 64;
        sh_fsentry *p = realloc(l->files, (size_t)ncap * sizeof *p);
        if (!p) return SH_ENOMEM;
        l->files = p;
        w->cap = ncap;
    }
    char *dup = strdup(relpath);
    if (!dup) return SH_ENOMEM;
    uint64_t size = (uint64_t)st->st_size;
    if (size > UINT64_MAX - l->total) {
        free(dup);
        return SH_ELIMIT;
    }
    l->files[l->count++] =
        (sh_fsentry){dup, size, (st->st_mode & 0111) != 0, st->st_dev, st->st_ino};
    l->total += size;
    return 0;
}

static bool excluded(const walker *w, const struct stat *st)
{
    const sh_fswalk_opts *o = w->opts;
    return o && o->have_exclude && o->exclude_dev == st->st_dev && o->exclude_ino == st->st_ino;
}

static void warn(walker *w, const char *name, const char *why)
{
    if (!w->opts || !w->opts->warn) return;
    char path[SH_META_MAX_PATH * 2 + 8];
    snprintf(path, sizeof path, "%s/%s%s%s", w->root, w->rel, *w->rel ? "/" : "", name);
    w->opts->warn(w->opts->ud, path, why);
}

static int walk_dir(walker *w, int dfd, unsigned depth);

/* Handles one directory entry; dfd is its directory. */
static int visit(walker *w, int dfd, const char *name, unsigned depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(w, SH_EIO, errno, w->rel, name);
    if (S_ISLNK(st.st_mode)) {
        warn(w, name, "symlink skipped");
        return 0;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return fail(w, SH_EUNSUPPORTED, 0, w->rel, name);
    if (depth + 1 > SH_META_MAX_PATH_DEPTH) return fail(w, SH_ELIMIT, 0, w->rel, name);
    size_t rl = strlen(w->rel), nl = strlen(name);
    if (rl + 1 + nl > SH_META_MAX_PATH) return fail(w, SH_ELIMIT, 0, w->rel, name);
    if (S_ISREG(st.st_mode)) {
        if (excluded(w, &st)) return 0;
        char path[SH_META_MAX_PATH + 1]; /* fits: checked above */
        memcpy(path, w->rel, rl);
        if (rl) path[rl] = '/';
        memcpy(path + rl + (rl ? 1 : 0), name, nl + 1);
        int rc = push(w, path, &st);
        return rc ? fail(w, rc, 0, w->rel, name) : 0;
    }
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) return fail(w, SH_EIO, errno, w->rel, name);
    if (rl) w->rel[rl] = '/';
    memcpy(w->rel + rl + (rl ? 1 : 0), name, nl + 1);
    int rc = walk_dir(w, sub, depth + 1); /* closes sub */
    w->rel[rl] = 0;
    return rc;
}

/* Walks the open directory dfd (taking ownership of it). */
static int walk_dir(walker *w, int dfd, unsigned depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return fail(w, SH_EIO, e, w->rel, NULL);
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) rc = fail(w, SH_EIO, errno, w->rel, NULL);
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        rc = visit(w, dirfd(d), de->d_name, depth);
        if (rc) break;
    }
    closedir(d);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const sh_fsentry *)a)->relpath, ((const sh_fsentry *)b)->relpath);
}

int sh_fswalk(const char *root, const sh_fswalk_opts *opts, sh_fslist *out, int *err_no,
              char *errpath, size_t errpath_len)
{
    walker w = {.root = root,
                .opts = opts,
                .out = out,
                .err_no = err_no,
                .errpath = errpath,
                .errpath_len = errpath_len};
    memset(out, 0, sizeof *out);
    if (err_no) *err_no = 0;
    struct stat st;
    if (stat(root, &st) < 0) return fail(&w, SH_EIO, errno, "", NULL);
    int rc;
    if (S_ISREG(st.st_mode)) {
        rc = push(&w, "", &st);
        if (rc) fail(&w, rc, 0, "", NULL);
    } else if (S_ISDIR(st.st_mode)) {
        out->root_is_dir = true;
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = fd < 0 ? fail(&w, SH_EIO, errno, "", NULL) : walk_dir(&w, fd, 0);
    } else {
        rc = fail(&w, SH_EUNSUPPORTED, 0, "", NULL);
    }
    if (rc) {
        sh_fslist_free(out);
        return rc;
    }
    if (out->count > 1) qsort(out->files, out->count, sizeof *out->files, cmp_entry);
    return 0;
}

void sh_fslist_free(sh_fslist *l)
{
    if (!l) return;
    for (uint32_t i = 0; i < l->count; i++)
        free(l->files[i].relpath);
    free(l->files);
    memset(l, 0, sizeof *l);
}
