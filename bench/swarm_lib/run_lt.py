"""run_lt.py — the same swarm run with libtorrent peers (bench/swarm_lib/lt_host.py).

The N getters live in ceil(N/K) Python processes of K libtorrent sessions
each (K = --lt-per-proc; 1 means one process per peer, the fair analogue of
one `shoal get` each). Every session has its own address and its own caps,
so the swarm is the same; only CPU and memory accounting is per process.
A getter's completion time is when its torrent_finished_alert was seen
(every piece verified; the hosting process polls its sessions every 50 ms).
Unlike shoal, libtorrent does not flush the file to disk before that.
"""

import json
import os
import signal
import subprocess

from .plan import PEER_PORT
from .run_common import SwarmRun

LT_HOST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lt_host.py")
PYTHON = "/usr/bin/python3"  # Debian's python3-libtorrent is built for it


class EventLog:
    """Reads the JSON lines a worker appends to its stdout file, as they come."""

    def __init__(self, proc):
        self.proc = proc
        self.offset = 0
        self.partial = b""

    def new_events(self):
        try:
            with open(self.proc.out_path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return []
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


class LtRun(SwarmRun):
    client = "libtorrent"

    def __init__(self, cfg, addrs, procs, work, log, torrent, data_dir):
        super().__init__(cfg, addrs, procs, work, log)
        self.torrent = torrent
        self.data_dir = data_dir
        self.workers = []      # (proc, EventLog, [getter indices])
        self.index_of = {}     # ip -> getter index
        self.ready = set()     # workers (by position) that said ready
        self.finals = {}       # ip -> final counters
        self.errors = []
        self.origin = None
        self.origin_log = None
        self.origin_ready = False

    def common_args(self, role, up):
        args = [PYTHON, LT_HOST, "--role", role, "--torrent", self.torrent,
                "--tracker", self.addrs.tracker_url(), "--down-rate", str(self.cfg.rate),
                "--up-rate", str(up), "--interval", str(self.cfg.interval)]
        for item in self.cfg.lt_setting:
            args += ["--setting", item]
        return args

    def start_getters(self):
        origin_argv = self.common_args("origin", self.cfg.origin_rate)
        origin_argv += ["--host", "%s:%d:%s" % (self.addrs.origin, PEER_PORT, self.data_dir)]
        self.origin = self.procs.spawn("libtorrent-origin", origin_argv, nice=self.cfg.host_nice)
        self.origin_log = EventLog(self.origin)
        k = self.cfg.lt_per_proc
        for w, first in enumerate(range(0, self.n, k)):
            members = list(range(first, min(first + k, self.n)))
            argv = self.common_args("getter", self.cfg.rate)
            for i in members:
                d = os.path.join(self.work, "g%04d" % i)
                os.makedirs(d, exist_ok=True)
                ip = self.addrs.getter(i)
                self.index_of[ip] = i
                argv += ["--host", "%s:%d:%s" % (ip, PEER_PORT, d)]
            p = self.procs.spawn("libtorrent-w%04d" % w, argv, nice=self.cfg.getter_nice)
            self.workers.append((p, EventLog(p), members))

    def _drain(self, log_, on_event):
        for ev in log_.new_events():
            on_event(ev)

    def getters_started(self):
        self._drain(self.origin_log, self.on_origin_event)
        for w, (p, ev, _) in enumerate(self.workers):
            if w not in self.ready:
                self._drain(ev, lambda e, w=w: self.on_event(e, w))
        return len(self.ready) == len(self.workers) and self.origin_ready

    def on_origin_event(self, ev):
        if ev.get("event") == "ready":
            self.origin_ready = True
        elif ev.get("event") == "final":
            self.finals["origin"] = ev
        elif ev.get("event") == "error":
            self.errors.append("origin: %s" % ev.get("msg"))

    def on_event(self, ev, w):
        kind = ev.get("event")
        if kind == "ready":
            self.ready.add(w)
        elif kind == "done" and ev.get("host") in self.index_of:
            i = self.index_of[ev["host"]]
            self.done.setdefault(i, ev["t"] - self.t0_unix)
        elif kind == "final":
            self.finals[ev.get("host")] = ev
        elif kind == "error" and len(self.errors) < 200:
            self.errors.append("%s: %s" % (ev.get("host"), ev.get("msg")))

    def watched(self):
        return [p for p, _, _ in self.workers] + [self.origin, self.tracker]

    def release_origin(self):
        self.origin.signal(signal.SIGUSR1)

    def origin_proc(self):
        return self.origin

    def poll_done(self):
        for w, (p, ev, _) in enumerate(self.workers):
            self._drain(ev, lambda e, w=w: self.on_event(e, w))
        self._drain(self.origin_log, self.on_origin_event)
        return {}  # on_event fills self.done directly

    def check_alive(self):
        for p, _, members in self.workers:
            if not p.poll() and any(i not in self.done for i in members):
                tag = "%s rc %s" % (p.name, p.rc)
                if tag not in self.failures:
                    self.failures.append(tag)
                    self.log("  %s exited early: %s" % (p.name, p.stderr()[-300:]))

    def finish(self):
        self.procs.stop([p for p, _, _ in self.workers], grace=30)
        self.procs.stop([self.origin], grace=10)
        self.poll_done()
        if self.errors:
            self.log("  libtorrent reported %d error(s), first: %s" % (len(self.errors), self.errors[0]))
        hosts = []
        for p, _, members in self.workers:
            for i in members:
                ip = self.addrs.getter(i)
                f = self.finals.get(ip, {})
                hosts.append({
                    "host": ip, "pid": p.pid, "done_s": self.done.get(i),
                    "down_bytes": f.get("down_bytes"), "up_bytes": f.get("up_bytes"),
                    "peers": f.get("peers"), "process": p.name,
                    "cpu_s": p.cpu_s, "mem_end_kib": p.mem,
                    "rc": p.rc,
                })
        hosts.sort(key=lambda h: self.index_of[h["host"]])
        f = self.finals.get("origin", {})
        origin = {"host": self.addrs.origin, "pid": self.origin.pid, "up_bytes": f.get("up_bytes"),
                  "wire_up": f.get("wire_up"), "peers": f.get("peers"),
                  "cpu_s": self.origin.cpu_s, "mem_end_kib": self.origin.mem,
                  "rc": self.origin.rc}
        return hosts, origin


def libtorrent_available():
    """True if Debian's python3-libtorrent can be imported by PYTHON."""
    try:
        r = subprocess.run([PYTHON, "-c", "import libtorrent"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0
