"""run_common.py — one swarm run, whatever the client: the start protocol and the clock.

What "started together" means here (the same for shoal and libtorrent):

 1. The tracker starts (`shoal tracker`, a fresh one per run).
 2. The N downloaders start and announce. They find each other through the
    tracker and may connect, but there is nothing to trade: no host has data.
    The run waits until every downloader is up and the tracker counts N
    leechers, then one more settle second.
 3. T0: the origin is released. For shoal, `shoal seed` is started at T0
    (its data check of F, tens of milliseconds, counts against shoal); the
    libtorrent origin has checked its data before T0 and announces at T0.
 4. Each downloader's completion time is measured from T0 (see the client
    modules for the exact moment). Downloaders keep serving once complete,
    as the hosts of a fleet do, until every one is done (or the deadline).

So the clock starts when a file is published to a fleet that is already
running, and the start-up of 1000 processes on a 2-core machine (seconds)
is kept out of the times, as it would be on 1000 real machines.
"""

import json
import resource
import time
import urllib.request

from . import cpu
from .plan import TRACKER_PORT, percentile


def _self_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class RunFailed(Exception):
    pass


class SwarmRun:
    """Subclasses provide: start_getters, getters_started, release_origin,
    poll_done (hosts newly complete: {index: seconds since T0}),
    finish (stop every process, return per-host and origin byte counts)."""

    client = "?"

    def __init__(self, cfg, addrs, procs, work, log):
        self.cfg = cfg
        self.addrs = addrs
        self.procs = procs
        self.work = work
        self.log = log
        self.n = cfg.peers
        self.done = {}          # getter index -> seconds since T0
        self.t0_unix = None
        self.tracker = None
        self.failures = []
        self.harness_cpu = 0.0

    # ---------------------------------------------------------------- tracker

    def start_tracker(self):
        argv = [self.cfg.shoal, "tracker", "-l", "%s:%d" % (self.addrs.tracker, TRACKER_PORT),
                "--interval", str(self.cfg.interval), "--policy", self.cfg.tracker_policy]
        argv += self.cfg.tracker_arg
        self.tracker = self.procs.spawn("%s-tracker" % self.client, argv, nice=self.cfg.host_nice)
        if not self.tracker.nice_ok:
            self.log("  note: cannot raise the tracker's priority (nice %d needs CAP_SYS_NICE): "
                     "with N in the hundreds its announces may time out" % self.cfg.host_nice)
        self._wait(lambda: "tracker listening on" in self.tracker.stdout(), 10,
                   "the tracker to listen", [self.tracker])

    def tracker_stats(self):
        url = "http://%s:%d/stats.json" % (self.addrs.tracker, TRACKER_PORT)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return {}

    def leechers(self):
        """Leechers the tracker counts in the swarm of our info-hash.

        Not the tracker-wide total: libtorrent announces a hybrid torrent
        under both its v1 and its v2 hash, so it is counted twice there."""
        for t in self.tracker_stats().get("torrents", []):
            if t.get("info_hash") == self.cfg.tracker_hash:
                return t.get("leechers", 0)
        return 0

    # ---------------------------------------------------------------- helpers

    def _wait(self, pred, timeout, what, watch=()):
        deadline = time.monotonic() + timeout
        while not pred():
            for p in watch:
                if not p.poll():
                    raise RunFailed("%s exited (rc %s) while waiting for %s:\n%s" %
                                    (p.name, p.rc, what, p.stderr()[-2000:]))
            if time.monotonic() > deadline:
                raise RunFailed("timed out after %.0f s waiting for %s" % (timeout, what))
            time.sleep(0.1)

    # ---------------------------------------------------------------- the run

    def run(self):
        self.start_tracker()
        t_start = time.monotonic()
        self.start_getters()
        self._wait(self.getters_started, self.cfg.startup_timeout,
                   "%d %s downloaders to start" % (self.n, self.client), self.watched())
        self._wait(lambda: self.leechers() >= self.n,
                   self.cfg.startup_timeout, "the tracker to count %d leechers" % self.n,
                   self.watched())
        startup_s = time.monotonic() - t_start
        self.log("  %d downloaders up and announced in %.1f s; settling 1 s" % (self.n, startup_s))
        time.sleep(1.0)

        cpu0 = {p.pid: p.cpu_now() for p in self.procs.live()}
        machine = cpu.MachineSampler()
        self.t0_unix = time.time()
        t0 = time.monotonic()
        self.release_origin()
        harness0 = _self_cpu()
        deadline = t0 + self.cfg.deadline
        last_report = last_alive = t0
        # completion stamps are exact (file ctime, the worker's clock), so
        # polling slower for big fleets loses nothing but costs less CPU
        period = 0.1 if self.n <= 200 else 0.5
        while len(self.done) < self.n and time.monotonic() < deadline:
            time.sleep(period)
            machine.tick()
            for i, secs in self.poll_done().items():
                self.done.setdefault(i, secs)
            if time.monotonic() - last_alive >= 1:
                last_alive = time.monotonic()
                self.check_alive()
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                self.log("  %5.0f s  %d/%d complete" % (last_report - t0, len(self.done), self.n))
        window_s = time.monotonic() - t0
        harness_cpu = _self_cpu() - harness0
        machine_share = machine.share()
        live = self.procs.live()
        cpu1 = {p.pid: p.cpu_now() for p in live}
        for p in live:
            p.mem = p.mem_now()
        own_cpu = sum(cpu1[pid] - (cpu0.get(pid) or 0.0) for pid in cpu1
                      if cpu1[pid] is not None)
        if len(self.done) < self.n:
            self.log("  deadline: %d of %d complete after %.0f s" %
                     (len(self.done), self.n, window_s))

        hosts, origin = self.finish()
        for h in hosts:  # completions seen while stopping, after the deadline, do not count
            if h["done_s"] is not None and h["done_s"] > window_s:
                h["done_after_deadline_s"], h["done_s"] = h["done_s"], None
        self.tracker_end = self.tracker_stats()
        self.procs.stop([self.tracker])
        self.check_sanitizer(self.tracker)
        self.harness_cpu = harness_cpu
        return self.result(hosts, origin, startup_s, window_s, own_cpu, machine_share, machine)

    def check_sanitizer(self, p):
        """A sanitizer build's report in p's stderr fails the run."""
        if p is not None and any(m in p.stderr() for m in SANITIZER_MARKERS):
            self.failures.append("%s: sanitizer report" % p.name)

    def watched(self):
        """Processes whose early exit fails the start-up."""
        return []

    def check_alive(self):
        """Notes getters that exited before completing (they will count as incomplete)."""

    # ---------------------------------------------------------------- result

    def result(self, hosts, origin, startup_s, window_s, own_cpu, machine_share, machine):
        cfg = self.cfg
        times = sorted(h["done_s"] for h in hosts if h["done_s"] is not None)
        procs = [p for p in self.procs.all if p is not self.tracker and p.name.startswith(self.client)]
        # Peak RSS is VmHWM read when the run ended, not wait4's ru_maxrss:
        # a posix_spawn child shares the spawner's memory until exec, and
        # Linux carries that high-water mark across exec into ru_maxrss.
        rss = sorted(p.mem["VmHWM"] for p in procs if "VmHWM" in p.mem)
        getters = [p for p in procs if p is not self.origin_proc()]
        getter_rss = sorted(p.mem["VmHWM"] for p in getters if "VmHWM" in p.mem)
        anon = sorted(p.mem["RssAnon"] for p in getters if "RssAnon" in p.mem)
        summary = {
            "complete": len(times),
            "p50_s": percentile(times, 50),
            "p90_s": percentile(times, 90),
            "p99_s": percentile(times, 99),
            "max_s": times[-1] if len(times) == self.n else None,
            "slowest_complete_s": times[-1] if times else None,
            "origin_up_bytes": origin.get("up_bytes"),
            "origin_up_over_F": (origin["up_bytes"] / cfg.size
                                 if origin.get("up_bytes") is not None else None),
            "cpu_total_s": round(sum(p.cpu_s or 0.0 for p in procs), 2),
            "cpu_tracker_s": round(self.tracker.cpu_s or 0.0, 2),
            "cpu_window_s": round(own_cpu, 2),
            "cpu_share": own_cpu / (window_s * cpu.ncpu()) if window_s > 0 else None,
            "harness_cpu_window_s": round(self.harness_cpu, 2),
            "machine_busy_share": machine_share,
            "machine_busy_peak_1s": machine.peak,
            "processes": len(procs),
            "rss_max_kib": rss[-1] if rss else None,
            "rss_median_kib": percentile(getter_rss, 50),
            "rss_anon_max_kib": anon[-1] if anon else None,
            "rss_anon_median_kib": percentile(anon, 50),
            "rss_anon_total_kib": sum(anon) + (self.origin_proc().mem.get("RssAnon", 0)
                                               if self.origin_proc() else 0),
            "startup_s": round(startup_s, 2),
            "window_s": round(window_s, 2),
        }
        return {
            "client": self.client,
            "n": self.n,
            "t0_unix": self.t0_unix,
            "summary": summary,
            "hosts": hosts,
            "origin": origin,
            "tracker": {"host": self.addrs.tracker, "pid": self.tracker.pid,
                        "cpu_s": self.tracker.cpu_s, "rc": self.tracker.rc,
                        "stats_at_end": {k: self.tracker_end.get(k) for k in
                                         ("announces", "refused", "http_connections", "completed")}},
            "machine_busy_series": machine.series,
            "failures": self.failures,
        }

    def origin_proc(self):
        return None
