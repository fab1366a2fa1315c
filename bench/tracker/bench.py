#!/usr/bin/python3
"""Tracker benchmark: `shoal tracker` and opentracker side by side, same run.

    /usr/bin/python3 bench/tracker/bench.py [--shoal build/shoal] [--seconds 5]
                                            [--conns 64] [--rounds 1] [--peers 100000]

Prints announces per second on loopback for three client kinds, each from
CONNS concurrent clients on distinct source addresses (127.2.0.1 upward):
  http   keep-alive HTTP/1.1 connections, one announce after another
  close  a new TCP connection per announce
  udp    BEP 15, a window of 8 announces in flight per client socket
and the memory of 100 000 tracked peers: the resident-set growth of a fresh
tracker after PEERS distinct peers (1000 source addresses × 100 ports, over
100 swarms) announced over UDP.

The load generator (loadgen.c, compiled here with cc) is one thread, the
server under test another: on a 2-core machine the figures are a lower
bound shaped by the machine's other load; compare the columns, not the
absolute numbers across machines. shoal runs with --ip-rate 0 (the flood
gate would otherwise throttle the load generator's addresses) and
opentracker, built closed on Debian, with a whitelist of the swarms used.
"""

import argparse
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
SHOAL_HOST, OT_HOST = "127.0.1.1", "127.0.1.2"
SWARMS = 100


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


class Server:
    def __init__(self, name, args, host, port, cwd):
        self.name, self.host, self.port = name, host, port
        self.log = open(Path(cwd) / f"{name}.log", "wb")
        self.p = subprocess.Popen(args, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        wait_listen(host, port, self.p)

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()


def start_shoal(shoal, tmp, *extra):
    port = free_port(SHOAL_HOST)
    args = [shoal, "tracker", "-l", f"{SHOAL_HOST}:{port}", "--udp", f"{SHOAL_HOST}:{port}",
            "--ip-rate", "0", "--max-conns", "8192", *extra]
    return Server("shoal", args, SHOAL_HOST, port, tmp)


def start_opentracker(tmp):
    port = free_port(OT_HOST)
    wl = Path(tmp) / "whitelist"
    wl.write_text("".join(info_hash(k).hex() + "\n" for k in range(SWARMS)))
    args = ["opentracker", "-i", OT_HOST, "-p", str(port), "-P", str(port), "-w", str(wl)]
    srv = Server("opentracker", args, OT_HOST, port, tmp)
    # It reads the whitelist in a thread after it starts listening: until
    # then every announce is "not authorized". Wait for a real answer.
    q = ("/announce?info_hash=" + "".join(f"%{b:02x}" for b in info_hash(0)) +
         "&peer_id=-BENCH0-000000000000&port=1&uploaded=0&downloaded=0&left=0")
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
    out = subprocess.run([exe, mode, f"{srv.host}:{srv.port}", "-t", str(seconds), "-c",
                          str(conns), "-s", str(SWARMS), "-n", str(peers), "-b", base],
                         capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode:
        sys.exit(f"loadgen failed: {out.stderr}")
    return json.loads(out.stdout)


def throughput(args, exe, tmp):
    servers = [start_shoal(args.shoal, tmp)]
    if not args.skip_opentracker:
        servers.append(start_opentracker(tmp))
    results = {}
    try:
        for mode in ("http", "close", "udp"):
            for rnd in range(args.rounds):
                for srv in servers:  # alternate, so drifting machine load hits both
                    r = loadgen(exe, mode, srv, args.seconds, args.conns)
                    if r["errors"] or r["failures"]:
                        print(f"  note: {srv.name} {mode}: {r}", file=sys.stderr)
                    results.setdefault((mode, srv.name), []).append(r)
    finally:
        for s in servers:
            s.stop()
    return [s.name for s in servers], results


def memory(args, exe, tmp, name):
    srv = start_shoal(args.shoal, tmp) if name == "shoal" else start_opentracker(tmp)
    try:
        time.sleep(0.3)
        before = rss_kib(srv.p.pid)
        r = loadgen(exe, "fill", srv, 60, 1000, peers=args.peers, base="127.3.0.1")
        time.sleep(0.3)
        after = rss_kib(srv.p.pid)
        tracked = None
        if name == "shoal":
            with urllib.request.urlopen(f"http://{srv.host}:{srv.port}/stats.json") as f:
                tracked = json.load(f)["peers"]
        return {"before_kib": before, "after_kib": after, "fill": r, "tracked": tracked}
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shoal", default=os.environ.get("SHOAL_BIN", str(REPO / "build" / "shoal")))
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--peers", type=int, default=100000)
    ap.add_argument("--skip-opentracker", action="store_true")
    args = ap.parse_args()
    if not shutil.which("opentracker"):
        args.skip_opentracker = True
    tmp = tempfile.mkdtemp(prefix="shoal-bench-tracker-")
    os.chmod(tmp, 0o755)  # opentracker drops to "nobody" before it reads its whitelist
    exe = str(Path(tmp) / "loadgen")
    subprocess.run(["cc", "-O2", "-o", exe, str(HERE / "loadgen.c")], check=True)

    names, res = throughput(args, exe, tmp)
    print(f"announces/s, {args.conns} concurrent clients, {args.seconds:g} s per run, "
          f"median of {args.rounds}")
    print(f"{'client':<28}" + "".join(f"{n:>14}" for n in names))
    labels = {"http": "HTTP keep-alive", "close": "HTTP new connection each",
              "udp": "UDP (BEP 15)"}
    for mode in ("http", "close", "udp"):
        row = f"{labels[mode]:<28}"
        for n in names:
            runs = res[(mode, n)]
            row += f"{statistics.median(r['rps'] for r in runs):>14,.0f}"
        print(row)
    if "opentracker" in names and res[("http", "opentracker")][0]["reconnects"]:
        print("  (opentracker closes every HTTP connection after one answer: its keep-alive "
              "row is really new connections)")

    print(f"\nmemory for {args.peers:,} tracked peers (UDP announces, RSS growth)")
    for n in names:
        m = memory(args, exe, tmp, n)
        delta = m["after_kib"] - m["before_kib"]
        extra = f", tracker reports {m['tracked']:,} peers" if m["tracked"] is not None else ""
        done = "" if m["fill"]["complete"] else " (fill incomplete!)"
        print(f"  {n:<12} {m['before_kib'] / 1024:7.1f} MiB → {m['after_kib'] / 1024:7.1f} MiB: "
              f"+{delta / 1024:.1f} MiB, {delta * 1024 / args.peers:.0f} B/peer"
              f"{extra}{done}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
