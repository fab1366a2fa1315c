/*
 * peeropts.h — the command line that `shoal seed` and `shoal get` share:
 * option parsing into one struct, the shared part of their --help, and
 * loading the torrent.
 *
 * Parsing only checks what can be checked without touching the network or
 * the data: every value is validated and an error names the option and the
 * value (exit 2). It never opens a socket or reads the payload.
 */
#ifndef SHOAL_CLI_PEEROPTS_H
#define SHOAL_CLI_PEEROPTS_H

#include <shoal/metainfo.h>
#include <shoal/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PEER_MAX_PEERS 10000u /* --peer given more often is a usage error */
#define PEER_MAX_CONNS 100000u
#define PEER_MAX_TRACKERS 64u /* -t given more often is a usage error */
#define PEER_MAX_DHT_BOOTSTRAP 64u

typedef struct peer_opts {
    const char *cmd; /* "seed" or "get" */
    bool is_get;
    sh_addr listen; /* family 0: any address, port 0: ephemeral */
    sh_addr *peers; /* --peer, malloc'd */
    size_t num_peers;
    uint64_t upload_limit; /* bytes/s, 0 = unlimited */
    uint64_t download_limit;
    uint32_t max_conns; /* 0: default */
    const char **trackers; /* -t URLs (pointers into argv), malloc'd */
    size_t num_trackers;
    bool no_tracker;       /* --no-tracker: not the torrent's own trackers */
    sh_addr *dht_bootstrap; /* --dht-bootstrap, malloc'd (cli/peer_dht.h) */
    size_t num_dht_bootstrap;
    uint16_t dht_port; /* --dht-port; 0: the TCP listen port */
    bool json;
    /* get only */
    const char *out_dir; /* default "." */
    double seed_for;     /* seconds to keep seeding after completion */
    double timeout;      /* seconds without payload before giving up; 0 = never */
    /* positional */
    const char *torrent;
    const char *path; /* seed: the data the torrent was made from */
} peer_opts;

/*
 * Parses argv (argv[0] is the command name). Returns -1 to go on, or an exit
 * code: EXIT_OK after --help (usage printed to stdout), EXIT_USAGE after an
 * error (printed to stderr). usage() prints the command's whole help.
 */
int peer_opts_parse(int argc, char **argv, bool is_get, void (*usage)(FILE *f), peer_opts *o);
void peer_opts_free(peer_opts *o);

/* The options both commands share, for their --help. */
void peer_opts_usage_common(FILE *f);

/*
 * Loads and validates the torrent. Returns 0, or an exit code after printing
 * an error that names the file: EXIT_USAGE for a missing, unreadable or
 * invalid torrent, EXIT_FAIL for other I/O errors or out of memory.
 */
int peer_load_torrent(const char *cmd, const char *path, sh_metainfo **mi);

/*
 * Checks that the listen address can be bound (a clear error before any
 * work starts: "cannot listen on 10.1.1.1:6881: Cannot assign requested
 * address"). Returns 0 or EXIT_USAGE after printing the error.
 */
int peer_check_listen(const char *cmd, const sh_addr *a);

#endif
