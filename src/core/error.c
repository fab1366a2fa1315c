/* error.c — messages and names for SH_E* codes. */
#include <shoal/error.h>

#include <stdarg.h>
#include <stdio.h>

static const struct {
    int code;
    const char *name;
    const char *msg;
} table[] = {
    {SH_OK, "OK", "success"},
    {SH_ENOMEM, "ENOMEM", "out of memory"},
    {SH_EINVAL, "EINVAL", "invalid argument"},
    {SH_EBENCODE, "EBENCODE", "malformed bencode"},
    {SH_ELIMIT, "ELIMIT", "input exceeds a limit"},
    {SH_EMETAINFO, "EMETAINFO", "invalid torrent metainfo"},
    {SH_EPATH, "EPATH", "unsafe or invalid path"},
    {SH_EIO, "EIO", "input/output error"},
    {SH_EPROTO, "EPROTO", "protocol violation"},
    {SH_EHASH, "EHASH", "hash mismatch"},
    {SH_ERANGE, "ERANGE", "out of range"},
    {SH_ENOTFOUND, "ENOTFOUND", "not found"},
    {SH_EUNSUPPORTED, "EUNSUPPORTED", "not supported"},
    {SH_ETIMEOUT, "ETIMEOUT", "timed out"},
    {SH_EAGAIN, "EAGAIN", "try again"},
    {SH_ECLOSED, "ECLOSED", "closed"},
    {SH_EEXIST, "EEXIST", "already exists"},
    {SH_ETRACKER, "ETRACKER", "tracker failure"},
    {SH_EKRPC, "EKRPC", "malformed DHT message"},
    {SH_EUSAGE, "EUSAGE", "bad usage"},
};

const char *sh_strerror(int code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == code) return table[i].msg;
    return "unknown error";
}

const char *sh_errname(int code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == code) return table[i].name;
    return "EUNKNOWN";
}

int sh_errinfo_set(sh_errinfo *ei, int code, size_t offset, const char *fmt, ...)
{
    if (!ei) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ei->msg, sizeof ei->msg, fmt, ap);
    va_end(ap);
    ei->offset = offset;
    return code;
}
