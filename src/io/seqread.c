/* seqread.c — mapped (or read(2)) sequential file streaming (see seqread.h). */
#include "io/seqread.h"

#include <shoal/error.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WINDOW (64u << 20) /* mapping unit: big enough that map/unmap cost nothing */
#define READ_BUF (1u << 20)

/* The jump target of the mapped read running on this thread, if any. */
static _Thread_local sigjmp_buf *volatile bus_target;

/* The SIGBUS disposition we replaced, for faults that are not ours. */
static struct sigaction prev_bus;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    if (bus_target) siglongjmp(*bus_target, 1);
    if ((prev_bus.sa_flags & SA_SIGINFO) && prev_bus.sa_sigaction) {
        prev_bus.sa_sigaction(sig, si, uc);
    } else if (prev_bus.sa_handler != SIG_DFL && prev_bus.sa_handler != SIG_IGN &&
               prev_bus.sa_handler != NULL) {
        prev_bus.sa_handler(sig);
    } else {
        /* Restore the default so the re-executed access kills us as it should. */
        signal(sig, SIG_DFL);
    }
}

/*
 * (Re)installs the handler at every run, because a test framework or a
 * library may have replaced it since; whatever was there is kept for chaining.
 */
static void install_handler(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &old) == 0 && old.sa_sigaction != on_sigbus) prev_bus = old;
}

static int set_errno(int *err_no, int e)
{
    if (err_no) *err_no = e;
    return SH_EIO;
}

static int run_read(int fd, uint64_t len, size_t chunk, sh_seqread_fn fn, void *ud, int *err_no)
{
    size_t cap = chunk < READ_BUF ? READ_BUF : chunk;
    uint8_t *buf = malloc(cap);
    if (!buf) return SH_ENOMEM;
    int rc = 0;
    for (uint64_t off = 0; off < len && rc == 0;) {
        size_t want = len - off < cap ? (size_t)(len - off) : cap;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = set_errno(err_no, errno);
            break;
        }
        if (r == 0) {
            rc = SH_ERANGE;
            break;
        }
        for (size_t o = 0; o < (size_t)r && rc == 0; o += chunk)
            rc = fn(ud, buf + o, (size_t)r - o < chunk ? (size_t)r - o : chunk);
        off += (uint64_t)r;
    }
    free(buf);
    return rc;
}

/* Feeds one mapped window; SIGBUS inside (file truncated) becomes SH_ERANGE. */
static int feed_window(const uint8_t *p, size_t n, size_t chunk, sh_seqread_fn fn, void *ud)
{
    sigjmp_buf jb;
    volatile int rc = 0;
    if (sigsetjmp(jb, 1)) {
        bus_target = NULL;
        return SH_ERANGE;
    }
    bus_target = &jb;
    for (size_t o = 0; o < n && rc == 0; o += chunk)
        rc = fn(ud, p + o, n - o < chunk ? n - o : chunk);
    bus_target = NULL;
    return rc;
}

/* Sets *refused (and returns 0) if mapping fails at the first window: the caller falls back. */
static int run_mmap(int fd, uint64_t len, size_t chunk, sh_seqread_fn fn, void *ud, int *err_no,
                    bool *refused)
{
    install_handler();
    for (uint64_t off = 0; off < len;) {
        size_t n = len - off < WINDOW ? (size_t)(len - off) : WINDOW;
        void *p = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, (off_t)off);
        if (p == MAP_FAILED) {
            if (off == 0 && (errno == ENODEV || errno == EACCES || errno == EINVAL)) {
                *refused = true;
                return 0;
            }
            return set_errno(err_no, errno);
        }
        (void)madvise(p, n, MADV_SEQUENTIAL);
        if (len - off > n) /* start reading the next window from disk now */
            (void)posix_fadvise(fd, (off_t)(off + n), WINDOW, POSIX_FADV_WILLNEED);
        int rc = feed_window(p, n, chunk, fn, ud);
        munmap(p, n);
        if (rc) return rc;
        off += n;
    }
    return 0;
}

int sh_seqread(int fd, uint64_t len, size_t chunk, unsigned flags, sh_seqread_fn fn, void *ud,
               int *err_no)
{
    if (err_no) *err_no = 0;
    if (chunk == 0 || len > (uint64_t)INT64_MAX) return SH_EINVAL;
    if (len == 0) return 0;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!(flags & SH_SEQREAD_NO_MMAP)) {
        bool refused = false;
        int rc = run_mmap(fd, len, chunk, fn, ud, err_no, &refused);
        if (!refused) return rc;
    }
    return run_read(fd, len, chunk, fn, ud, err_no);
}
