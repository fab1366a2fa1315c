/*
 * error.h — shoal's error codes.
 *
 * Every fallible function returns int: 0 on success or a negative SH_E* code,
 * and fills its out-parameters only on success. sh_strerror() turns a code
 * into a short English phrase. Codes are stable: they appear in logs and in
 * --json output. This module must never allocate or fail.
 */
#ifndef SHOAL_ERROR_H
#define SHOAL_ERROR_H

#include <stddef.h>

enum {
    SH_OK = 0,
    SH_ENOMEM = -1,      /* out of memory */
    SH_EINVAL = -2,      /* invalid argument (a caller's mistake) */
    SH_EBENCODE = -3,    /* malformed bencode */
    SH_ELIMIT = -4,      /* input exceeds a configured bound (size, depth, count) */
    SH_EMETAINFO = -5,   /* bencode is well-formed but not a valid torrent */
    SH_EPATH = -6,       /* unsafe or invalid file path in metainfo */
    SH_EIO = -7,         /* an I/O operation failed (driver side only) */
    SH_EPROTO = -8,      /* peer violated the wire protocol */
    SH_EHASH = -9,       /* data does not match its hash */
    SH_ERANGE = -10,     /* index, offset or length out of range */
    SH_ENOTFOUND = -11,  /* no such item */
    SH_EUNSUPPORTED = -12, /* valid but not supported by shoal */
    SH_ETIMEOUT = -13,   /* a deadline passed */
    SH_EAGAIN = -14,     /* try again later (would block / need more input) */
    SH_ECLOSED = -15,    /* connection or object already closed */
    SH_EEXIST = -16,     /* already exists */
    SH_ETRACKER = -17,   /* tracker answered with a failure */
    SH_EKRPC = -18,      /* malformed or unexpected DHT message */
    SH_EUSAGE = -19,     /* bad command-line usage */
};

/* A short, static, human-readable message for a code. Never NULL. */
const char *sh_strerror(int code);

/* A stable identifier for a code, e.g. "EBENCODE" (for JSON and metrics). */
const char *sh_errname(int code);

/*
 * Detail for errors on untrusted input: which rule was broken and where.
 * Filled by parsers that accept an optional sh_errinfo *; may be NULL.
 */
typedef struct sh_errinfo {
    char msg[256];  /* e.g. "info.piece length must be positive" */
    size_t offset;  /* byte offset in the input where the problem was found, if known */
} sh_errinfo;

/* printf-style helper used by parsers; safe with NULL ei. Returns code. */
int sh_errinfo_set(sh_errinfo *ei, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
