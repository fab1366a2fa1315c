/*
 * main.c — shoal-sim: parse the options, build the world, run it, report.
 * Exit status: 0 every live receiver completed, 1 some did not (or the run
 * failed), 2 bad usage.
 */
#include "sim.h"

#include <stdio.h>
#include <time.h>

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    sim_opts o;
    int rc = sim_opts_parse(argc, argv, &o);
    if (rc == 1) return 0; /* --help */
    if (rc) return 2;
    double t0 = wall();
    static sim_world w;
    rc = sim_world_init(&w, &o);
    if (rc < 0) {
        fprintf(stderr, "shoal-sim: cannot build the scenario: %s\n", sh_strerror(rc));
        sim_world_free(&w);
        return rc == SH_ENOMEM ? 1 : 2;
    }
    sim_run(&w);
    if (w.q.err) {
        fprintf(stderr, "shoal-sim: out of memory for events; the result is incomplete\n");
        rc = 1;
    }
    sim_result r;
    sim_result_compute(&w, wall() - t0, &r);
    if (sim_result_print(&w, &r) < 0) rc = 1;
    if (o.per_host && sim_per_host_write(&w, o.per_host) < 0) {
        fprintf(stderr, "shoal-sim: cannot write %s\n", o.per_host);
        rc = 1;
    }
    if (r.incomplete) rc = 1;
    sim_world_free(&w);
    return rc ? 1 : 0;
}
