/*
 * cmd_info.c — `shoal info`: load a .torrent with the strict loader and show
 * what it describes, for people or (--json) for programs.
 *
 * Everything printed comes from a hostile file: strings are escaped for the
 * terminal, made valid UTF-8 for JSON, and nothing reaches stdout unless the
 * whole torrent loaded.
 */
#include "cli/cli.h"
#include "io/readfile.h"

#include <shoal/metainfo.h>

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "info"

typedef struct info_args {
    const char *path;
    bool json;
    bool pads;
} info_args;

static void usage(FILE *f)
{
    fprintf(f, "usage: shoal info [options] TORRENT\n"
               "\n"
               "Show what a .torrent describes: name, size, pieces, version, info-hashes,\n"
               "trackers, web seeds, files and magnet link.\n"
               "\n"
               "options:\n"
               "      --json            print one JSON object instead of text\n"
               "      --pads            also list BEP 47 pad files (hidden by default)\n"
               "      --log-level L     error, warn (default), info, debug, trace\n"
               "  -h, --help            show this help\n"
               "\n"
               "File paths are relative to the download directory: for a directory\n"
               "torrent they start with its name.\n"
               "exit status: 0 shown; 2 bad usage, or TORRENT missing, unreadable (permission),\n"
               "a directory, too large or invalid; 1 any other I/O error.\n");
}

