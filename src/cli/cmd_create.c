/*
 * cmd_create.c — `shoal create`: walk a file or tree, hash it with the pure
 * builder (mkinfo), and write the .torrent atomically.
 *
 * The output is never left half-written: the torrent goes to OUT.tmp.<pid>
 * in OUT's directory, is fsync'd, then renamed over OUT (refusing to replace
 * an existing OUT unless --force). On any error or signal the temp file is
 * removed. Hashing is single-threaded: the builder takes one byte stream,
 * which it reads straight from the page cache (seqread maps the files).
 */
#include "cli/cli.h"
#include "cli/progress.h"
#include "io/clock.h"
#include "io/atomicfile.h"
#include "io/fswalk.h"
#include "io/seqread.h"

#include <shoal/metainfo.h>
#include <shoal/mkinfo.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "create"
#define FEED_CHUNK (4u << 20) /* bytes per builder call: progress and ^C granularity */

typedef struct create_args {
    const char *path;
    const char *out;
    const char *comment;
    const char **trackers;
    uint32_t num_trackers;
    const char **web_seeds;
    uint32_t num_web_seeds;
    uint64_t piece_length; /* 0: automatic */
    unsigned version;
    bool is_private;
    bool no_date;
    bool force;
} create_args;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: shoal create [options] PATH\n"
               "\n"
               "Make a .torrent from a file or a directory (walked recursively).\n"
               "Inside a directory, symlinks are skipped with a warning and special files\n"
               "(FIFOs, sockets, devices) are an error; PATH itself may be a symlink.\n"
               "\n"
               "options:\n"
               "  -o, --output FILE     where to write (default: ./<name>.torrent)\n"
               "  -f, --force           replace FILE if it exists\n"
               "  -t, --tracker URL     announce URL; repeat for more (each its own tier)\n"
               "  -w, --web-seed URL    BEP 19 web seed; repeatable\n"
               "      --piece-size N    bytes, K/M suffixes, 16K..256M: a power of two\n"
               "                        (v1 only: any multiple of 16K)\n"
               "                        (default: the smallest power of two >= 32K that\n"
               "                        gives < 2000 pieces, at most 16M)\n"
               "      --v1 | --v2 | --hybrid   torrent version (default: --hybrid)\n"
               "      --private         set the BEP 27 private flag\n"
               "      --comment TEXT    add a comment\n"
               "      --no-date         omit the creation date (reproducible output)\n"
               "      --log-level L     error, warn (default), info, debug, trace\n"
               "  -h, --help            show this help\n"
               "\n"
               "On success prints the info-hash(es) and the path written.\n"
               "A progress bar is shown on stderr when it is a terminal.\n"
               "exit status: 0 written; 1 I/O failure or interrupted; 2 bad usage, bad input\n"
               "(missing/unreadable PATH, special file, no files) or FILE exists.\n");
}

