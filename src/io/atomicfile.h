/*
 * atomicfile.h — write a file so that readers see the old content or the
 * whole new content, never a part.
 *
 * The data goes to "<path>.tmp.<pid>" in the same directory (so the final
 * rename cannot cross filesystems), is fsync'd, then renamed onto path; the
 * directory is fsync'd so the rename survives a crash. Without `replace`,
 * an existing path is never overwritten, even one created by someone else
 * while we were working (RENAME_NOREPLACE, or link(2) where unsupported).
 * Every failure path removes the temporary file; it must never leave one.
 */
#ifndef SHOAL_IO_ATOMICFILE_H
#define SHOAL_IO_ATOMICFILE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sh_atomicfile {
    int fd;     /* -1 when not open */
    char *path; /* final path */
    char *tmp;  /* temporary path */
} sh_atomicfile;

/*
 * Creates the temporary file now, so an unwritable destination is known
 * before any long work. 0, SH_EIO (*err_no), SH_ENOMEM.
 */
int sh_atomicfile_open(sh_atomicfile *af, const char *path, int *err_no);

/*
 * Writes data, syncs, and moves the file into place; af is closed either
 * way. 0; SH_EEXIST if path exists and !replace; SH_EIO (*err_no).
 */
int sh_atomicfile_commit(sh_atomicfile *af, const void *data, size_t len, bool replace,
                         int *err_no);

/* Closes and removes the temporary file, if still there. Safe to repeat. */
void sh_atomicfile_abort(sh_atomicfile *af);

#endif
