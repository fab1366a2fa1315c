"""Helpers for the DHT integration tests: a driver for `shoal dht --control`
and a few raw KRPC pieces (bencode comes from shoal_bencode).

`shoal dht --control` reads commands on stdin and prints its answers on
stdout, which the `procs` fixture sends to a log file; DhtFleet writes
commands into the pipe and parses the log as it grows.
"""

import re
import socket
import subprocess
import time

import pytest

import shoal_bencode as bc
from conftest import scaled

NODE_RE = re.compile(r"^dht node ([0-9a-f]{40}) listening on (\S+)$")
FOUND_RE = re.compile(r"^found ([0-9a-f]{40}) (\S+) node=(\d+) search=(\d+)$")
DONE_RE = re.compile(r"^done ([0-9a-f]{40}) node=(\d+) search=(\d+) hops=(\d+) queried=(\d+)$")
STATS_RE = re.compile(r"^stats node=(\d+) (.*)$")


class DhtFleet:
    """One `shoal dht --control` process (possibly --nodes N) under the test's procs."""

    def __init__(self, procs, shoal_bin, listen, nodes=1, extra=(), name="dht"):
        args = [shoal_bin, "dht", "-l", listen, "--control", "--stats-every", "0"]
        if nodes > 1:
            args += ["--nodes", str(nodes)]
        args += list(extra)
        self.proc = procs.start(args, name=name, stdin=subprocess.PIPE)
        self.count = nodes
        self.pos = 0
        self.lines = []
        self.nodes = {}  # index -> (id hex, addr)
        self.wait_for(lambda: len(self._node_lines()) >= nodes, 20, f"{nodes} nodes to start")
        for i, (nid, addr) in enumerate(self._node_lines()):
            self.nodes[i] = (nid, addr)

    def _node_lines(self):
        self.poll()
        out = []
        for line in self.lines:
            m = NODE_RE.match(line)
            if m:
                out.append((m.group(1), m.group(2)))
        return out

    def poll(self):
        """Reads new complete lines from the log."""
        text = self.proc.log()
        end = text.rfind("\n") + 1
        if end > self.pos:
            self.lines.extend(text[self.pos:end].splitlines())
            self.pos = end
        return self.lines

    def send(self, line):
        self.proc.popen.stdin.write((line + "\n").encode())
        self.proc.popen.stdin.flush()

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + scaled(timeout)
        while True:
            if not self.proc.alive():
                pytest.fail(f"shoal dht exited (rc {self.proc.popen.returncode}) while waiting "
                            f"for {what}:\n{self.proc.log()[-3000:]}", pytrace=False)
            self.poll()
            if pred():
                return
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {scaled(timeout):.0f} s waiting for {what}",
                            pytrace=False)
            time.sleep(0.05)

    def stats(self, node):
        """The stats line of one node, as a dict of ints."""
        mark = len(self.poll())
        self.send(f"stats {node}")
        got = {}

        def seen():
            for line in self.lines[mark:]:
                m = STATS_RE.match(line)
                if m and int(m.group(1)) == node:
                    got.update({k: int(v) for k, v in
                                (kv.split("=") for kv in m.group(2).split())})
                    return True
            return False

        self.wait_for(seen, 10, f"stats of node {node}")
        return got

    def dones(self, info_hex):
        out = {}
        for line in self.lines:
            m = DONE_RE.match(line)
            if m and m.group(1) == info_hex:
                out[int(m.group(2))] = {"search": int(m.group(3)), "hops": int(m.group(4)),
                                        "queried": int(m.group(5))}
        return out

    def founds(self, info_hex):
        """node index -> set of peer addresses found for info_hex."""
        out = {}
        for line in self.lines:
            m = FOUND_RE.match(line)
            if m and m.group(1) == info_hex:
                out.setdefault(int(m.group(3)), set()).add(m.group(2))
        return out


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


# ---------------------------------------------------------------- raw KRPC


class Krpc:
    """A UDP socket on its own loopback address that speaks raw KRPC."""

    def __init__(self, ip, node_id=None):
        import os
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.addr = self.sock.getsockname()
        self.id = node_id or os.urandom(20)
        self.tid = 0

    def close(self):
        self.sock.close()

    def send_raw(self, to, data):
        self.sock.sendto(data, to)

    def send(self, to, msg):
        self.sock.sendto(bc.encode(msg), to)

    def recv(self, timeout):
        """One decoded datagram and its source, or (None, None) after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            data, src = self.sock.recvfrom(65536)
        except OSError:
            return None, None
        try:
            return bc.decode(data), src
        except (ValueError, IndexError):
            return {b"undecodable": data}, src

    def query(self, to, method, args, timeout=2.0, resend=None):
        """Sends a query and returns the decoded answer with its tid, or None.

        resend: seconds between retransmissions (UDP may drop under load).
        """
        import time

        self.tid += 1
        tid = b"q%d" % self.tid
        a = {b"id": self.id}
        a.update(args)
        msg = {b"t": tid, b"y": b"q", b"q": method.encode(), b"a": a}
        deadline = time.monotonic() + scaled(timeout)
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_send:
                self.send(to, msg)
                next_send = now + (resend if resend else 1e9)
            r, src = self.recv(min(deadline, next_send) - now)
            if r is not None and src == to and r.get(b"t") == tid:
                return r


def parse_addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


# ---------------------------------------------------------------- routers for peer tests


def udp_port(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_port_both(ip):
    for _ in range(100):
        s = socket.socket()
        s.bind((ip, 0))
        port = s.getsockname()[1]
        s.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((ip, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free port on " + ip)


def start_router(shoals, workdir):
    """A `shoal dht` on a new address under peers.py's `shoals`; returns "IP:PORT".

    (`DhtFleet` is the variant under conftest's `procs`, with --control.)"""
    from peers import ShoalProc, new_ip

    ip = new_ip()
    port = udp_port(ip)
    pr = ShoalProc(shoals, ["dht", "-l", "%s:%d" % (ip, port), "--stats-every", "0"], workdir,
                   "router")
    deadline = time.monotonic() + scaled(5)
    while "listening on" not in pr.stdout():
        assert pr.poll() is None and time.monotonic() < deadline, pr.describe()
        time.sleep(0.02)
    return "%s:%d" % (ip, port)