static int set_version(create_args *a, unsigned v)
{
    if (a->version && a->version != v)
        return cli_usage_error(CMD, "--v1, --v2 and --hybrid are mutually exclusive");
    a->version = v;
    return 0;
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/*
 * v2 needs a power of two (merkle trees over 16 KiB blocks); v1 accepts any
 * multiple of 16 KiB, which is what libtorrent requires of a v1 piece.
 */
static int check_piece_length(const create_args *a)
{
    uint64_t p = a->piece_length;
    if (p == 0) return 0;
    if (p < SH_BLOCK_SIZE || p > SH_META_MAX_PIECE_LENGTH)
        return cli_usage_error(CMD, "--piece-size must be from 16K to 256M, not %llu",
                               (unsigned long long)p);
    if ((a->version & SH_META_V2) && !is_pow2(p))
        return cli_usage_error(CMD,
                               "--piece-size must be a power of two for v2 and hybrid "
                               "torrents, not %llu",
                               (unsigned long long)p);
    if (p % SH_BLOCK_SIZE)
        return cli_usage_error(CMD, "--piece-size must be a multiple of 16K, not %llu",
                               (unsigned long long)p);
    return 0;
}

/* Parses argv into a; returns -1 to continue, or an exit code. */
static int parse_args(int argc, char **argv, create_args *a)
{
    enum { O_PIECE = 256, O_V1, O_V2, O_HYBRID, O_PRIVATE, O_COMMENT, O_NODATE, O_LOG };
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"tracker", required_argument, NULL, 't'},
        {"web-seed", required_argument, NULL, 'w'},
        {"piece-size", required_argument, NULL, O_PIECE},
        {"v1", no_argument, NULL, O_V1},
        {"v2", no_argument, NULL, O_V2},
        {"hybrid", no_argument, NULL, O_HYBRID},
        {"private", no_argument, NULL, O_PRIVATE},
        {"comment", required_argument, NULL, O_COMMENT},
        {"no-date", no_argument, NULL, O_NODATE},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int c, rc;
    while ((c = getopt_long(argc, argv, ":o:ft:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->out = optarg;
            break;
        case 'f':
            a->force = true;
            break;
        case 't':
            a->trackers[a->num_trackers++] = optarg;
            break;
        case 'w':
            a->web_seeds[a->num_web_seeds++] = optarg;
            break;
        case O_PIECE:
            if (cli_parse_size(optarg, &a->piece_length) || a->piece_length == 0)
                return cli_usage_error(CMD, "bad --piece-size '%s'", optarg);
            break;
        case O_V1:
            if ((rc = set_version(a, SH_META_V1))) return rc;
            break;
        case O_V2:
            if ((rc = set_version(a, SH_META_V2))) return rc;
            break;
        case O_HYBRID:
            if ((rc = set_version(a, SH_META_HYBRID))) return rc;
            break;
        case O_PRIVATE:
            a->is_private = true;
            break;
        case O_COMMENT:
            a->comment = optarg;
            break;
        case O_NODATE:
            a->no_date = true;
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
    if (optind >= argc) return cli_usage_error(CMD, "missing PATH");
    if (optind + 1 < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind + 1]);
    a->path = argv[optind];
    if (!*a->path) return cli_usage_error(CMD, "PATH is empty");
    if (a->out && !*a->out) return cli_usage_error(CMD, "--output is empty");
    if (!a->version) a->version = SH_META_HYBRID;
    rc = check_piece_length(a);
    return rc ? rc : -1;
}

/* Exit code for an errno met while reading the user's input. */
static int input_errno_code(int e)
{
    return (e == ENOENT || e == ENOTDIR || e == EACCES || e == EPERM || e == ELOOP ||
            e == ENAMETOOLONG)
               ? EXIT_USAGE
               : EXIT_FAIL;
}

/* The torrent's name: the last component of PATH, resolved ("." and ".." too). */
static int torrent_name(const char *path, char **name)
{
    char *real = realpath(path, NULL);
    if (!real) {
        int e = errno;
        return cli_cmd_error(input_errno_code(e), CMD, "%s: %s", path, strerror(e));
    }
    const char *base = strrchr(real, '/');
    base = base ? base + 1 : real;
    if (!*base) {
        free(real);
        return cli_cmd_error(EXIT_USAGE, CMD, "%s: cannot name a torrent after '/'", path);
    }
    *name = strdup(base);
    free(real);
    return *name ? 0 : cli_cmd_error(EXIT_FAIL, CMD, "out of memory");
}

static void warn_skip(void *ud, const char *path, const char *why)
{
    (void)ud;
    sh_log(&cli_logger, SH_LOG_WARN, CMD, "%s: %s", path, why);
}

static int walk(const create_args *a, const struct stat *out_st, sh_fslist *files)
{
    sh_fswalk_opts wo = {.warn = warn_skip};
    if (out_st) {
        wo.have_exclude = true;
        wo.exclude_dev = out_st->st_dev;
        wo.exclude_ino = out_st->st_ino;
    }
    int e = 0;
    char where[SH_META_MAX_PATH + 64] = "";
    int rc = sh_fswalk(a->path, &wo, files, &e, where, sizeof where);
    switch (rc) {
    case 0:
        break;
    case SH_EIO:
        return cli_cmd_error(input_errno_code(e), CMD, "%s: %s", where, strerror(e));
    case SH_EUNSUPPORTED:
        return cli_cmd_error(EXIT_USAGE, CMD, "%s: not a regular file or directory", where);
    case SH_ELIMIT:
        return cli_cmd_error(EXIT_USAGE, CMD, "%s: too many files, too deep or path too long",
                             where);
    default:
        return cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", where, sh_strerror(rc));
    }
    if (files->count == 0) {
        sh_fslist_free(files);
        return cli_cmd_error(EXIT_USAGE, CMD, "%s: no files to put in a torrent", a->path);
    }
    return 0;
}

static int layout_error(const create_args *a, int rc)
{
    const char *why = rc == SH_EINVAL   ? "nothing to hash: every file is empty"
                      : rc == SH_EPATH  ? "two files have the same path"
                      : rc == SH_ELIMIT ? "too many pieces: use a larger --piece-size"
                                        : sh_strerror(rc);
    return cli_cmd_error(rc == SH_ENOMEM ? EXIT_FAIL : EXIT_USAGE, CMD, "%s: %s", a->path, why);
}

static int builder_new(const create_args *a, const char *name, const sh_fslist *files,
                       sh_mkinfo **out)
{
    sh_mkinfo_opts o = {
        .version = a->version,
        .piece_length = a->piece_length,
        .name = name,
        .is_private = a->is_private,
        .comment = a->comment,
        .created_by = "shoal/" SHOAL_VERSION,
        .creation_date = a->no_date ? 0 : sh_clock_wall(),
        .trackers = a->trackers,
        .num_trackers = a->num_trackers,
        .web_seeds = a->web_seeds,
        .num_web_seeds = a->num_web_seeds,
    };
    sh_mkinfo *m;
    int rc = sh_mkinfo_new(&o, &m);
    if (rc)
        return cli_cmd_error(EXIT_USAGE, CMD, "cannot make a torrent named '%s': %s", name,
                             sh_strerror(rc));
    for (uint32_t i = 0; i < files->count; i++) {
        const sh_fsentry *f = &files->files[i];
        rc = sh_mkinfo_add_file(m, files->root_is_dir ? f->relpath : NULL, f->size, f->executable);
        if (rc) {
            sh_mkinfo_free(m);
            return cli_cmd_error(EXIT_USAGE, CMD, "%s/%s: %s", a->path, f->relpath,
                                 sh_strerror(rc));
        }
    }
    if ((rc = sh_mkinfo_layout(m))) {
        sh_mkinfo_free(m);
        return layout_error(a, rc);
    }
    *out = m;
    return 0;
}

typedef struct hasher {
    const create_args *a;
    const sh_fslist *files;
    sh_mkinfo *m;
    int feed_rc;
    uint64_t done;
    cli_progress bar;
} hasher;

static int cmp_rel(const void *key, const void *elem)
{
    return strcmp(key, ((const sh_fsentry *)elem)->relpath);
}

/* Opens a file of the feed order into *fd and checks it is the file walked. */
static int open_checked(hasher *h, const char *rel, uint64_t len, const char *path, int *fd)
{
    const sh_fslist *fl = h->files;
    const sh_fsentry *e =
        rel ? bsearch(rel, fl->files, fl->count, sizeof *fl->files, cmp_rel) : &fl->files[0];
    if (!e) return cli_cmd_error(EXIT_FAIL, CMD, "%s: not in the walked list", path);
    /* Inside a tree, never follow a symlink that replaced a file since the walk. */
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (rel ? O_NOFOLLOW : 0));
    if (f < 0) {
        int err = errno;
        return cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != e->dev || st.st_ino != e->ino ||
        (uint64_t)st.st_size != len) {
        close(f);
        return cli_cmd_error(EXIT_FAIL, CMD, "%s: changed while the torrent was being made", path);
    }
    *fd = f;
    return 0;
}

/* Called with each chunk of the current file; nonzero stops the file. */
static int feed_chunk(void *ud, const uint8_t *data, size_t n)
{
    hasher *h = ud;
    if (interrupted) return 1;
    if ((h->feed_rc = sh_mkinfo_feed(h->m, data, n))) return 2;
    h->done += n;
    cli_progress_update(&h->bar, h->done, sh_clock_now());
    return 0;
}

/* Streams exactly len bytes of fd into the builder. */
static int feed_file(hasher *h, int fd, uint64_t len, const char *path)
{
    int e = 0;
    int rc = sh_seqread(fd, len, FEED_CHUNK, 0, feed_chunk, h, &e);
    switch (rc) {
    case 0:
        return 0;
    case 1:
        return cli_cmd_error(EXIT_FAIL, CMD, "interrupted");
    case 2:
        return cli_cmd_error(EXIT_FAIL, CMD, "hashing %s: %s", path, sh_strerror(h->feed_rc));
    case SH_ERANGE:
        return cli_cmd_error(EXIT_FAIL, CMD, "%s: shrank while being read", path);
    case SH_EIO:
        return cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", path, strerror(e));
    default:
        return cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", path, sh_strerror(rc));
    }
}

static int hash_all(hasher *h)
{
    uint32_t n = sh_mkinfo_num_files(h->m);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t len;
        const char *rel = sh_mkinfo_file(h->m, k, &len);
        char path[PATH_MAX + SH_META_MAX_PATH + 2];
        snprintf(path, sizeof path, "%s%s%s", h->a->path, rel ? "/" : "", rel ? rel : "");
        int fd = -1, rc = open_checked(h, rel, len, path, &fd);
        if (rc) return rc;
        rc = feed_file(h, fd, len, path);
        close(fd);
        if (rc) return rc;
    }
    return 0;
}

