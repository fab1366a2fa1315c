"""run_shoal.py — the swarm run with shoal: one `shoal seed`, N `shoal get`.

Every downloader is `shoal get -t TRACKER --seed-for ... --timeout 0 --json`
on its own address, capped up and down at B. Its completion time is the
moment its output file appeared: `shoal get` writes DIR/<name>.part and
renames it to DIR/<name> once every piece is verified and the file flushed,
and a rename sets the file's ctime, read with nanosecond resolution (so the
0.1 s polling does not blur it). The JSON `seconds` of each getter (from its
own start) is kept as a cross-check.
"""

import json
import os

from .plan import PEER_PORT
from .run_common import SwarmRun

SEED_FOR = 86400  # the benchmark stops the getters itself once all are done


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return {}
    return {}


class ShoalRun(SwarmRun):
    client = "shoal"

    def __init__(self, cfg, addrs, procs, work, log, torrent, data_path, name):
        super().__init__(cfg, addrs, procs, work, log)
        self.torrent = torrent
        self.data_path = data_path
        self.name = name
        self.getters = []
        self.dirs = []
        self.pending_start = set()
        self.pending_done = set()
        self.origin = None

    def rate_args(self, up):
        return ["--upload-limit", str(up), "--download-limit", str(self.cfg.rate)]

    def start_getters(self):
        url = self.addrs.tracker_url()
        for i in range(self.n):
            d = os.path.join(self.work, "g%04d" % i)
            os.makedirs(d, exist_ok=True)
            argv = [self.cfg.shoal, "get", "-o", d, "-l", "%s:%d" % (self.addrs.getter(i), PEER_PORT),
                    "-t", url, "--seed-for", str(SEED_FOR), "--timeout", "0", "--json"]
            argv += self.rate_args(self.cfg.rate) + self.cfg.shoal_args + [self.torrent]
            self.getters.append(self.procs.spawn("shoal-g%04d" % i, argv, nice=self.cfg.getter_nice))
            self.dirs.append(d)
        self.pending_start = set(range(self.n))
        self.pending_done = set(range(self.n))

    def getters_started(self):
        for i in list(self.pending_start):
            if "listening on" in self.getters[i].stdout():
                self.pending_start.discard(i)
        return not self.pending_start

    def watched(self):
        return self.getters + [self.tracker]

    def release_origin(self):
        argv = [self.cfg.shoal, "seed", "-l", "%s:%d" % (self.addrs.origin, PEER_PORT),
                "-t", self.addrs.tracker_url(), "--json"]
        argv += self.rate_args(self.cfg.origin_rate) + self.cfg.shoal_args
        argv += [self.torrent, self.data_path]
        self.origin = self.procs.spawn("shoal-origin", argv, nice=self.cfg.host_nice)

    def origin_proc(self):
        return self.origin

    def poll_done(self):
        out = {}
        for i in list(self.pending_done):
            try:
                st = os.stat(os.path.join(self.dirs[i], self.name))
            except FileNotFoundError:
                continue
            out[i] = st.st_ctime_ns / 1e9 - self.t0_unix
            self.pending_done.discard(i)
        return out

    def check_alive(self):
        if self.origin is not None and not self.origin.poll() and "origin" not in self.failures:
            self.failures.append("origin")
            self.log("  origin exited (rc %s): %s" % (self.origin.rc, self.origin.stderr()[-500:]))
        for i in list(self.pending_done):
            if not self.getters[i].poll():
                self.pending_done.discard(i)
                self.failures.append("g%04d rc %s" % (i, self.getters[i].rc))
                self.log("  getter %d exited early (rc %s): %s" %
                         (i, self.getters[i].rc, self.getters[i].stderr()[-300:]))

    def finish(self):
        self.procs.stop(self.getters, grace=20)
        if self.origin is not None:
            self.procs.stop([self.origin], grace=10)
        for p in self.getters + [self.origin]:
            self.check_sanitizer(p)
        hosts = []
        for i, p in enumerate(self.getters):
            j = last_json(p.stdout())
            secs = j.get("seconds")
            hosts.append({
                "host": self.addrs.getter(i), "pid": p.pid,
                "done_s": self.done.get(i),
                # the getter's own clock starts at its exec, a few ms after spawn
                "done_json_s": (p.spawned_unix + secs - self.t0_unix
                                if secs is not None and i in self.done else None),
                "down_bytes": j.get("down_bytes"),
                "up_bytes": j.get("up_bytes"),
                "wasted_bytes": j.get("wasted_bytes"),
                "peers": j.get("peers"),
                "announce_failures": p.stderr().count("announce failed"),
                "cpu_s": p.cpu_s,
                "mem_end_kib": p.mem,
                "rc": p.rc,
            })
        origin = {}
        if self.origin is not None:
            j = last_json(self.origin.stdout())
            origin = {"host": self.addrs.origin, "pid": self.origin.pid, "up_bytes": j.get("up_bytes"),
                      "wire_up": j.get("wire_up"), "peers": j.get("peers"),
                      "cpu_s": self.origin.cpu_s, "mem_end_kib": self.origin.mem,
                      "rc": self.origin.rc}
        return hosts, origin
