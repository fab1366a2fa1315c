/* peeropts.c — options shared by `shoal seed` and `shoal get` (see peeropts.h). */
#include "cli/peeropts.h"

#include "cli/cli.h"
#include "io/readfile.h"
#include <shoal/announcer.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    O_UPLIMIT = 256,
    O_DOWNLIMIT,
    O_LOGLEVEL,
    O_JSON,
    O_MAXCONNS,
    O_PEER,
    O_SEEDFOR,
    O_TIMEOUT,
    O_NOTRACKER,
    O_DHTBOOT,
    O_DHTPORT,
};

void peer_opts_usage_common(FILE *f)
{
    fprintf(f, "  -l, --listen ADDR:PORT     where to accept peers (default 0.0.0.0:0, an\n"
               "                             ephemeral port); outgoing connections use ADDR too\n"
               "      --peer ADDR:PORT       a peer to connect to; repeat for more\n"
               "  -t, --tracker URL          announce to this tracker too (http://, https:// or\n"
               "                             udp://HOST:PORT); repeat for more\n"
               "      --no-tracker           ignore the trackers the torrent lists\n"
               "      --dht-bootstrap ADDR:PORT  find peers through the DHT too, joining it\n"
               "                             through this node (e.g. a `shoal dht`); repeat\n"
               "      --dht-port PORT        UDP port of our DHT node (default: the TCP port\n"
               "                             of -l; the IP is always -l's); alone, runs a\n"
               "                             DHT node that others can join through\n"
               "      --upload-limit RATE    bytes/s on the wire, K/M/G suffixes (default: none)\n"
               "      --download-limit RATE  bytes/s on the wire, K/M/G suffixes (default: none)\n"
               "      --max-conns N          peer connections at most (default 50)\n"
               "      --json                 at exit, print one JSON object on stdout: status,\n"
               "                             bytes, seconds, flush_seconds, down_bytes,\n"
               "                             up_bytes, wire_down, wire_up, peers,\n"
               "                             hash_failures, banned, info_hash, trackers\n"
               "      --log-level L          error, warn (default), info, debug, trace\n"
               "  -h, --help                 show this help\n");
}

/* "ADDR:PORT" → a; on junk prints an error naming the option and value. */
static int parse_addr(const char *cmd, const char *opt, const char *s, sh_addr *a, bool port_needed)
{
    if (sh_addr_parse(s, a))
        return cli_usage_error(cmd, "%s: invalid address '%s' (want IP:PORT, [IPv6]:PORT)", opt, s);
    if (port_needed && a->port == 0)
        return cli_usage_error(cmd, "%s: port 0 in '%s': a peer needs a real port", opt, s);
    return 0;
}

static int add_peer(const char *cmd, const char *s, peer_opts *o)
{
    if (o->num_peers >= PEER_MAX_PEERS)
        return cli_usage_error(cmd, "--peer given more than %u times", PEER_MAX_PEERS);
    sh_addr a;
    int rc = parse_addr(cmd, "--peer", s, &a, true);
    if (rc) return rc;
    if (o->num_peers % 16 == 0) {
        sh_addr *n = realloc(o->peers, (o->num_peers + 16) * sizeof *n);
        if (!n) return cli_error(EXIT_FAIL, "out of memory");
        o->peers = n;
    }
    o->peers[o->num_peers++] = a;
    return 0;
}

static int add_dht_bootstrap(const char *cmd, const char *s, peer_opts *o)
{
    if (o->num_dht_bootstrap >= PEER_MAX_DHT_BOOTSTRAP)
        return cli_usage_error(cmd, "--dht-bootstrap given more than %u times",
                               PEER_MAX_DHT_BOOTSTRAP);
    sh_addr a;
    int rc = parse_addr(cmd, "--dht-bootstrap", s, &a, true);
    if (rc) return rc;
    if (o->num_dht_bootstrap % 8 == 0) {
        sh_addr *n = realloc(o->dht_bootstrap, (o->num_dht_bootstrap + 8) * sizeof *n);
        if (!n) return cli_error(EXIT_FAIL, "out of memory");
        o->dht_bootstrap = n;
    }
    o->dht_bootstrap[o->num_dht_bootstrap++] = a;
    return 0;
}

/* The DHT node takes -l's family (0.0.0.0 when -l is not given): so must its bootstrap nodes. */
static int check_dht_family(const peer_opts *o)
{
    int fam = o->listen.family ? o->listen.family : 4;
    for (size_t i = 0; i < o->num_dht_bootstrap; i++)
        if (o->dht_bootstrap[i].family != fam)
            return cli_usage_error(o->cmd,
                                   "--dht-bootstrap: an IPv%d DHT node (the family of -l) cannot "
                                   "join through IPv%d",
                                   fam, o->dht_bootstrap[i].family);
    return 0;
}

