/*
 * readfile.h — read a whole file into memory, bounded.
 *
 * For inputs that are parsed as a whole (a .torrent, a resume file). The
 * bound is checked while reading, not only against st_size, so a file that
 * grows, a FIFO or /dev/zero cannot make us allocate more than max bytes.
 * It must never follow the caller's trust: the bytes returned are hostile.
 */
#ifndef SHOAL_IO_READFILE_H
#define SHOAL_IO_READFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads path into a malloc'd buffer (*out, *len; *out is NUL-terminated one
 * byte past *len for convenience, and never NULL on success).
 * Returns 0, SH_ELIMIT if the file holds more than max bytes, SH_EIO on an
 * open/read error (*err_no says which errno; EISDIR for a directory), or
 * SH_ENOMEM. err_no may be NULL; it is set to 0 when the error is not errno's.
 */
int sh_readfile(const char *path, size_t max, uint8_t **out, size_t *len, int *err_no);

#endif
