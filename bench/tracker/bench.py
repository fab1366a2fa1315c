#!/usr/bin/python3
"""Tracker benchmark: `shoal tracker` and opentracker side by side, same run.

    /usr/bin/python3 bench/tracker/bench.py [--shoal build/shoal] [--seconds 5]
                                            [--conns 64] [--rounds 3]
                                            [--peers 100000,1000000]

Throughput: announces per second on loopback for three client kinds, each
from CONNS concurrent clients on distinct source addresses (127.2.0.1
upward):
  http   keep-alive HTTP/1.1 connections, one announce after another
  close  a new TCP connection per announce
  udp    BEP 15, a window of 8 announces in flight per client socket
Each run also reads the server's CPU time from /proc, so besides the rate it
prints the server's CPU microseconds per announce: on a machine shared with
other work the rate follows the CPU the server happens to get, the cost per
announce much less so. Runs alternate between the servers, RUNS times each;
the figures are medians, the ratio is shoal's over opentracker's (rate) or
opentracker's over shoal's (cost), so above 1 means shoal is ahead.

Memory: the resident-set growth of a fresh server after PEERS distinct peers
(1000 source addresses × PEERS/1000 ports, over 100 swarms) announced over
UDP, for each PEERS given: shoal as it runs by default (peer ids kept),
shoal --no-peer-ids, and opentracker. Each server is asked how many peers it
tracks (shoal's /stats.json; opentracker's /stats?mode=peer from an admin
address), so a fill that lost peers shows.

The load generator (loadgen.c, compiled here with cc) is one thread, the
server under test another: on a 2-core machine each gets at most one core.
The generator's own CPU cost per announce is printed too: when it is close
to the server's, the rate is the generator's limit, and the cost per
announce is the figure to compare. shoal runs with --ip-rate 0 (the flood
gate would otherwise throttle the generator's addresses) and opentracker,
built closed on Debian, with a whitelist of the swarms used.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHOAL_HOST, OT_HOST, ADMIN_HOST = "127.0.1.1", "127.0.1.2", "127.0.1.9"
SWARMS = 100
FILL_SOURCES = 1000
TICK = os.sysconf("SC_CLK_TCK")


def info_hash(k):
    """Swarm k's hash, exactly as loadgen.c makes it."""
    return k.to_bytes(4, "big") + bytes((0x5A + 7 * i) & 255 for i in range(4, 20))


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind((host, port))
    return port


def wait_listen(host, port, proc, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"server exited early with {proc.returncode}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{host}:{port} never listened")


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Server:
    def __init__(self, name, args, host, port, cwd):
        self.name, self.host, self.port = name, host, port
        self.log = open(Path(cwd) / f"{name}.log", "wb")
        self.p = subprocess.Popen(args, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        wait_listen(host, port, self.p)

    def tracked(self):
        raise NotImplementedError

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()


class Shoal(Server):
    def tracked(self):
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/stats.json") as f:
            return json.load(f)["peers"]


class Opentracker(Server):
    def tracked(self):
        c = http.client.HTTPConnection(self.host, self.port, timeout=5,
                                       source_address=(ADMIN_HOST, 0))
        try:
            c.request("GET", "/stats?mode=peer")
            lines = c.getresponse().read().decode(errors="replace").split()
            return int(lines[0]) if lines and lines[0].isdigit() else None
        except OSError:
            return None
        finally:
            c.close()


def start_shoal(shoal, tmp, name="shoal", *extra):
    port = free_port(SHOAL_HOST)
    args = [shoal, "tracker", "-l", f"{SHOAL_HOST}:{port}", "--udp", f"{SHOAL_HOST}:{port}",
            "--ip-rate", "0", "--max-conns", "8192", *extra]
    return Shoal(name, args, SHOAL_HOST, port, tmp)


def start_opentracker(tmp):
    port = free_port(OT_HOST)
    wl = Path(tmp) / "whitelist"
    wl.write_text("".join(info_hash(k).hex() + "\n" for k in range(SWARMS)))
    args = ["opentracker", "-i", OT_HOST, "-p", str(port), "-P", str(port), "-w", str(wl),
            "-A", ADMIN_HOST]
    srv = Opentracker("opentracker", args, OT_HOST, port, tmp)
    # It reads the whitelist in a thread after it starts listening: until
    # then every announce is "not authorized". Wait for a real answer.
    q = ("/announce?info_hash=" + "".join(f"%{b:02x}" for b in info_hash(0)) +
         "&peer_id=-BENCH0-000000000000&port=1&uploaded=0&downloaded=0&left=0&event=stopped")
    end = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"http://{OT_HOST}:{port}{q}") as f:
            if b"failure reason" not in f.read():
                return srv
        if time.monotonic() > end:
            srv.stop()
            sys.exit("opentracker never accepted the whitelisted hashes")
        time.sleep(0.1)


