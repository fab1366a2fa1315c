/*
 * opts.c — shoal-sim's command line. Sizes and rates take binary K/M/G/T
 * suffixes ("5G" is 5 * 2^30; rates are bytes per second); anything
 * malformed or out of range is bad usage (exit 2) with a message naming
 * the option.
 */
#include "sim.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char USAGE[] =
    "usage: shoal-sim --hosts N --size SIZE --rate RATE [options]\n"
    "\n"
    "Runs one origin and N receivers of a SIZE-byte file in virtual time, with the\n"
    "real shoal core on every host and the real tracker policy, and prints how long\n"
    "the fleet took against the lower bound T*.\n"
    "\n"
    "  --hosts N              receivers (the origin is one more host)\n"
    "  --size SIZE            file size (K/M/G/T: binary multiples)\n"
    "  --rate RATE            every receiver's upload and download, bytes/s\n"
    "  --origin-rate RATE     the origin's upload and download (default: --rate)\n"
    "  --latency MS           one-way latency of each host to the network (default 0.1)\n"
    "  --jitter MS            per-host extra latency, uniform in [0, MS) (default 0)\n"
    "  --piece-size SIZE      piece length (default: as `shoal create` picks)\n"
    "  --block SIZE           largest request between shoal peers, a multiple of 16K\n"
    "                         up to 4M (default 512K)\n"
    "  --quantum SIZE         bytes a connection sends per uplink turn (default 512K)\n"
    "  --seed S               seed of everything random (default 1)\n"
    "  --loss P               per-chunk probability of an RTO-like stall (default 0)\n"
    "  --loss-penalty MS      length of that stall (default 200)\n"
    "  --max-conns N          connections per host (default: the swarm's, 50)\n"
    "  --upload-slots N       unchoked peers per host (default: the swarm's, 16)\n"
    "  --crash K@T            K random receivers crash at virtual second T\n"
    "  --origin-crash-when-all-exist\n"
    "                         the origin crashes once every piece is on a receiver\n"
    "  --time-limit S         give up after S virtual seconds (default 600)\n"
    "  --lead S               receivers start S seconds before the origin, as in\n"
    "                         bench/swarm; times count from the origin's start (default 0)\n"
    "  --interval S           the tracker's announce interval (default: the tracker's, 30)\n"
    "  --uplink ORDER         rr: connections take turns (default); first: the oldest\n"
    "                         connection with output goes next, as shoal's token bucket does\n"
    "  --have-batch MS        output that is only HAVEs waits up to MS for more output\n"
    "                         on its connection (default 0: it leaves at once)\n"
    "  --hash-rate RATE       bytes/s a host verifies, one piece after the other\n"
    "                         (default: instant)\n"
    "  --log-level LEVEL      swarm logs on stderr (error..trace); for small runs\n"
    "  --per-host FILE        write one CSV line per host (completion, bytes, peers)\n"
    "  --json                 print one JSON object instead of text\n"
    "  --quiet                no progress line on stderr (shown when it is a terminal)\n"
    "  --progress             a progress line on stderr every minute even if not a terminal\n"
    "  --help                 this text\n";

enum {
    O_HOSTS = 256,
    O_SIZE,
    O_RATE,
    O_ORATE,
    O_LAT,
    O_JITTER,
    O_PIECE,
    O_BLOCK,
    O_QUANTUM,
    O_SEED,
    O_LOSS,
    O_PENALTY,
    O_CONNS,
    O_SLOTS,
    O_CRASH,
    O_OCRASH,
    O_TLIMIT,
    O_LOG,
    O_JSON,
    O_QUIET,
    O_PERHOST,
    O_HASH,
    O_PROGRESS,
    O_LEAD,
    O_INTERVAL,
    O_HBATCH,
    O_UPLINK,
    O_HELP,
};

