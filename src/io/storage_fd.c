/*
 * storage_fd.c — opening a torrent's files without following symlinks, and
 * the per-file descriptor table (all open, or an LRU cache when there are
 * many files).
 *
 * Every component below the data root is opened with O_NOFOLLOW relative to
 * its parent's descriptor, so neither a hostile torrent path nor a link
 * planted in the tree (say between a crash and the resume) can make us read
 * or write outside the root. Files are opened O_NONBLOCK and checked to be
 * regular, so a planted FIFO cannot hang the open. Reopening an existing
 * file uses openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS when the
 * kernel has it: the same guarantee in one call.
 */
#include "io/storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Why openat of a component failed, made precise: a symlink, or something else. */
static int classify(int dirfd, const char *comp, int e, bool is_dir, const char **why, int *err_no)
{
    struct stat sb;
    *err_no = e;
    if (fstatat(dirfd, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode)) {
        *why = is_dir ? "passes through a symlink (refused)" : "is a symlink (refused)";
        return SH_EIO;
    }
    if (e == ENOENT) {
        *why = is_dir ? "is missing a directory of its path" : "does not exist";
        return SH_ENOTFOUND;
    }
    if (e == ENOTDIR) {
        *why = "has a path component that is not a directory";
        return SH_EIO;
    }
    *why = "cannot be opened";
    return SH_EIO;
}

static int open_dir(int dirfd, const char *comp, bool create, const char **why, int *err_no)
{
    if (create && mkdirat(dirfd, comp, 0755) != 0 && errno != EEXIST) {
        *why = "cannot create directory";
        *err_no = errno;
        return SH_EIO;
    }
    int fd = openat(dirfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return classify(dirfd, comp, errno, true, why, err_no);
    return fd;
}

int sh_st_open_dir(int dirfd, const char *reldir, size_t len, bool create, int *fd_out,
                   const char **why, int *err_no)
{
    char comp[SH_META_MAX_COMPONENT + 1];
    int cur = dirfd;
    size_t i = 0;
    *err_no = 0;
    for (unsigned depth = 0; i < len; depth++) {
        const char *slash = memchr(reldir + i, '/', len - i);
        size_t n = slash ? (size_t)(slash - (reldir + i)) : len - i;
        if (n == 0 || n > SH_META_MAX_COMPONENT || depth >= SH_META_MAX_PATH_DEPTH) {
            if (cur != dirfd) close(cur);
            *why = "is not a valid relative path";
            return SH_EIO;
        }
        memcpy(comp, reldir + i, n);
        comp[n] = '\0';
        int next = open_dir(cur, comp, create, why, err_no);
        if (cur != dirfd) close(cur);
        if (next < 0) return next;
        cur = next;
        i += n + (slash != NULL);
    }
    if (cur == dirfd) {
        cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        if (cur < 0) {
            *why = "cannot be opened";
            *err_no = errno;
            return SH_EIO;
        }
    }
    *fd_out = cur;
    return 0;
}

/*
 * One syscall instead of one per component, for reopening existing files
 * (the LRU path): openat2 refuses any symlink and any escape from dirfd by
 * itself. -1 on any failure, including kernels without openat2; the caller
 * then walks, which also explains the failure precisely.
 */
static int open_fast(int dirfd, const char *relpath, int accmode)
{
#ifdef SYS_openat2
    struct open_how how = {
        .flags = (uint64_t)(accmode | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, dirfd, relpath, &how, sizeof how);
    if (fd < 0) return -1;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) return fd;
    close(fd);
#else
    (void)dirfd, (void)relpath, (void)accmode;
#endif
    return -1;
}

int sh_st_open_under(int dirfd, const char *relpath, bool create, int accmode, mode_t mode,
                     int *fd_out, const char **why, int *err_no)
{
    if (!create) {
        int fd = open_fast(dirfd, relpath, accmode);
        if (fd >= 0) {
            *fd_out = fd;
            return 0;
        }
    }
    const char *slash = strrchr(relpath, '/');
    const char *base = slash ? slash + 1 : relpath;
    size_t blen = strlen(base);
    if (blen == 0 || blen > SH_META_MAX_COMPONENT) {
        *why = "is not a valid relative path";
        *err_no = 0;
        return SH_EIO;
    }
    int dfd = dirfd;
    if (slash) {
        int rc =
            sh_st_open_dir(dirfd, relpath, (size_t)(slash - relpath), create, &dfd, why, err_no);
        if (rc != 0) return rc;
    }
    int flags = accmode | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (create ? O_CREAT : 0);
    int fd = openat(dfd, base, flags, mode);
    int rc = fd < 0 ? classify(dfd, base, errno, false, why, err_no) : 0;
    if (dfd != dirfd) close(dfd);
    if (rc != 0) return rc;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        *why = "is not a regular file";
        *err_no = 0;
        close(fd);
        return SH_EIO;
    }
    *fd_out = fd;
    return 0;
}