def loadgen(exe, mode, srv, seconds, conns, peers=10000, base="127.2.0.1"):
    cpu0 = cpu_seconds(srv.p.pid)
    out = subprocess.run([exe, mode, f"{srv.host}:{srv.port}", "-t", str(seconds), "-c",
                          str(conns), "-s", str(SWARMS), "-n", str(peers), "-b", base],
                         capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode:
        sys.exit(f"loadgen failed: {out.stderr}")
    r = json.loads(out.stdout)
    r["server_cpu_s"] = cpu_seconds(srv.p.pid) - cpu0
    return r


def us_per(r, key):
    return r[key] * 1e6 / r["ok"] if r["ok"] else float("nan")


def throughput(args, exe, tmp):
    servers = [start_shoal(args.shoal, tmp)]
    if not args.skip_opentracker:
        servers.append(start_opentracker(tmp))
    results = {}
    try:
        for mode in ("http", "close", "udp"):
            for _ in range(args.rounds):
                for srv in servers:  # alternate, so drifting machine load hits both
                    r = loadgen(exe, mode, srv, args.seconds, args.conns)
                    if r["errors"] or r["failures"]:
                        print(f"  note: {srv.name} {mode}: {r}", file=sys.stderr)
                    results.setdefault((mode, srv.name), []).append(r)
    finally:
        for s in servers:
            s.stop()
    return [s.name for s in servers], results


def fill(args, exe, tmp, kind, peers):
    if kind == "opentracker":
        srv = start_opentracker(tmp)
    else:  # a long interval: nothing may expire while a big fill runs
        extra = ["--interval", "3600", "--max-peers", str(max(peers, 1000000))]
        if kind == "shoal --no-peer-ids":
            extra.append("--no-peer-ids")
        srv = start_shoal(args.shoal, tmp, "shoal", *extra)
    try:
        time.sleep(0.3)
        before = rss_kib(srv.p.pid)
        r = loadgen(exe, "fill", srv, 600, FILL_SOURCES, peers=peers, base="127.3.0.1")
        time.sleep(0.3)
        after = rss_kib(srv.p.pid)
        return {"before_kib": before, "after_kib": after, "fill": r, "tracked": srv.tracked()}
    finally:
        srv.stop()


def median(runs, f):
    return statistics.median(f(r) for r in runs)


def print_throughput(args, names, res):
    labels = {"http": "HTTP keep-alive", "close": "HTTP new connection each",
              "udp": "UDP (BEP 15)"}
    both = "opentracker" in names
    print(f"announces/s, {args.conns} concurrent clients, {args.seconds:g} s per run, "
          f"median of {args.rounds}")
    print(f"{'client':<26}" + "".join(f"{n:>13}" for n in names) +
          (f"{'ratio':>8}" if both else ""))
    for mode in ("http", "close", "udp"):
        rates = [median(res[(mode, n)], lambda r: r["rps"]) for n in names]
        row = f"{labels[mode]:<26}" + "".join(f"{v:>13,.0f}" for v in rates)
        if both:
            row += f"{rates[0] / rates[1]:>8.2f}"
        print(row)
    print(f"\nserver CPU µs per announce (generator's in brackets), median of {args.rounds}")
    print(f"{'client':<26}" + "".join(f"{n:>16}" for n in names) +
          (f"{'ratio':>8}" if both else ""))
    for mode in ("http", "close", "udp"):
        cost = [median(res[(mode, n)], lambda r: us_per(r, "server_cpu_s")) for n in names]
        gen = [median(res[(mode, n)], lambda r: us_per(r, "cpu_s")) for n in names]
        row = f"{labels[mode]:<26}" + "".join(f"{c:>9.2f} [{g:4.1f}]" for c, g in zip(cost, gen))
        if both:
            row += f"{cost[1] / cost[0]:>8.2f}"
        print(row)
    per = "  ".join(f"{n} {median(res[('udp', n)], lambda r: r['peers_per_answer']):.1f}"
                    for n in names)
    print(f"  (UDP peers per answer: {per})")
    if both and res[("http", "opentracker")][0]["reconnects"]:
        print("  (opentracker closes every HTTP connection after one answer: its keep-alive "
              "row is really new connections)")


def print_memory(args, exe, tmp, names):
    kinds = ["shoal", "shoal --no-peer-ids"] + (["opentracker"] if "opentracker" in names else [])
    for peers in args.peers:
        print(f"\nmemory for {peers:,} tracked peers (UDP announces, RSS growth)")
        for kind in kinds:
            m = fill(args, exe, tmp, kind, peers)
            delta = m["after_kib"] - m["before_kib"]
            tracked = f", tracks {m['tracked']:,}" if m["tracked"] is not None else ""
            done = "" if m["fill"]["complete"] else " (fill incomplete!)"
            print(f"  {kind:<20} {m['before_kib'] / 1024:6.1f} → {m['after_kib'] / 1024:6.1f} MiB: "
                  f"+{delta / 1024:6.1f} MiB, {delta * 1024 / peers:5.1f} B/peer{tracked}{done}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shoal", default=os.environ.get("SHOAL_BIN", str(REPO / "build" / "shoal")))
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peers", default="100000,1000000",
                    help="comma-separated peer counts for the memory test (multiples of 1000)")
    ap.add_argument("--skip-opentracker", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    args.peers = [int(p) for p in args.peers.split(",") if p]
    if any(p < FILL_SOURCES or p % FILL_SOURCES for p in args.peers):
        sys.exit(f"--peers: each count must be a multiple of {FILL_SOURCES}")
    if not shutil.which("opentracker"):
        args.skip_opentracker = True
    tmp = tempfile.mkdtemp(prefix="shoal-bench-tracker-")
    os.chmod(tmp, 0o755)  # opentracker drops to "nobody" before it reads its whitelist
    exe = str(Path(tmp) / "loadgen")
    subprocess.run(["cc", "-O2", "-o", exe, str(HERE / "loadgen.c")], check=True)

    load0 = os.getloadavg()
    names, res = throughput(args, exe, tmp)
    print_throughput(args, names, res)
    if not args.skip_memory:
        print_memory(args, exe, tmp, names)
    load1 = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} cores; load average (1, 5, 15 min) "
          f"{' '.join(f'{x:.2f}' for x in load0)} at the start, "
          f"{' '.join(f'{x:.2f}' for x in load1)} at the end")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