/* Returns -1 to continue, or an exit code. */
static int parse_args(int argc, char **argv, info_args *a)
{
    enum { O_JSON = 256, O_PADS, O_LOG };
    static const struct option opts[] = {
        {"json", no_argument, NULL, O_JSON},
        {"pads", no_argument, NULL, O_PADS},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case O_JSON:
            a->json = true;
            break;
        case O_PADS:
            a->pads = true;
            break;
        case O_LOG:
            if (cli_set_log_level(optarg))
                return cli_usage_error(CMD, "unknown --log-level '%s'", optarg);
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case ':':
            return cli_usage_error(CMD, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage_error(CMD, "missing TORRENT");
    if (optind + 1 < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
    a->path = argv[optind];
    return -1;
}

static int load(const char *path, sh_metainfo **mi)
{
    uint8_t *buf;
    size_t len;
    int e;
    int rc = sh_readfile(path, SH_META_MAX_TORRENT, &buf, &len, &e);
    if (rc == SH_ELIMIT)
        return cli_cmd_error(EXIT_USAGE, CMD, "%s: larger than %u MiB, not a torrent", path,
                             SH_META_MAX_TORRENT >> 20);
    if (rc == SH_EIO) {
        bool input = e == ENOENT || e == EACCES || e == EPERM || e == EISDIR || e == ENOTDIR ||
                     e == ELOOP || e == ENAMETOOLONG;
        return cli_cmd_error(input ? EXIT_USAGE : EXIT_FAIL, CMD, "%s: %s", path, strerror(e));
    }
    if (rc) return cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", path, sh_strerror(rc));
    sh_errinfo ei = {0};
    rc = sh_metainfo_parse(buf, len, mi, &ei);
    free(buf);
    if (rc == SH_ENOMEM) return cli_cmd_error(EXIT_FAIL, CMD, "%s: out of memory", path);
    if (rc)
        return cli_cmd_error(EXIT_USAGE, CMD, "%s: %s", path, ei.msg[0] ? ei.msg : sh_strerror(rc));
    return 0;
}

static const char *version_name(unsigned v)
{
    return v == SH_META_HYBRID ? "hybrid" : v == SH_META_V2 ? "v2" : "v1";
}

/* ISO 8601 UTC; false if the date does not fit a calendar. */
static bool fmt_date(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if ((int64_t)tt != t || !gmtime_r(&tt, &tm)) return false;
    return strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0;
}

/* The path a file takes under the download directory (malloc'd). */
static char *file_path(const sh_metainfo *mi, const sh_file *f)
{
    if (mi->single_file) return strdup(f->path);
    size_t n = strlen(mi->name) + 1 + strlen(f->path) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", mi->name, f->path);
    return p;
}

/* ---- text ---- */

static void field(const char *label, const char *value)
{
    printf("%-14s", label);
    if (value)
        cli_fputs_safe(stdout, value);
    else
        fputs("-", stdout);
    putchar('\n');
}

static void print_trackers(const sh_metainfo *mi)
{
    if (!mi->num_tiers)
        field("trackers:", NULL);
    else
        printf("trackers:\n");
    for (uint32_t t = 0; t < mi->num_tiers; t++) {
        for (uint32_t u = 0; u < mi->tiers[t].count; u++) {
            printf("  tier %-3u    ", t + 1);
            cli_fputs_safe(stdout, mi->tiers[t].urls[u]);
            putchar('\n');
        }
    }
    if (!mi->num_web_seeds)
        field("web seeds:", NULL);
    else
        printf("web seeds:\n");
    for (uint32_t w = 0; w < mi->num_web_seeds; w++) {
        printf("  ");
        cli_fputs_safe(stdout, mi->web_seeds[w]);
        putchar('\n');
    }
}

static int print_files(const sh_metainfo *mi, bool pads)
{
    uint32_t shown = 0;
    for (uint32_t i = 0; i < mi->num_files; i++)
        shown += pads || !mi->files[i].pad;
    printf("files:        %u\n", shown);
    for (uint32_t i = 0; i < mi->num_files; i++) {
        const sh_file *f = &mi->files[i];
        if (f->pad && !pads) continue;
        char *p = file_path(mi, f);
        if (!p) return -1;
        printf("  %15llu  ", (unsigned long long)f->length);
        cli_fputs_safe(stdout, p);
        puts(f->pad ? "  (pad)" : "");
        free(p);
    }
    return 0;
}

static int print_text(const sh_metainfo *mi, bool pads)
{
    char b[64], hex[65], date[40];
    field("name:", mi->name);
    printf("%-14s%s (%llu bytes)\n", "size:", cli_fmt_bytes((double)mi->content_size, b, sizeof b),
           (unsigned long long)mi->content_size);
    printf("%-14s%s (%llu bytes)\n",
           "piece size:", cli_fmt_bytes((double)mi->piece_length, b, sizeof b),
           (unsigned long long)mi->piece_length);
    printf("%-14s%u\n", "pieces:", mi->num_pieces);
    printf("%-14s%s\n", "version:", version_name(mi->version));
    field("info hash v1:", mi->version & SH_META_V1 ? sh_hex(mi->info_hash_v1, 20, hex) : NULL);
    field("info hash v2:", mi->version & SH_META_V2 ? sh_hex(mi->info_hash_v2, 32, hex) : NULL);
    printf("%-14s%s\n", "private:", mi->is_private ? "yes" : "no");
    print_trackers(mi);
    field("comment:", mi->comment);
    field("created by:", mi->created_by);
    if (mi->creation_date && fmt_date(mi->creation_date, date, sizeof date))
        field("created:", date);
    else if (mi->creation_date)
        printf("%-14s%lld\n", "created:", (long long)mi->creation_date);
    else
        field("created:", NULL);
    if (print_files(mi, pads)) return -1;
    char *magnet = sh_metainfo_magnet(mi);
    if (!magnet) return -1;
    field("magnet:", magnet);
    free(magnet);
    return 0;
}

/* ---- JSON ---- */

/* A JSON string from hostile text (never fails on bad UTF-8); NULL text gives null. */
static json_t *jstr(const char *s)
{
    if (!s) return json_null();
    json_t *j = json_string(s);
    if (j) return j;
    char *fixed = cli_utf8_lossy(s);
    j = fixed ? json_string(fixed) : NULL;
    free(fixed);
    return j;
}

/* Adds v to obj under key, taking v's reference; false if v is NULL (OOM). */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

static json_t *json_trackers(const sh_metainfo *mi)
{
    json_t *tiers = json_array();
    for (uint32_t t = 0; tiers && t < mi->num_tiers; t++) {
        json_t *tier = json_array();
        for (uint32_t u = 0; tier && u < mi->tiers[t].count; u++)
            if (json_array_append_new(tier, jstr(mi->tiers[t].urls[u])))
                json_decref(tier), tier = NULL;
        if (!tier || json_array_append_new(tiers, tier)) json_decref(tiers), tiers = NULL;
    }
    return tiers;
}

static json_t *json_web_seeds(const sh_metainfo *mi)
{
    json_t *a = json_array();
    for (uint32_t w = 0; a && w < mi->num_web_seeds; w++)
        if (json_array_append_new(a, jstr(mi->web_seeds[w]))) json_decref(a), a = NULL;
    return a;
}

static json_t *json_file(const sh_metainfo *mi, const sh_file *f, bool pads)
{
    char *p = file_path(mi, f);
    json_t *o = p ? json_object() : NULL;
    bool ok = o && put(o, "path", jstr(p)) && put(o, "size", json_integer((json_int_t)f->length)) &&
              (!pads || put(o, "pad", json_boolean(f->pad)));
    free(p);
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

static json_t *json_files(const sh_metainfo *mi, bool pads)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < mi->num_files; i++) {
        if (mi->files[i].pad && !pads) continue;
        if (json_array_append_new(a, json_file(mi, &mi->files[i], pads))) json_decref(a), a = NULL;
    }
    return a;
}

static json_t *json_hex(bool valid, const uint8_t *p, size_t n)
{
    char hex[65];
    return valid ? json_string(sh_hex(p, n, hex)) : json_null();
}

static json_t *json_date(int64_t t)
{
    char date[40];
    if (!t) return json_null();
    return fmt_date(t, date, sizeof date) ? json_string(date) : json_integer((json_int_t)t);
}

static json_t *json_info(const sh_metainfo *mi, bool pads)
{
    json_t *o = json_object();
    char *magnet = sh_metainfo_magnet(mi);
    bool ok = o && magnet && put(o, "name", jstr(mi->name)) &&
              put(o, "size", json_integer((json_int_t)mi->content_size)) &&
              put(o, "piece_length", json_integer((json_int_t)mi->piece_length)) &&
              put(o, "num_pieces", json_integer(mi->num_pieces)) &&
              put(o, "version", json_string(version_name(mi->version))) &&
              put(o, "info_hash_v1", json_hex(mi->version & SH_META_V1, mi->info_hash_v1, 20)) &&
              put(o, "info_hash_v2", json_hex(mi->version & SH_META_V2, mi->info_hash_v2, 32)) &&
              put(o, "private", json_boolean(mi->is_private)) &&
              put(o, "trackers", json_trackers(mi)) && put(o, "web_seeds", json_web_seeds(mi)) &&
              put(o, "comment", jstr(mi->comment)) && put(o, "created_by", jstr(mi->created_by)) &&
              put(o, "creation_date", json_date(mi->creation_date)) &&
              put(o, "files", json_files(mi, pads)) && put(o, "magnet", jstr(magnet));
    free(magnet);
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

static int print_json(const sh_metainfo *mi, bool pads)
{
    json_t *o = json_info(mi, pads);
    if (!o) return -1;
    int rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (rc == 0) putchar('\n');
    return rc;
}

int cmd_info(int argc, char **argv)
{
    info_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    sh_metainfo *mi;
    if ((rc = load(a.path, &mi))) return rc;
    rc = a.json ? print_json(mi, a.pads) : print_text(mi, a.pads);
    sh_metainfo_free(mi);
    if (rc) return cli_cmd_error(EXIT_FAIL, CMD, "out of memory");
    if (fflush(stdout) || ferror(stdout))
        return cli_cmd_error(EXIT_FAIL, CMD, "writing to stdout: %s", strerror(errno));
    return EXIT_OK;
}
