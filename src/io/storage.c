/*
 * storage.c — opening a torrent's data (seed, resume, fresh download or
 * already complete), finalizing a download, and closing.
 *
 * The output directory is the one place we trust as given (the user named
 * it); everything below it — <name>, <name>.part and the tree inside — is
 * opened component by component without following symlinks
 * (storage_fd.c). A .part file that is longer than the torrent says is an
 * error, never silently truncated: it is probably not ours.
 */
#include "io/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s%s", a, b, c);
    return s;
}

static int fail_errno(sh_errinfo *ei, int code, const char *what, const char *why, int e)
{
    if (e != 0) return sh_errinfo_set(ei, code, 0, "%s %s (%s)", what, why, strerror(e));
    return sh_errinfo_set(ei, code, 0, "%s %s", what, why);
}

/* The on-disk name of file f, for messages. */
static void file_label(const sh_storage *st, uint32_t f, char *buf, size_t n)
{
    if (st->rootfd < 0)
        snprintf(buf, n, "%s", st->path);
    else
        snprintf(buf, n, "%s/%s", st->path, st->mi->files[f].path);
}

/*
 * Seeding and complete output need the exact size; a .part is extended
 * (sparse) when short and refused when long.
 */
static int check_size(sh_storage *st, int fd, uint32_t f, bool extend, sh_errinfo *ei)
{
    char label[SH_META_MAX_PATH + 64];
    uint64_t want = st->mi->files[f].length;
    struct stat sb;
    file_label(st, f, label, sizeof label);
    if (fstat(fd, &sb) != 0) return fail_errno(ei, SH_EIO, label, "cannot be examined", errno);
    uint64_t have = (uint64_t)sb.st_size;
    if (have == want) return 0;
    if (!extend || have > want)
        return sh_errinfo_set(ei, SH_EIO, 0, "%s has %llu bytes, the torrent says %llu%s", label,
                              (unsigned long long)have, (unsigned long long)want,
                              extend ? "; refusing to truncate it" : "");
    if (want > (uint64_t)INT64_MAX || ftruncate(fd, (off_t)want) != 0)
        return fail_errno(ei, SH_EIO, label, "cannot be extended", errno);
    return 0;
}

/* Opens (and in .part mode creates) file f and keeps or parks its descriptor. */
static int open_one(sh_storage *st, uint32_t f, bool create, sh_errinfo *ei)
{
    const sh_file *fl = &st->mi->files[f];
    mode_t mode = fl->executable ? 0755 : 0644;
    int acc = st->writable ? O_RDWR : O_RDONLY;
    int fd, e, rc;
    const char *why;
    char label[SH_META_MAX_PATH + 64];
    if (st->rootfd >= 0) {
        rc = sh_st_open_under(st->rootfd, fl->path, create, acc, mode, &fd, &why, &e);
    } else if (st->outfd >= 0) {
        const char *name = st->is_final ? st->final_name : st->part_name;
        rc = sh_st_open_under(st->outfd, name, create, acc, mode, &fd, &why, &e);
    } else { /* seeding a single file: the path is the user's, it may be a link */
        rc = 0;
        fd = open(st->path, acc | O_CLOEXEC | O_NONBLOCK);
        struct stat sb;
        if (fd < 0) {
            e = errno;
            rc = e == ENOENT ? SH_ENOTFOUND : SH_EIO;
            why = e == ENOENT ? "does not exist" : "cannot be opened";
        } else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            close(fd);
            rc = SH_EIO, why = "is not a regular file", e = 0;
        }
    }
    file_label(st, f, label, sizeof label);
    if (rc != 0) return fail_errno(ei, rc, label, why, e);
    rc = check_size(st, fd, f, create, ei);
    if (rc != 0 || fl->length == 0 || st->lazy) {
        close(fd);
        return rc;
    }
    st->fds[f] = fd;
    return 0;
}