static uint32_t count_data_files(const sh_metainfo *mi)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < mi->num_files; i++)
        n += sh_st_has_data(&mi->files[i]);
    return n;
}

int sh_st_fds_init(sh_storage *st)
{
    const sh_metainfo *mi = st->mi;
    st->lazy = st->rootfd >= 0 && count_data_files(mi) > SH_ST_DIRECT_MAX;
    if (!st->lazy) {
        st->fds = malloc((size_t)mi->num_files * sizeof *st->fds);
        if (st->fds == NULL) return SH_ENOMEM;
        for (uint32_t i = 0; i < mi->num_files; i++)
            st->fds[i] = -1;
        return 0;
    }
    st->slot_of = malloc((size_t)mi->num_files * sizeof *st->slot_of);
    if (st->slot_of == NULL) return SH_ENOMEM;
    for (uint32_t i = 0; i < mi->num_files; i++)
        st->slot_of[i] = -1;
    for (unsigned i = 0; i < SH_ST_LRU_SLOTS; i++)
        st->slots[i].fd = -1;
    if (pthread_mutex_init(&st->mu, NULL) != 0) {
        free(st->slot_of);
        st->slot_of = NULL;
        return SH_ENOMEM;
    }
    return 0;
}

void sh_st_fds_close(sh_storage *st)
{
    if (st->fds) {
        for (uint32_t i = 0; i < st->mi->num_files; i++)
            if (st->fds[i] >= 0) close(st->fds[i]);
        free(st->fds);
        st->fds = NULL;
    }
    if (st->slot_of) {
        for (unsigned i = 0; i < SH_ST_LRU_SLOTS; i++)
            if (st->slots[i].fd >= 0) close(st->slots[i].fd);
        free(st->slot_of);
        st->slot_of = NULL;
        pthread_mutex_destroy(&st->mu);
    }
}

/* A free slot, else the least recently used unpinned one (closed); -1 if all are pinned. */
static int pick_slot(sh_storage *st)
{
    int best = -1;
    for (unsigned i = 0; i < SH_ST_LRU_SLOTS; i++) {
        sh_st_slot *s = &st->slots[i];
        if (s->fd < 0) return (int)i;
        if (s->pins == 0 && (best < 0 || s->used < st->slots[best].used)) best = (int)i;
    }
    if (best >= 0) {
        sh_st_slot *s = &st->slots[best];
        close(s->fd);
        st->slot_of[s->file] = -1;
        s->fd = -1;
    }
    return best;
}

static int reopen(sh_storage *st, uint32_t f, int *fd)
{
    const char *why;
    int e;
    int rc = sh_st_open_under(st->rootfd, st->mi->files[f].path, false,
                              st->writable ? O_RDWR : O_RDONLY, 0, fd, &why, &e);
    return rc == 0 ? 0 : SH_EIO;
}

int sh_st_get(sh_storage *st, uint32_t f, sh_st_ref *ref)
{
    if (!st->lazy) {
        ref->fd = st->fds[f];
        ref->slot = -1;
        return ref->fd >= 0 ? 0 : SH_EIO;
    }
    pthread_mutex_lock(&st->mu);
    int s = st->slot_of[f];
    if (s < 0) {
        int fd, rc = reopen(st, f, &fd);
        if (rc != 0) {
            pthread_mutex_unlock(&st->mu);
            return rc;
        }
        s = pick_slot(st);
        if (s < 0) { /* every slot busy: lend a one-off descriptor */
            pthread_mutex_unlock(&st->mu);
            ref->fd = fd;
            ref->slot = -2;
            return 0;
        }
        st->slots[s] = (sh_st_slot){.fd = fd, .file = f, .pins = 0, .used = 0};
        st->slot_of[f] = s;
    }
    st->slots[s].pins++;
    st->slots[s].used = ++st->tick;
    ref->fd = st->slots[s].fd;
    ref->slot = s;
    pthread_mutex_unlock(&st->mu);
    return 0;
}

void sh_st_put(sh_storage *st, sh_st_ref *ref)
{
    if (ref->slot == -2) {
        close(ref->fd);
    } else if (ref->slot >= 0) {
        pthread_mutex_lock(&st->mu);
        st->slots[ref->slot].pins--;
        pthread_mutex_unlock(&st->mu);
    }
    ref->fd = -1;
}