static const struct option LONG[] = {
    {"hosts", required_argument, NULL, O_HOSTS},
    {"size", required_argument, NULL, O_SIZE},
    {"rate", required_argument, NULL, O_RATE},
    {"origin-rate", required_argument, NULL, O_ORATE},
    {"latency", required_argument, NULL, O_LAT},
    {"jitter", required_argument, NULL, O_JITTER},
    {"piece-size", required_argument, NULL, O_PIECE},
    {"block", required_argument, NULL, O_BLOCK},
    {"quantum", required_argument, NULL, O_QUANTUM},
    {"seed", required_argument, NULL, O_SEED},
    {"loss", required_argument, NULL, O_LOSS},
    {"loss-penalty", required_argument, NULL, O_PENALTY},
    {"max-conns", required_argument, NULL, O_CONNS},
    {"upload-slots", required_argument, NULL, O_SLOTS},
    {"crash", required_argument, NULL, O_CRASH},
    {"origin-crash-when-all-exist", no_argument, NULL, O_OCRASH},
    {"time-limit", required_argument, NULL, O_TLIMIT},
    {"log-level", required_argument, NULL, O_LOG},
    {"json", no_argument, NULL, O_JSON},
    {"quiet", no_argument, NULL, O_QUIET},
    {"per-host", required_argument, NULL, O_PERHOST},
    {"hash-rate", required_argument, NULL, O_HASH},
    {"progress", no_argument, NULL, O_PROGRESS},
    {"lead", required_argument, NULL, O_LEAD},
    {"interval", required_argument, NULL, O_INTERVAL},
    {"have-batch", required_argument, NULL, O_HBATCH},
    {"uplink", required_argument, NULL, O_UPLINK},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static int mult_of(char c, uint64_t *m)
{
    switch (c) {
    case 'k':
    case 'K':
        *m = 1ull << 10;
        return 0;
    case 'm':
    case 'M':
        *m = 1ull << 20;
        return 0;
    case 'g':
    case 'G':
        *m = 1ull << 30;
        return 0;
    case 't':
    case 'T':
        *m = 1ull << 40;
        return 0;
    default:
        return SH_EINVAL;
    }
}

int sim_parse_size(const char *s, uint64_t *out)
{
    uint64_t ip = 0, frac = 0, scale = 1, m = 1;
    const char *p = s;
    if (*p < '0' || *p > '9') return SH_EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (ip > (UINT64_MAX - 9) / 10) return SH_EINVAL;
        ip = ip * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return SH_EINVAL;
        for (; *p >= '0' && *p <= '9'; p++)
            if (scale < 1000000000ull) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
    }
    if (*p && mult_of(*p, &m) == 0) p++;
    if (*p == 'i' && m > 1) p++;
    if (*p == 'B') p++;
    if (*p) return SH_EINVAL;
    if (ip > UINT64_MAX / m) return SH_EINVAL;
    uint64_t v = ip * m;
    uint64_t f = (uint64_t)((double)frac / (double)scale * (double)m);
    if (f > UINT64_MAX - v) return SH_EINVAL;
    *out = v + f;
    return 0;
}

static int bad(const char *opt, const char *arg, const char *why)
{
    fprintf(stderr, "shoal-sim: --%s %s: %s\n%s", opt, arg ? arg : "", why,
            "try 'shoal-sim --help'\n");
    return 2;
}

static int get_size(const char *opt, const char *arg, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (sim_parse_size(arg, out) < 0) return bad(opt, arg, "not a size (e.g. 512K, 5G)");
    if (*out < lo || *out > hi) return bad(opt, arg, "out of range");
    return 0;
}

static int get_u32(const char *opt, const char *arg, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    unsigned long long v = strtoull(arg, &end, 10);
    if (arg[0] < '0' || arg[0] > '9' || *end) return bad(opt, arg, "not a whole number");
    if (v < lo || v > hi) return bad(opt, arg, "out of range");
    *out = (uint32_t)v;
    return 0;
}

static int get_double(const char *opt, const char *arg, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !isfinite(v)) return bad(opt, arg, "not a number");
    if (v < lo || v > hi) return bad(opt, arg, "out of range");
    *out = v;
    return 0;
}

static int get_crash(const char *arg, sim_opts *o)
{
    const char *at = strchr(arg, '@');
    if (!at) return bad("crash", arg, "expected K@T (K hosts at virtual second T)");
    char k[32];
    size_t n = (size_t)(at - arg);
    if (n == 0 || n >= sizeof k) return bad("crash", arg, "expected K@T");
    memcpy(k, arg, n);
    k[n] = 0;
    if (get_u32("crash", k, 1, SIM_HOST_MAX, &o->crash_k)) return 2;
    return get_double("crash", at + 1, 0, 1e6, &o->crash_at_s);
}