static int open_files(sh_storage *st, bool create, sh_errinfo *ei)
{
    int rc = sh_st_fds_init(st);
    if (rc != 0) return sh_errinfo_set(ei, rc, 0, "out of memory");
    for (uint32_t f = 0; f < st->mi->num_files; f++) {
        if (st->mi->files[f].pad) continue;
        if (st->rootfd < 0 && f != st->single) continue;
        rc = open_one(st, f, create, ei);
        if (rc != 0) return rc;
    }
    return 0;
}

/* The top directory of a multi-file torrent, as a descriptor. */
static int open_root(sh_storage *st, int parent, const char *name, bool create, sh_errinfo *ei)
{
    const char *why;
    int e;
    if (parent < 0) { /* seeding: the user's path, links allowed */
        st->rootfd = open(st->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (st->rootfd >= 0) return 0;
        e = errno;
        return fail_errno(ei, e == ENOENT ? SH_ENOTFOUND : SH_EIO, st->path,
                          e == ENOTDIR ? "is not a directory" : "cannot be opened", e);
    }
    int rc = sh_st_open_dir(parent, name, strlen(name), create, &st->rootfd, &why, &e);
    if (rc != 0) {
        st->rootfd = -1;
        return fail_errno(ei, rc, st->path, why, e);
    }
    return 0;
}

static uint32_t single_index(const sh_metainfo *mi)
{
    for (uint32_t f = 0; f < mi->num_files; f++)
        if (!mi->files[f].pad) return f;
    return 0;
}

static int open_seed(sh_storage *st, const char *path, sh_errinfo *ei)
{
    st->path = strdup(path);
    st->final_path = strdup(path);
    if (!st->path || !st->final_path) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    st->is_final = true;
    if (!st->mi->single_file) {
        int rc = open_root(st, -1, NULL, false, ei);
        if (rc != 0) return rc;
    }
    return open_files(st, false, ei);
}

static int open_download(sh_storage *st, const char *out, sh_errinfo *ei)
{
    const sh_metainfo *mi = st->mi;
    st->writable = true;
    st->outfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->outfd < 0)
        return fail_errno(ei, errno == ENOENT ? SH_ENOTFOUND : SH_EIO, out,
                          "(output directory) cannot be opened", errno);
    st->final_name = strdup(mi->name);
    size_t n = strlen(mi->name) + sizeof ".part";
    st->part_name = malloc(n);
    st->final_path = join(out, mi->name, "");
    if (st->part_name) snprintf(st->part_name, n, "%s.part", mi->name);
    if (!st->final_name || !st->part_name || !st->final_path)
        return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");

    struct stat sb;
    if (fstatat(st->outfd, st->final_name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        st->is_final = true; /* complete candidate: exact sizes, nothing created */
    } else if (errno != ENOENT) {
        return fail_errno(ei, SH_EIO, st->final_path, "cannot be examined", errno);
    }
    st->path = st->is_final ? strdup(st->final_path) : join(out, st->part_name, "");
    if (!st->path) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    bool create = !st->is_final;
    if (!mi->single_file) {
        const char *top = st->is_final ? st->final_name : st->part_name;
        int rc = open_root(st, st->outfd, top, create, ei);
        if (rc != 0) return rc;
    }
    return open_files(st, create, ei);
}

int sh_storage_open(const sh_metainfo *mi, const char *path, bool seeding, sh_storage **out,
                    sh_errinfo *ei)
{
    if (!mi || !path || !out || mi->num_files == 0)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "storage: bad arguments");
    sh_storage *st = calloc(1, sizeof *st);
    if (!st) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    st->mi = mi;
    st->seeding = seeding;
    st->outfd = -1;
    st->rootfd = -1;
    st->single = mi->single_file ? single_index(mi) : 0;
    int rc = seeding ? open_seed(st, path, ei) : open_download(st, path, ei);
    if (rc != 0) {
        sh_storage_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void sh_storage_close(sh_storage *st)
{
    if (!st) return;
    sh_st_fds_close(st);
    if (st->rootfd >= 0) close(st->rootfd);
    if (st->outfd >= 0) close(st->outfd);
    free(st->path);
    free(st->final_path);
    free(st->part_name);
    free(st->final_name);
    free(st);
}

/*
 * fsync of every data file and of every directory in the tree (each
 * directory's entry is durable once its parent is synced, so all ancestors
 * are synced too; the top entry is synced with the output directory after
 * the rename).
 */
static int sync_tree(sh_storage *st, sh_errinfo *ei)
{
    const sh_metainfo *mi = st->mi;
    char label[SH_META_MAX_PATH + 64];
    const char *prev = NULL;
    size_t prev_len = 0;
    for (uint32_t f = 0; f < mi->num_files; f++) {
        const sh_file *fl = &mi->files[f];
        if (fl->pad || (st->rootfd < 0 && f != st->single)) continue;
        if (fl->length > 0) {
            sh_st_ref ref;
            int e = 0, rc = sh_st_get(st, f, &ref);
            if (rc == 0) {
                if (fdatasync(ref.fd) != 0) rc = SH_EIO, e = errno;
                sh_st_put(st, &ref);
            }
            file_label(st, f, label, sizeof label);
            if (rc != 0) return fail_errno(ei, SH_EIO, label, "cannot be flushed", e);
        }
        if (st->rootfd < 0) continue;
        /* Each distinct parent directory (with its ancestors) once; sorting keeps them adjacent. */
        const char *slash = strrchr(fl->path, '/');
        size_t dlen = slash ? (size_t)(slash - fl->path) : 0;
        if (prev && dlen == prev_len && memcmp(prev, fl->path, dlen) == 0) continue;
        prev = fl->path;
        prev_len = dlen;
        for (size_t i = 0; i <= dlen; i++) {
            if (i < dlen && fl->path[i] != '/') continue;
            int dfd, e;
            const char *why;
            int rc = sh_st_open_dir(st->rootfd, fl->path, i, false, &dfd, &why, &e);
            if (rc == 0) {
                if (fsync(dfd) != 0) rc = SH_EIO, e = errno, why = "cannot be flushed";
                close(dfd);
            }
            if (rc != 0) return fail_errno(ei, SH_EIO, st->path, why, e);
        }
    }
    return 0;
}

static int rename_noreplace(sh_storage *st)
{
    if (renameat2(st->outfd, st->part_name, st->outfd, st->final_name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
    /* The file system cannot do it atomically: check, then rename. */
    struct stat sb;
    if (fstatat(st->outfd, st->final_name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        errno = EEXIST;
        return -1;
    }
    return renameat(st->outfd, st->part_name, st->outfd, st->final_name);
}

int sh_storage_finalize(sh_storage *st, sh_errinfo *ei)
{
    if (!st) return sh_errinfo_set(ei, SH_EINVAL, 0, "storage: bad arguments");
    if (st->seeding)
        return sh_errinfo_set(ei, SH_EINVAL, 0, "%s: seeding data is not finalized", st->path);
    if (st->is_final) return 0;
    int rc = sync_tree(st, ei);
    if (rc != 0) return rc;
    char *final = strdup(st->final_path);
    if (!final) return sh_errinfo_set(ei, SH_ENOMEM, 0, "out of memory");
    if (rename_noreplace(st) != 0) {
        int e = errno;
        free(final);
        if (e == EEXIST || e == ENOTEMPTY)
            return sh_errinfo_set(ei, SH_EEXIST, 0, "%s already exists; the download stays in %s",
                                  st->final_path, st->path);
        return fail_errno(ei, SH_EIO, st->path, "cannot be renamed", e);
    }
    free(st->path);
    st->path = final;
    st->is_final = true;
    if (fsync(st->outfd) != 0)
        return fail_errno(ei, SH_EIO, st->final_path, "renamed but its directory cannot be flushed",
                          errno);
    return 0;
}

const char *sh_storage_path(const sh_storage *st)
{
    return st->path;
}

const char *sh_storage_final_path(const sh_storage *st)
{
    return st->final_path;
}

bool sh_storage_is_final(const sh_storage *st)
{
    return st->is_final;
}