static int add_tracker(const char *cmd, const char *s, peer_opts *o)
{
    if (o->num_trackers >= PEER_MAX_TRACKERS)
        return cli_usage_error(cmd, "--tracker given more than %u times", PEER_MAX_TRACKERS);
    sh_errinfo ei = {0};
    if (sh_announcer_url_check(s, &ei))
        return cli_usage_error(cmd, "--tracker: '%s' is not a tracker URL: %s", s, ei.msg);
    if (o->num_trackers % 8 == 0) {
        const char **n = realloc(o->trackers, (o->num_trackers + 8) * sizeof *n);
        if (!n) return cli_error(EXIT_FAIL, "out of memory");
        o->trackers = n;
    }
    o->trackers[o->num_trackers++] = s;
    return 0;
}

static int parse_u32(const char *cmd, const char *opt, const char *s, uint32_t lo, uint32_t hi,
                     uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *s == '+' || *end || errno || v < lo || v > hi)
        return cli_usage_error(cmd, "%s: '%s' is not a whole number from %u to %u", opt, s, lo, hi);
    *out = (uint32_t)v;
    return 0;
}

/* One option; returns 0, or an exit code to stop with. */
static int handle(int c, const char *arg, const char *cmd, peer_opts *o)
{
    switch (c) {
    case 'l':
        return parse_addr(cmd, "--listen", arg, &o->listen, false);
    case O_PEER:
        return add_peer(cmd, arg, o);
    case 't':
        return add_tracker(cmd, arg, o);
    case O_NOTRACKER:
        o->no_tracker = true;
        return 0;
    case O_DHTBOOT:
        return add_dht_bootstrap(cmd, arg, o);
    case O_DHTPORT: {
        uint32_t port = 0;
        int rc = parse_u32(cmd, "--dht-port", arg, 1, 65535, &port);
        o->dht_port = (uint16_t)port;
        return rc;
    }
    case O_UPLIMIT:
        if (cli_parse_size(arg, &o->upload_limit))
            return cli_usage_error(cmd, "--upload-limit: '%s' is not a rate (e.g. 500K, 4M, 1G)",
                                   arg);
        return 0;
    case O_DOWNLIMIT:
        if (cli_parse_size(arg, &o->download_limit))
            return cli_usage_error(cmd, "--download-limit: '%s' is not a rate (e.g. 500K, 4M, 1G)",
                                   arg);
        return 0;
    case O_MAXCONNS:
        return parse_u32(cmd, "--max-conns", arg, 1, PEER_MAX_CONNS, &o->max_conns);
    case O_JSON:
        o->json = true;
        return 0;
    case O_LOGLEVEL:
        if (cli_set_log_level(arg))
            return cli_usage_error(
                cmd, "--log-level: unknown level '%s' (error, warn, info, debug, trace)", arg);
        return 0;
    case 'o':
        o->out_dir = arg;
        return 0;
    case O_SEEDFOR:
        if (cli_parse_seconds(arg, &o->seed_for) || o->seed_for > 1e9)
            return cli_usage_error(cmd, "--seed-for: '%s' is not a number of seconds", arg);
        return 0;
    case O_TIMEOUT:
        if (cli_parse_seconds(arg, &o->timeout) || o->timeout > 1e9)
            return cli_usage_error(cmd, "--timeout: '%s' is not a number of seconds", arg);
        return 0;
    default:
        return cli_usage_error(cmd, "internal: unhandled option %d", c);
    }
}

static int positionals(int argc, char **argv, peer_opts *o)
{
    int need = o->is_get ? 1 : 2;
    int have = argc - optind;
    if (have < need) {
        if (have == 0)
            return cli_usage_error(o->cmd, "missing TORRENT%s", o->is_get ? "" : " and PATH");
        return cli_usage_error(o->cmd,
                               "missing PATH (the file or directory TORRENT was made from)");
    }
    if (have > need)
        return cli_usage_error(o->cmd, "unexpected argument '%s'", argv[optind + need]);
    o->torrent = argv[optind];
    if (!o->is_get) o->path = argv[optind + 1];
    return 0;
}

