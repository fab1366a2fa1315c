/* readfile.c — bounded whole-file read (see readfile.h). */
#include "io/readfile.h"

#include <shoal/error.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(int code, int e, int *err_no)
{
    if (err_no) *err_no = e;
    return code;
}

/* Grows buf to at least need bytes (+1 for the NUL), never past max + 2. */
static int grow(uint8_t **buf, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
    if (ncap > max + 2) ncap = max + 2;
    uint8_t *p = realloc(*buf, ncap);
    if (!p) return SH_ENOMEM;
    *buf = p;
    *cap = ncap;
    return 0;
}

static int read_all(int fd, size_t max, size_t hint, uint8_t **out, size_t *len, int *err_no)
{
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    /* Read up to max + 1 bytes: one byte beyond the bound proves it too big. */
    if (grow(&buf, &cap, (hint < max ? hint : max) + 2, max)) return fail(SH_ENOMEM, 0, err_no);
    for (;;) {
        if (n == cap - 1 && grow(&buf, &cap, cap + 1, max)) {
            free(buf);
            return fail(SH_ENOMEM, 0, err_no);
        }
        size_t room = cap - 1 - n;
        if (room == 0) break; /* n == max + 1 */
        ssize_t r = read(fd, buf + n, room);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return fail(SH_EIO, e, err_no);
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (n > max) {
        free(buf);
        return fail(SH_ELIMIT, 0, err_no);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int sh_readfile(const char *path, size_t max, uint8_t **out, size_t *len, int *err_no)
{
    if (max > SIZE_MAX - 2) max = SIZE_MAX - 2;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail(SH_EIO, errno, err_no);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fail(SH_EIO, e, err_no);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return fail(SH_EIO, EISDIR, err_no);
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        close(fd);
        return fail(SH_ELIMIT, 0, err_no);
    }
    size_t hint = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
    int rc = read_all(fd, max, hint, out, len, err_no);
    close(fd);
    if (rc == 0 && err_no) *err_no = 0;
    return rc;
}