static void defaults(sim_opts *o)
{
    memset(o, 0, sizeof *o);
    o->latency_ms = 0.1;
    o->block = 512 * 1024;
    o->quantum = 512 * 1024;
    o->seed = 1;
    o->loss_penalty_ms = 200;
    o->time_limit_s = 600;
}

static int one(int c, const char *arg, sim_opts *o)
{
    const uint64_t PB = 1ull << 50;
    switch (c) {
    case O_HOSTS:
        return get_u32("hosts", arg, 1, SIM_HOST_MAX, &o->hosts);
    case O_SIZE:
        return get_size("size", arg, 1, PB, &o->size);
    case O_RATE:
        return get_size("rate", arg, 1, PB, &o->rate);
    case O_ORATE:
        return get_size("origin-rate", arg, 1, PB, &o->origin_rate);
    case O_LAT:
        return get_double("latency", arg, 0, 10000, &o->latency_ms);
    case O_JITTER:
        return get_double("jitter", arg, 0, 10000, &o->jitter_ms);
    case O_PIECE:
        return get_size("piece-size", arg, 16384, SH_META_MAX_PIECE_LENGTH, &o->piece_size);
    case O_QUANTUM:
        return get_size("quantum", arg, 1, 1ull << 30, &o->quantum);
    case O_LOSS:
        return get_double("loss", arg, 0, 0.999, &o->loss);
    case O_PENALTY:
        return get_double("loss-penalty", arg, 0, 1e6, &o->loss_penalty_ms);
    case O_CONNS:
        return get_u32("max-conns", arg, 1, 100000, &o->max_conns);
    case O_SLOTS:
        return get_u32("upload-slots", arg, 1, 100000, &o->upload_slots);
    case O_CRASH:
        return get_crash(arg, o);
    case O_OCRASH:
        o->origin_crash_all = true;
        return 0;
    case O_TLIMIT:
        return get_double("time-limit", arg, 0.001, 1e7, &o->time_limit_s);
    case O_JSON:
        o->json = true;
        return 0;
    case O_QUIET:
        o->quiet = true;
        return 0;
    case O_PERHOST:
        o->per_host = arg;
        return 0;
    case O_HASH:
        return get_size("hash-rate", arg, 1, PB, &o->hash_rate);
    case O_PROGRESS:
        o->progress = true;
        return 0;
    case O_LEAD:
        return get_double("lead", arg, 0, 900, &o->lead_s);
    case O_UPLINK:
        if (strcmp(arg, "rr") && strcmp(arg, "first")) return bad("uplink", arg, "expected rr or first");
        o->uplink_first = arg[0] == 'f';
        return 0;
    case O_HBATCH:
        return get_double("have-batch", arg, 0, 1000, &o->have_batch_ms);
    case O_INTERVAL:
        return get_u32("interval", arg, 1, 86400, &o->interval);
    case O_SEED: {
        char *end;
        o->seed = strtoull(arg, &end, 0);
        return arg[0] >= '0' && arg[0] <= '9' && !*end ? 0 : bad("seed", arg, "not a number");
    }
    case O_BLOCK: {
        uint64_t b;
        if (get_size("block", arg, 16384, 4 * 1024 * 1024, &b)) return 2;
        if (b % 16384) return bad("block", arg, "not a multiple of 16K");
        o->block = (uint32_t)b;
        return 0;
    }
    case O_LOG:
        if (sh_log_level_parse(arg, &o->log_level) < 0)
            return bad("log-level", arg, "expected error, warn, info, debug or trace");
        o->log_on = true;
        return 0;
    default:
        fprintf(stderr, "try 'shoal-sim --help'\n");
        return 2;
    }
}

int sim_opts_parse(int argc, char **argv, sim_opts *o)
{
    defaults(o);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", LONG, NULL)) != -1) {
        if (c == O_HELP) {
            fputs(USAGE, stdout);
            return 1;
        }
        int rc = one(c, optarg, o);
        if (rc) return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "shoal-sim: unexpected argument '%s'\ntry 'shoal-sim --help'\n",
                argv[optind]);
        return 2;
    }
    if (!o->hosts || !o->size || !o->rate) {
        fprintf(stderr, "shoal-sim: --hosts, --size and --rate are required\n"
                        "try 'shoal-sim --help'\n");
        return 2;
    }
    if (!o->origin_rate) o->origin_rate = o->rate;
    if (o->crash_k > o->hosts) return bad("crash", "", "more hosts than there are receivers");
    return 0;
}
