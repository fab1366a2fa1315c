/*
 * stats.c — what a run means: completion percentiles of the receivers
 * against the lower bound T* (Kumar & Ross) and against the one-by-one
 * time, the origin's upload in file sizes, and the cost of the run.
 *
 *   T* = max(F / u_origin, F / d_min, N·F / (u_origin + Σ u_i))
 *
 * Percentiles are nearest-rank over the receivers that did not crash; one
 * that never completed counts as infinitely late (JSON null).
 */
#include "sim.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double rank(const double *v, size_t n, double p)
{
    if (n == 0) return NAN;
    size_t k = (size_t)ceil(p * (double)n);
    return v[k ? k - 1 : 0];
}

static double t_star(const sim_world *w)
{
    double f = (double)w->o.size, n = (double)w->o.hosts;
    double uo = (double)w->o.origin_rate, u = (double)w->o.rate;
    double t = f / uo;
    if (f / u > t) t = f / u;
    double share = n * f / (uo + n * u);
    return share > t ? share : t;
}

void sim_result_compute(const sim_world *w, double wall_s, sim_result *r)
{
    memset(r, 0, sizeof *r);
    r->t_star_s = t_star(w);
    r->one_by_one_s = (double)w->o.hosts * (double)w->o.size / (double)w->o.origin_rate;
    r->wall_s = wall_s;
    double *v = malloc((w->nhosts + 1) * sizeof *v);
    size_t n = 0;
    for (uint32_t i = 1; i < w->nhosts; i++) {
        const sim_host *x = &w->hosts[i];
        if (x->crashed) {
            r->crashed++;
            continue;
        }
        if (x->complete) r->completed++;
        if (!x->complete) r->incomplete++;
        if (v) v[n++] = x->complete ? (double)(x->complete_at - SIM_T0) / 1e9 : INFINITY;
    }
    if (v) {
        qsort(v, n, sizeof *v, cmp_double);
        r->p50_s = rank(v, n, 0.50);
        r->p90_s = rank(v, n, 0.90);
        r->p99_s = rank(v, n, 0.99);
        r->max_s = rank(v, n, 1.0);
    }
    free(v);
    sh_swarm_stats st;
    sh_swarm_get_stats(w->hosts[0].sw, &st);
    r->origin_upload = st.payload_up;
}

static void put_time(json_t *o, const char *key, double v)
{
    json_object_set_new(o, key, isfinite(v) ? json_real(v) : json_null());
}

static json_t *events_by_type(const sim_world *w)
{
    static const char *const names[16] = {
        [EV_TIMER] = "timer",     [EV_TURN] = "turn",         [EV_ARRIVE] = "arrive",
        [EV_DELIVER] = "deliver", [EV_SYN] = "syn",           [EV_SYNACK] = "synack",
        [EV_REFUSED] = "refused", [EV_FIN] = "fin",           [EV_WAKE] = "wake",
        [EV_ANNOUNCE] = "announce", [EV_TRACKER] = "tracker", [EV_REPLY] = "reply",
        [EV_CRASH] = "crash",     [EV_VERIFIED] = "verified", [EV_FLUSH] = "flush",
    };
    json_t *o = json_object();
    for (int i = 0; i < 16; i++)
        if (names[i] && w->st.by_type[i])
            json_object_set_new(o, names[i], json_integer((json_int_t)w->st.by_type[i]));
    return o;
}