/* Loads what we are about to write: a torrent our own loader rejects is a bug, never output. */
static int self_check(const sh_bbuf *enc, sh_metainfo **mi)
{
    sh_errinfo ei = {0};
    int rc = sh_metainfo_parse(enc->data, enc->len, mi, &ei);
    if (rc)
        return cli_cmd_error(EXIT_FAIL, CMD, "internal error: the torrent made does not load: %s",
                             ei.msg[0] ? ei.msg : sh_strerror(rc));
    return 0;
}

static void print_result(const sh_metainfo *mi, const char *out)
{
    char hex[65];
    if (mi->version & SH_META_V1) printf("info_hash_v1 %s\n", sh_hex(mi->info_hash_v1, 20, hex));
    if (mi->version & SH_META_V2) printf("info_hash_v2 %s\n", sh_hex(mi->info_hash_v2, 32, hex));
    printf("torrent %s\n", out);
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static void log_speed(uint64_t bytes, sh_time t0)
{
    double secs = sh_clock_seconds(sh_clock_now() - t0);
    char sz[32];
    sh_log(&cli_logger, SH_LOG_INFO, CMD, "hashed %s in %.2f s (%.1f MB/s)",
           cli_fmt_bytes((double)bytes, sz, sizeof sz), secs,
           secs > 0 ? (double)bytes / secs / 1e6 : 0.0);
}

/* Feeds every file to the builder and encodes the torrent into enc. */
static int hash_and_encode(const create_args *a, const sh_fslist *files, sh_mkinfo *m, sh_bbuf *enc)
{
    hasher h = {.a = a, .files = files, .m = m};
    sh_time t0 = sh_clock_now();
    cli_progress_start(&h.bar, "hashing", files->total, cli_stderr_is_tty(), t0);
    int rc = hash_all(&h);
    cli_progress_end(&h.bar);
    if (rc) return rc;
    log_speed(files->total, t0);
    int e = sh_mkinfo_finish(m, enc);
    return e ? cli_cmd_error(EXIT_FAIL, CMD, "encoding the torrent: %s", sh_strerror(e)) : 0;
}

/*
 * The temp file is created before hashing so an unwritable destination fails
 * at once, not after an hour; it is removed on every failure and on signals.
 */
static int build_and_write(const create_args *a, const sh_fslist *files, sh_mkinfo *m,
                           const char *out)
{
    catch_signals(); /* first: a ^C from here on must still remove the temp file */
    sh_atomicfile af;
    int e, rc = sh_atomicfile_open(&af, out, &e);
    if (rc == SH_EIO) return cli_cmd_error(input_errno_code(e), CMD, "%s: %s", out, strerror(e));
    if (rc) return cli_cmd_error(EXIT_FAIL, CMD, "%s: %s", out, sh_strerror(rc));
    sh_bbuf enc;
    sh_bbuf_init(&enc);
    sh_metainfo *mi = NULL;
    rc = hash_and_encode(a, files, m, &enc);
    if (!rc) rc = self_check(&enc, &mi);
    if (!rc && interrupted) rc = cli_cmd_error(EXIT_FAIL, CMD, "interrupted");
    if (!rc) {
        int c = sh_atomicfile_commit(&af, enc.data, enc.len, a->force, &e);
        if (c == SH_EEXIST)
            rc = cli_cmd_error(EXIT_USAGE, CMD, "%s: exists (use --force to replace it)", out);
        else if (c)
            rc = cli_cmd_error(EXIT_FAIL, CMD, "writing %s: %s", out,
                               c == SH_EIO ? strerror(e) : sh_strerror(c));
    }
    sh_atomicfile_abort(&af);
    if (!rc) print_result(mi, out);
    if (mi) sh_metainfo_free(mi);
    sh_bbuf_free(&enc);
    return rc;
}

/* Refuses early (before hours of hashing) if OUT exists and --force is absent. */
static int check_output(const create_args *a, const char *out, struct stat *st, bool *exists)
{
    *exists = false;
    if (stat(out, st) < 0) {
        if (errno == ENOENT) return 0;
        int e = errno;
        return cli_cmd_error(input_errno_code(e), CMD, "%s: %s", out, strerror(e));
    }
    if (S_ISDIR(st->st_mode)) return cli_cmd_error(EXIT_USAGE, CMD, "%s: is a directory", out);
    if (!a->force)
        return cli_cmd_error(EXIT_USAGE, CMD, "%s: exists (use --force to replace it)", out);
    *exists = true;
    return 0;
}

static int run(const create_args *a)
{
    char *name = NULL, *out_alloc = NULL;
    int rc = torrent_name(a->path, &name);
    if (rc) return rc;
    const char *out = a->out;
    if (!out) {
        size_t n = strlen(name) + sizeof ".torrent";
        out = out_alloc = malloc(n);
        if (!out_alloc) {
            free(name);
            return cli_cmd_error(EXIT_FAIL, CMD, "out of memory");
        }
        snprintf(out_alloc, n, "%s.torrent", name);
    }
    struct stat out_st;
    bool out_exists;
    sh_fslist files = {0};
    sh_mkinfo *m = NULL;
    if (!(rc = check_output(a, out, &out_st, &out_exists)) &&
        !(rc = walk(a, out_exists ? &out_st : NULL, &files)) &&
        !(rc = builder_new(a, name, &files, &m)))
        rc = build_and_write(a, &files, m, out);
    if (m) sh_mkinfo_free(m);
    sh_fslist_free(&files);
    free(out_alloc);
    free(name);
    if (!rc && (fflush(stdout) || ferror(stdout)))
        rc = cli_cmd_error(EXIT_FAIL, CMD, "writing to stdout: %s", strerror(errno));
    return rc;
}

int cmd_create(int argc, char **argv)
{
    create_args a = {0};
    /* Each -t / -w takes at least one argv slot, so argc bounds their counts. */
    a.trackers = calloc((size_t)argc, sizeof *a.trackers);
    a.web_seeds = calloc((size_t)argc, sizeof *a.web_seeds);
    int rc;
    if (!a.trackers || !a.web_seeds) {
        rc = cli_cmd_error(EXIT_FAIL, CMD, "out of memory");
    } else {
        rc = parse_args(argc, argv, &a);
        if (rc < 0) rc = run(&a);
    }
    free(a.trackers);
    free(a.web_seeds);
    return rc;
}
