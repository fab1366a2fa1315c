/*
 * storage.h — a torrent's files on disk, addressed by piece.
 *
 * Maps the piece space (include/shoal/metainfo.h) onto real files: pads read
 * as zeros and are never written; a block that spans two files is split.
 * Seeding opens the existing data read-only at the path the torrent was made
 * from. Downloading creates <out_dir>/<name>.part — a sparse file of the
 * full size, or a directory tree of them — and sh_storage_finalize renames
 * it to <out_dir>/<name> once every piece is in: fsync first, then rename,
 * then fsync the directory, so a crash leaves either the .part or the
 * complete output, never a half-named one.
 *
 * Reads, writes and sendfile use explicit offsets (pread/pwrite/sendfile
 * with an offset), so a hasher thread may write while the loop thread
 * serves uploads. Paths come from a validated metainfo; storage still
 * refuses to follow a symlink out of its root when creating files.
 */
#ifndef SHOAL_IO_STORAGE_H
#define SHOAL_IO_STORAGE_H

#include <shoal/error.h>
#include <shoal/metainfo.h>
#include <sys/types.h>

typedef struct sh_storage sh_storage;

/*
 * Seeding: path is the file (single-file torrent) or the directory the
 * torrent was made from; every file must exist with the right size (else
 * SH_ENOTFOUND / SH_EIO naming the file in ei). Downloading: path is the
 * output directory; if <path>/<name> already exists it is opened as the data
 * (complete = true, nothing is renamed later); otherwise the .part is
 * created or reopened (resume).
 */
int sh_storage_open(const sh_metainfo *mi, const char *path, bool seeding, sh_storage **out,
                    sh_errinfo *ei);
void sh_storage_close(sh_storage *st);

/* len bytes of piece at offset into buf. 0 or SH_EIO / SH_ERANGE. */
int sh_storage_read(sh_storage *st, uint32_t piece, uint32_t offset, uint8_t *buf, uint32_t len);
/* A whole verified piece. 0 or SH_EIO / SH_ERANGE. */
int sh_storage_write_piece(sh_storage *st, uint32_t piece, const uint8_t *data, uint32_t len);

/*
 * Sends up to len bytes of piece at offset on a non-blocking socket,
 * with sendfile(2) (zeros for pads from a static buffer). Returns the bytes
 * sent (possibly fewer than len; 0 means the socket would block), or a
 * negative SH_EIO / SH_ECLOSED.
 */
ssize_t sh_storage_sendfile(sh_storage *st, int sock, uint32_t piece, uint32_t offset,
                            uint32_t len);

/* Download complete: flush, rename .part to the final name, flush the directory. */
int sh_storage_finalize(sh_storage *st, sh_errinfo *ei);

/* Where the data is now (the .part path until finalized). */
const char *sh_storage_path(const sh_storage *st);
/* The name the complete output has (or will have). */
const char *sh_storage_final_path(const sh_storage *st);
/* True if the data was already under its final name when opened, or finalized. */
bool sh_storage_is_final(const sh_storage *st);

#endif