static int print_json(const sim_world *w, const sim_result *r)
{
    json_t *o = json_object();
    char digest[17];
    snprintf(digest, sizeof digest, "%016llx", (unsigned long long)w->trace);
    json_object_set_new(o, "hosts", json_integer(w->o.hosts));
    json_object_set_new(o, "size", json_integer((json_int_t)w->o.size));
    json_object_set_new(o, "rate", json_integer((json_int_t)w->o.rate));
    json_object_set_new(o, "origin_rate", json_integer((json_int_t)w->o.origin_rate));
    json_object_set_new(o, "latency_ms", json_real(w->o.latency_ms));
    json_object_set_new(o, "piece_size", json_integer((json_int_t)w->mi->piece_length));
    json_object_set_new(o, "pieces", json_integer(w->mi->num_pieces));
    json_object_set_new(o, "block", json_integer(w->o.block));
    json_object_set_new(o, "seed", json_integer((json_int_t)w->o.seed));
    json_object_set_new(o, "t_star_s", json_real(r->t_star_s));
    json_object_set_new(o, "one_by_one_s", json_real(r->one_by_one_s));
    put_time(o, "p50_s", r->p50_s);
    put_time(o, "p90_s", r->p90_s);
    put_time(o, "p99_s", r->p99_s);
    put_time(o, "max_s", r->max_s);
    put_time(o, "p50_ratio", r->p50_s / r->t_star_s);
    put_time(o, "p90_ratio", r->p90_s / r->t_star_s);
    put_time(o, "p99_ratio", r->p99_s / r->t_star_s);
    put_time(o, "max_ratio", r->max_s / r->t_star_s);
    json_object_set_new(o, "completed", json_integer(r->completed));
    json_object_set_new(o, "incomplete", json_integer(r->incomplete));
    json_object_set_new(o, "crashed", json_integer(r->crashed));
    if (w->o.origin_crash_all)
        put_time(o, "origin_crashed_s",
                 w->hosts[0].crashed ? (double)(w->origin_crashed_at - SIM_T0) / 1e9 : NAN);
    json_object_set_new(o, "origin_upload_bytes", json_integer((json_int_t)r->origin_upload));
    json_object_set_new(o, "origin_upload_ratio",
                        json_real((double)r->origin_upload / (double)w->o.size));
    json_object_set_new(o, "virtual_end_s", json_real((double)(w->now - SIM_T0) / 1e9));
    json_object_set_new(o, "events", json_integer((json_int_t)w->st.events));
    json_object_set_new(o, "events_by_type", events_by_type(w));
    json_object_set_new(o, "chunks", json_integer((json_int_t)w->st.chunks));
    json_object_set_new(o, "control_chunks", json_integer((json_int_t)w->st.control_chunks));
    json_object_set_new(o, "piggybacked", json_integer((json_int_t)w->st.piggybacked));
    json_object_set_new(o, "batched", json_integer((json_int_t)w->st.batched));
    json_object_set_new(o, "have_batch_ms", json_real(w->o.have_batch_ms));
    json_object_set_new(o, "lead_s", json_real(w->o.lead_s));
    json_object_set_new(o, "uplink", json_string(w->o.uplink_first ? "first" : "rr"));
    json_object_set_new(o, "connects", json_integer((json_int_t)w->st.connects));
    json_object_set_new(o, "refused", json_integer((json_int_t)w->st.refused));
    json_object_set_new(o, "wall_s", json_real(r->wall_s));
    json_object_set_new(o, "trace_digest", json_string(digest));
    int rc = json_dumpf(o, stdout, JSON_COMPACT) == 0 && puts("") >= 0 ? 0 : SH_EIO;
    json_decref(o);
    return rc;
}

static void human(double bytes, char *out, size_t n)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int i = 0;
    while (bytes >= 1024 && i < 5) {
        bytes /= 1024;
        i++;
    }
    snprintf(out, n, "%.4g %s", bytes, u[i]);
}

static void line(const char *name, double v, double ts, double serial)
{
    if (isfinite(v))
        printf("  %-4s %10.4f s  %7.3f x T*  %9.5f x one by one\n", name, v, v / ts, v / serial);
    else
        printf("  %-4s  never (a receiver did not complete)\n", name);
}

