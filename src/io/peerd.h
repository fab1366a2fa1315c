/*
 * peerd.h — the peer driver: runs one torrent's sh_swarm on the event loop
 * with real sockets, real files and real hashing.
 *
 * It owns the listening socket, every peer connection, the storage of the
 * torrent's files, the hasher threads and the rate limiters; it feeds the
 * swarm events and carries out its actions. Uploads go out with sendfile(2):
 * block payloads never pass through user space.
 *
 * Storage: seeding serves the data at data_path (the file or directory the
 * torrent was made from). Downloading writes into <out_dir>/<name>.part
 * (a file, or a directory for multi-file torrents) and renames it to
 * <out_dir>/<name> only after every piece is verified and flushed, so the
 * output appears complete or not at all. A restart verifies what the .part
 * holds and fetches only the rest.
 */
#ifndef SHOAL_IO_PEERD_H
#define SHOAL_IO_PEERD_H

#include <shoal/announcer.h>
#include <shoal/log.h>
#include <shoal/metainfo.h>
#include <shoal/swarm.h>
#include "io/loop.h"

typedef struct sh_peerd_config {
    const sh_metainfo *mi;       /* borrowed */
    sh_metainfo *mi_layers;      /* from a magnet link: mi itself, writable, so the swarm can
                                    install the v2 piece layers it fetches (sh_swarm_config);
                                    NULL: mi is never written */
    bool seeding;                /* true: serve data_path; false: download into out_dir */
    const char *data_path;       /* seeding: the file or directory the torrent describes */
    const char *out_dir;         /* downloading: where <name> appears */
    sh_addr listen;              /* family 0: 0.0.0.0, port 0: ephemeral. Outgoing
                                    connections bind to listen's IP (if not any). */
    const sh_addr *peers;        /* initial candidates (--peer) */
    size_t num_peers;
    uint64_t upload_limit;       /* bytes/s on the wire, 0 = unlimited */
    uint64_t download_limit;
    uint32_t max_conns;          /* 0: swarm default */
    uint32_t hash_threads;       /* 0: one per core, at most 4 */
    const sh_tier *trackers;     /* tiers to announce to (the torrent's, then -t ones);
                                    copied. Announcing starts after the check. */
    uint32_t num_tracker_tiers;
    sh_logger log;
} sh_peerd_config;

typedef enum sh_peerd_state {
    SH_PEERD_CHECKING = 1,    /* verifying data already on disk */
    SH_PEERD_DOWNLOADING = 2,
    SH_PEERD_SEEDING = 3,     /* complete (download finished, or seeding from the start) */
    SH_PEERD_FAILED = 4,
} sh_peerd_state;

typedef struct sh_peerd_status {
    sh_peerd_state state;
    sh_swarm_stats swarm;
    uint32_t checked;            /* pieces checked so far (CHECKING) */
    uint32_t bad_on_disk;        /* pieces found missing or wrong at start */
    uint64_t wire_down, wire_up; /* every byte on the wire, as rate-limited */
    uint64_t sendfile_calls;     /* block payload sent: sendfile calls made (for */
    uint64_t sendfile_bytes;     /*   tests: between shoal peers they carry large blocks) */
    double down_rate, up_rate;   /* payload bytes/s over the last few seconds */
    sh_time started, completed;  /* monotonic; completed 0 until complete (verified,
                                    flushed and renamed) */
    sh_time verified;            /* every piece verified, before the final flush; 0 until then */
    sh_addr listen;              /* the bound address (port resolved) */
    int error;                   /* SH_E* when FAILED */
    char error_msg[256];
} sh_peerd_status;

typedef struct sh_peerd sh_peerd;

/* Opens storage, binds the listener, starts checking. Errors name the problem in *ei. */
int sh_peerd_new(sh_loop *loop, const sh_peerd_config *cfg, sh_peerd **out, sh_errinfo *ei);
void sh_peerd_free(sh_peerd *p);

/* More candidate peers (later: tracker, DHT). */
void sh_peerd_add_peer(sh_peerd *p, const sh_addr *a, sh_peer_source src);

void sh_peerd_status_get(const sh_peerd *p, sh_peerd_status *st);

/* Called on the loop thread whenever the state changes (checking done,
 * completed, failed). The CLI uses it to stop or schedule --seed-for. */
typedef void (*sh_peerd_event_fn)(sh_peerd *p, sh_peerd_state state, void *ud);
void sh_peerd_on_event(sh_peerd *p, sh_peerd_event_fn fn, void *ud);

/* For logs and --json: the swarm's per-peer view. */
size_t sh_peerd_peers(const sh_peerd *p, sh_peer_info *out, size_t max);

/* For logs and --json: the trackers and how they fare (url valid while p lives). */
size_t sh_peerd_trackers(const sh_peerd *p, sh_tracker_status *out, size_t max);

/* Stops accepting, closes every connection, joins the hasher. Idempotent.
 * With trackers, it then announces stopped and runs the loop until those
 * announces are done, at most ~3.5 s: call it when sh_loop_run has
 * returned, never from a loop callback. */
void sh_peerd_shutdown(sh_peerd *p);

#endif
