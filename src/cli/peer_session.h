/*
 * peer_session.h — the run-time half of `shoal seed` and `shoal get`: one
 * event loop, one peer driver (io/peerd.h), signals, the progress line, the
 * no-data timeout, --seed-for, and the exit summary (text on stderr, one
 * JSON object on stdout with --json).
 *
 * It owns nothing the commands gave it (options, metainfo). It prints
 * "listening on ADDR:PORT" once on stdout as soon as the address is
 * bound and the data is usable (for seed: after the check passed), so
 * scripts can read an ephemeral port. It never exits the process itself:
 * it returns the exit code.
 */
#ifndef SHOAL_CLI_PEER_SESSION_H
#define SHOAL_CLI_PEER_SESSION_H

#include "cli/peeropts.h"

#include <shoal/metainfo.h>

/* Runs until done, failed or interrupted. Returns EXIT_OK, EXIT_FAIL or EXIT_USAGE. */
int peer_session_run(const peer_opts *o, const sh_metainfo *mi);
/* The same for a metainfo from a magnet link: the swarm may install the v2
 * piece layers it fetches into mi (sh_peerd_config.mi_layers). */
int peer_session_run_magnet(const peer_opts *o, sh_metainfo *mi);

#endif
