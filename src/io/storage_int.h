/*
 * storage_int.h — what the storage files share privately: the object, the
 * symlink-refusing path walk, and the per-file descriptor table.
 *
 * Descriptors: with at most SH_ST_DIRECT_MAX data files every file stays
 * open for the storage's lifetime and the table is immutable after open, so
 * threads use it without a lock. Above that, files are reopened on demand
 * (always through the same no-symlink walk from the root directory fd, which
 * stays valid across the final rename) into a small LRU cache under a mutex;
 * an entry in use is pinned so another thread never sees it closed.
 */
#ifndef SHOAL_IO_STORAGE_INT_H
#define SHOAL_IO_STORAGE_INT_H

#include "io/storage.h"

#include <pthread.h>

#define SH_ST_DIRECT_MAX 512u /* data files kept open for the whole lifetime */
#define SH_ST_LRU_SLOTS 64u   /* open descriptors in lazy mode */

typedef struct sh_st_slot {
    int fd;        /* -1: free */
    uint32_t file; /* index into mi->files */
    uint32_t pins; /* users right now; never evicted while > 0 */
    uint64_t used; /* LRU tick */
} sh_st_slot;

struct sh_storage {
    const sh_metainfo *mi;
    bool seeding;
    bool writable;
    bool is_final;
    int outfd;       /* download: the output directory (rename, fsync); else -1 */
    int rootfd;      /* multi-file: the top directory of the data; else -1 */
    uint32_t single; /* single-file: index of the data file in mi->files */
    char *path;      /* where the data is now */
    char *final_path;
    char *part_name; /* component names inside outfd */
    char *final_name;
    int *fds;  /* direct mode: per file, -1 for pads and empty files */
    bool lazy; /* LRU mode */
    pthread_mutex_t mu;
    sh_st_slot slots[SH_ST_LRU_SLOTS];
    int32_t *slot_of; /* lazy mode: per file, its slot or -1 */
    uint64_t tick;
};

/* A borrowed descriptor: give it back with sh_st_put. */
typedef struct sh_st_ref {
    int fd;
    int slot; /* >= 0: pinned cache slot; -1: table fd; -2: temporary, closed on put */
} sh_st_ref;

/*
 * Opens the directory named by the first len bytes of reldir under dirfd,
 * one component at a time with O_NOFOLLOW (creating them, 0755, if create);
 * len == 0 gives a duplicate of dirfd. Errors as sh_st_open_under.
 */
int sh_st_open_dir(int dirfd, const char *reldir, size_t len, bool create, int *fd_out,
                   const char **why, int *err_no);

/*
 * Opens relpath ('/'-separated, validated) under dirfd one component at a
 * time with O_NOFOLLOW, creating directories (0755) and the file (mode) if
 * create. The file is opened with accmode (O_RDONLY / O_RDWR) and must be
 * a regular file. On failure returns SH_ENOTFOUND (missing) or SH_EIO with
 * a reason in why (static text) and errno-derived detail in *err_no.
 */
int sh_st_open_under(int dirfd, const char *relpath, bool create, int accmode, mode_t mode,
                     int *fd_out, const char **why, int *err_no);

/* Borrow the descriptor of data file f. 0 or SH_EIO. */
int sh_st_get(sh_storage *st, uint32_t f, sh_st_ref *ref);
void sh_st_put(sh_storage *st, sh_st_ref *ref);

/* Sets up the table (direct or lazy by file count) and closes it. */
int sh_st_fds_init(sh_storage *st);
void sh_st_fds_close(sh_storage *st);

/* True if file f holds bytes on disk (not a pad, not empty). */
static inline bool sh_st_has_data(const sh_file *f)
{
    return !f->pad && f->length > 0;
}

#endif