int peer_opts_parse(int argc, char **argv, bool is_get, void (*usage)(FILE *f), peer_opts *o)
{
    static const struct option common[] = {
        {"listen", required_argument, NULL, 'l'},
        {"peer", required_argument, NULL, O_PEER},
        {"tracker", required_argument, NULL, 't'},
        {"no-tracker", no_argument, NULL, O_NOTRACKER},
        {"dht-bootstrap", required_argument, NULL, O_DHTBOOT},
        {"dht-port", required_argument, NULL, O_DHTPORT},
        {"upload-limit", required_argument, NULL, O_UPLIMIT},
        {"download-limit", required_argument, NULL, O_DOWNLIMIT},
        {"max-conns", required_argument, NULL, O_MAXCONNS},
        {"json", no_argument, NULL, O_JSON},
        {"log-level", required_argument, NULL, O_LOGLEVEL},
        {"help", no_argument, NULL, 'h'},
        /* get only: cut off for seed by the NULL entry placed below */
        {"output", required_argument, NULL, 'o'},
        {"seed-for", required_argument, NULL, O_SEEDFOR},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    struct option opts[sizeof common / sizeof common[0]];
    memcpy(opts, common, sizeof opts);
    for (size_t i = 0; !is_get && opts[i].name; i++)
        if (strcmp(opts[i].name, "output") == 0) memset(&opts[i], 0, sizeof opts[i]);

    memset(o, 0, sizeof *o);
    o->cmd = argv[0];
    o->is_get = is_get;
    o->out_dir = ".";
    o->timeout = 300;

    opterr = 0;
    optind = 1;
    const char *shortopts = is_get ? ":hl:o:t:" : ":hl:t:";
    int c;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        int rc;
        if (c == 'h') {
            usage(stdout);
            rc = EXIT_OK;
        } else if (c == ':') {
            rc = cli_usage_error(o->cmd, "option '%s' needs a value", argv[optind - 1]);
        } else if (c == '?') {
            rc = cli_usage_error(o->cmd, "unknown option '%s'", argv[optind - 1]);
        } else {
            rc = handle(c, optarg, o->cmd, o);
        }
        if (rc) {
            peer_opts_free(o);
            return rc;
        }
        if (c == 'h') {
            peer_opts_free(o);
            return EXIT_OK;
        }
    }
    int rc = positionals(argc, argv, o);
    if (!rc) rc = check_dht_family(o);
    if (rc) {
        peer_opts_free(o);
        return rc;
    }
    return -1;
}

void peer_opts_free(peer_opts *o)
{
    free(o->peers);
    o->peers = NULL;
    o->num_peers = 0;
    free(o->trackers);
    o->trackers = NULL;
    o->num_trackers = 0;
    free(o->dht_bootstrap);
    o->dht_bootstrap = NULL;
    o->num_dht_bootstrap = 0;
}

int peer_load_torrent(const char *cmd, const char *path, sh_metainfo **mi)
{
    uint8_t *buf;
    size_t len;
    int e = 0;
    int rc = sh_readfile(path, SH_META_MAX_TORRENT, &buf, &len, &e);
    if (rc == SH_ELIMIT)
        return cli_cmd_error(EXIT_USAGE, cmd, "%s: larger than %u MiB, not a torrent", path,
                             SH_META_MAX_TORRENT >> 20);
    if (rc == SH_EIO) {
        bool input = e == ENOENT || e == EACCES || e == EPERM || e == EISDIR || e == ENOTDIR ||
                     e == ELOOP || e == ENAMETOOLONG;
        return cli_cmd_error(input ? EXIT_USAGE : EXIT_FAIL, cmd, "%s: %s", path, strerror(e));
    }
    if (rc) return cli_cmd_error(EXIT_FAIL, cmd, "%s: %s", path, sh_strerror(rc));
    sh_errinfo ei = {0};
    rc = sh_metainfo_parse(buf, len, mi, &ei);
    free(buf);
    if (rc == SH_ENOMEM) return cli_cmd_error(EXIT_FAIL, cmd, "%s: out of memory", path);
    if (rc)
        return cli_cmd_error(EXIT_USAGE, cmd, "%s: not a valid torrent: %s", path,
                             ei.msg[0] ? ei.msg : sh_strerror(rc));
    return 0;
}

int peer_check_listen(const char *cmd, const sh_addr *a)
{
    if (a->family == 0) return 0;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (a->family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->ip, 4);
        sl = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        memcpy(&s6->sin6_addr, a->ip, 16);
        sl = sizeof *s6;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return cli_cmd_error(EXIT_FAIL, cmd, "socket: %s", strerror(errno));
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, (struct sockaddr *)&ss, sl);
    int e = errno;
    close(fd);
    if (rc) {
        char buf[SH_ADDR_STRLEN];
        return cli_cmd_error(EXIT_USAGE, cmd, "cannot listen on %s: %s",
                             sh_addr_format(a, buf, sizeof buf), strerror(e));
    }
    return 0;
}