int sim_result_print(const sim_world *w, const sim_result *r)
{
    if (w->o.json) return print_json(w, r);
    char f[32], rate[32], orate[32], plen[32], blk[32];
    human((double)w->o.size, f, sizeof f);
    human((double)w->o.rate, rate, sizeof rate);
    human((double)w->o.origin_rate, orate, sizeof orate);
    human((double)w->mi->piece_length, plen, sizeof plen);
    human((double)w->o.block, blk, sizeof blk);
    printf("shoal-sim: N = %u receivers + 1 origin, F = %s (%llu bytes), %u pieces of %s, "
           "requests of %s\n",
           w->o.hosts, f, (unsigned long long)w->o.size, w->mi->num_pieces, plen, blk);
    printf("links: receivers %s/s up and down, origin %s/s, latency %.3f ms one way per host", rate,
           orate, w->o.latency_ms);
    if (w->o.loss > 0) printf(", loss %.4g per chunk", w->o.loss);
    if (w->o.hash_rate) printf(", hashing %.4g MiB/s", (double)w->o.hash_rate / (1 << 20));
    if (w->o.have_batch_ms > 0) printf(", HAVEs held up to %.3g ms", w->o.have_batch_ms);
    if (w->o.uplink_first) printf(", uplinks serve the oldest connection first");
    if (w->o.lead_s > 0) printf(", receivers start %.3g s before the origin", w->o.lead_s);
    printf("\n");
    printf("T* = %.4f s    one by one (N x F / u_origin) = %.4f s\n", r->t_star_s, r->one_by_one_s);
    printf("completion of %u receivers (%u crashed, %u incomplete):\n",
           r->completed + r->incomplete, r->crashed, r->incomplete);
    line("p50", r->p50_s, r->t_star_s, r->one_by_one_s);
    line("p90", r->p90_s, r->t_star_s, r->one_by_one_s);
    line("p99", r->p99_s, r->t_star_s, r->one_by_one_s);
    line("max", r->max_s, r->t_star_s, r->one_by_one_s);
    if (w->o.origin_crash_all && w->hosts[0].crashed)
        printf("origin crashed at %.4f s, once every piece was on a receiver\n",
               (double)(w->origin_crashed_at - SIM_T0) / 1e9);
    else if (w->o.origin_crash_all)
        printf("origin never crashed: some piece was never on a receiver\n");
    printf("origin upload = %.3f F (%llu bytes)\n", (double)r->origin_upload / (double)w->o.size,
           (unsigned long long)r->origin_upload);
    printf("simulated %llu events (%llu data chunks, %llu control) to t = %.4f s in %.2f s wall\n",
           (unsigned long long)w->st.events, (unsigned long long)w->st.chunks,
           (unsigned long long)w->st.control_chunks, (double)(w->now - SIM_T0) / 1e9, r->wall_s);
    printf("trace digest %016llx\n", (unsigned long long)w->trace);
    return 0;
}

int sim_per_host_write(const sim_world *w, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return SH_EIO;
    fprintf(f, "host,role,state,complete_s,payload_down,payload_up,wasted,pieces,peers,known,"
               "connects_in_flight,announces\n");
    for (uint32_t i = 0; i < w->nhosts; i++) {
        const sim_host *x = &w->hosts[i];
        sh_swarm_stats st;
        sh_swarm_get_stats(x->sw, &st);
        const char *state = x->crashed ? "crashed" : x->complete ? "complete" : "incomplete";
        fprintf(f, "%u,%s,%s,", i, x->origin ? "origin" : "receiver", state);
        if (x->complete)
            fprintf(f, "%.9f,", (double)(x->complete_at - SIM_T0) / 1e9);
        else
            fputs(",", f);
        fprintf(f, "%llu,%llu,%llu,%u,%u,%u,%u,%u\n", (unsigned long long)st.payload_down,
                (unsigned long long)st.payload_up, (unsigned long long)st.wasted, st.pieces_have,
                st.peers, st.known, st.connecting, x->announces);
    }
    return fclose(f) == 0 ? 0 : SH_EIO;
}
