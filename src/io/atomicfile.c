/* atomicfile.c — temp file, fsync, rename (see atomicfile.h). */
#include "io/atomicfile.h"

#include <shoal/error.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int io_error(int *err_no, int e)
{
    if (err_no) *err_no = e;
    return SH_EIO;
}

int sh_atomicfile_open(sh_atomicfile *af, const char *path, int *err_no)
{
    *af = (sh_atomicfile){.fd = -1};
    if (err_no) *err_no = 0;
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp = malloc(n);
    if (!af->path || !af->tmp) {
        sh_atomicfile_abort(af);
        return SH_ENOMEM;
    }
    snprintf(af->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    af->fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (af->fd < 0) {
        int e = errno;
        free(af->tmp); /* not ours to unlink: O_EXCL failed or nothing was made */
        af->tmp = NULL;
        sh_atomicfile_abort(af);
        return io_error(err_no, e);
    }
    return 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) return;
    (void)fsync(fd); /* best effort: the file's own data is already durable */
    close(fd);
}

static int move_into_place(const sh_atomicfile *af, bool replace)
{
    if (replace) return rename(af->tmp, af->path);
    int r = renameat2(AT_FDCWD, af->tmp, AT_FDCWD, af->path, RENAME_NOREPLACE);
    if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
        /* No NOREPLACE on this filesystem: link(2) also refuses an existing name. */
        r = link(af->tmp, af->path);
        if (r == 0) unlink(af->tmp);
    }
    return r;
}

int sh_atomicfile_commit(sh_atomicfile *af, const void *data, size_t len, bool replace, int *err_no)
{
    if (err_no) *err_no = 0;
    if (af->fd < 0) return SH_EINVAL;
    int rc = 0;
    if (write_all(af->fd, data, len) || fsync(af->fd)) rc = io_error(err_no, errno);
    int fd = af->fd;
    af->fd = -1;
    if (close(fd) && !rc) rc = io_error(err_no, errno);
    if (!rc && move_into_place(af, replace) < 0)
        rc = errno == EEXIST ? SH_EEXIST : io_error(err_no, errno);
    if (rc) {
        sh_atomicfile_abort(af);
        return rc;
    }
    fsync_dir_of(af->path);
    free(af->tmp);
    af->tmp = NULL;
    sh_atomicfile_abort(af);
    return 0;
}

void sh_atomicfile_abort(sh_atomicfile *af)
{
    if (af->fd >= 0) close(af->fd);
    af->fd = -1;
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    free(af->path);
    af->tmp = NULL;
    af->path = NULL;
}
