/*
 * fswalk.h — list the regular files under a path, for `shoal create`.
 *
 * A directory is walked recursively; the result is every regular file with
 * its '/'-joined path relative to the root, its size and its executable bit,
 * sorted by path (byte order) so the same tree always gives the same list.
 *
 * Policy on what a tree may hold, chosen so a torrent never describes
 * anything outside the directory given and never depends on its host:
 *  - the root itself may be a symlink (it is what the user named);
 *  - symlinks inside the tree are skipped, with a warning through the
 *    caller's callback: following them could leave the tree or loop;
 *  - special files (FIFOs, sockets, devices) are an error: reading one could
 *    block forever or produce unbounded data;
 *  - a file listed in `exclude` (device + inode) is skipped silently; the
 *    caller uses it for the output .torrent when it lies inside the tree.
 * Bounded: depth, file count, path length (SH_META_* limits).
 * It never reads file contents.
 */
#ifndef SHOAL_IO_FSWALK_H
#define SHOAL_IO_FSWALK_H

#include <shoal/metainfo.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct sh_fsentry {
    char *relpath; /* '/'-joined, relative to the root; "" when the root is a file */
    uint64_t size;
    bool executable; /* any x bit set */
    dev_t dev;       /* identity at walk time, to detect a file replaced later */
    ino_t ino;
} sh_fsentry;

typedef struct sh_fslist {
    sh_fsentry *files;
    uint32_t count;
    uint64_t total; /* sum of sizes */
    bool root_is_dir;
} sh_fslist;

/* Called for each skipped symlink (path as root + '/' + relpath). */
typedef void (*sh_fswalk_warn_fn)(void *ud, const char *path, const char *why);

typedef struct sh_fswalk_opts {
    sh_fswalk_warn_fn warn; /* may be NULL */
    void *ud;
    bool have_exclude;
    dev_t exclude_dev;
    ino_t exclude_ino;
} sh_fswalk_opts;

/*
 * Walks root. On success fills *out (free with sh_fslist_free); an empty
 * directory gives count == 0 (the caller decides whether that is an error).
 * On failure returns SH_EIO (*err_no = errno), SH_EUNSUPPORTED for a special
 * file, SH_ELIMIT for a bound, SH_ENOMEM; errpath (if not NULL, size
 * errpath_len) receives the path the problem is about.
 */
int sh_fswalk(const char *root, const sh_fswalk_opts *opts, sh_fslist *out, int *err_no,
              char *errpath, size_t errpath_len);

void sh_fslist_free(sh_fslist *l);

#endif
