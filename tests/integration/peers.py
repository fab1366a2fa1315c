"""peers.py — helpers for the peer tests (seed, get, swarms, interop).

On top of conftest.py (binary, timeouts, sanitizer checks): start
`shoal seed` / `shoal get` with stdout and stderr kept apart (stdout
carries "listening on ADDR:PORT" and the --json summary), read what they
print, make payloads and torrents, compare trees, and end every process
by its process group on teardown (fixture `shoals`).

Addresses are 127.A.B.x with A.B random per pytest session: each peer has
its own address as in a real fleet, and two test runs on one machine (two
build directories, two developers) do not meet on a fixed port. Every wait
has a deadline scaled by conftest.scaled (longer under ASan).
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import _find_shoal, _sanitizer_env, check_sanitizer, scaled

HERE = os.path.dirname(os.path.abspath(__file__))


def shoal_bin():
    p = _find_shoal()
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail("shoal binary not found at %s: build it or set SHOAL_BIN" % p, pytrace=False)
    return str(p.resolve())


# ---------------------------------------------------------------- addresses

_rng = random.Random(os.getpid() ^ int(time.time()))
_base = (_rng.randrange(1, 250), _rng.randrange(0, 250))
_next_host = [2]


def new_ip():
    """A loopback address no other peer of this session uses."""
    h = _next_host[0]
    _next_host[0] += 1
    a, b = _base
    b += h // 250
    h = h % 250 + 2
    return "127.%d.%d.%d" % (a, b % 256, h)


def free_port(ip):
    import socket

    s = socket.socket()
    s.bind((ip, 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---------------------------------------------------------------- payloads


def write_random(path, size, seed=None):
    """A file of `size` pseudo-random bytes (fast: os.urandom in chunks)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    return path


def make_tree(root, spec):
    """spec: {relpath: size}. Returns root."""
    for rel, size in spec.items():
        write_random(os.path.join(root, rel), size)
    return root


def tree_digest(path):
    """{relpath: sha256} for a file (relpath '') or every file under a directory."""
    out = {}
    if os.path.isfile(path):
        out[""] = _sha(path)
        return out
    for d, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, path)] = _sha(p)
    return out


def _sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def assert_same_data(a, b):
    da, db = tree_digest(a), tree_digest(b)
    assert sorted(da) == sorted(db), "file lists differ: %s vs %s" % (sorted(da), sorted(db))
    bad = [k for k in da if da[k] != db[k]]
    assert not bad, "content differs in %s" % bad


# ---------------------------------------------------------------- bencode (for info-hashes)


def bdecode_spans(buf, i=0):
    """Decodes one value at i; returns (value, end). Dict values are kept with
    their raw byte span in a side table: dict['__spans__'][key] = (start, end)."""
    c = buf[i : i + 1]
    if c == b"i":
        e = buf.index(b"e", i)
        return int(buf[i + 1 : e]), e + 1
    if c == b"l":
        i += 1
        out = []
        while buf[i : i + 1] != b"e":
            v, i = bdecode_spans(buf, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out, spans = {}, {}
        while buf[i : i + 1] != b"e":
            k, i = bdecode_spans(buf, i)
            s = i
            v, i = bdecode_spans(buf, i)
            out[k] = v
            spans[k] = (s, i)
        out["__spans__"] = spans
        return out, i + 1
    colon = buf.index(b":", i)
    n = int(buf[i:colon])
    return buf[colon + 1 : colon + 1 + n], colon + 1 + n


class Torrent:
    """What the tests need to know about a .torrent: wire hash, pieces."""

    def __init__(self, path):
        self.path = path
        raw = open(path, "rb").read()
        top, _ = bdecode_spans(raw)
        s, e = top["__spans__"][b"info"]
        info_raw = raw[s:e]
        info = top[b"info"]
        self.info = info
        self.name = info[b"name"].decode()
        self.piece_length = info[b"piece length"]
        self.v1 = b"pieces" in info
        self.v2 = info.get(b"meta version") == 2
        if self.v1:
            self.info_hash = hashlib.sha1(info_raw).digest()
            self.num_pieces = len(info[b"pieces"]) // 20
        else:
            self.info_hash = hashlib.sha256(info_raw).digest()[:20]
            self.num_pieces = None
        if b"length" in info:
            self.total = info[b"length"]
        elif b"files" in info:
            self.total = sum(f[b"length"] for f in info[b"files"])
        else:
            self.total = None


# ---------------------------------------------------------------- processes


class ShoalProc:
    """One shoal process with stdout/stderr captured to files."""

    def __init__(self, registry, args, workdir, name):
        self.args = [shoal_bin()] + list(args)
        self.name = name
        self.out_path = os.path.join(workdir, name + ".out")
        self.err_path = os.path.join(workdir, name + ".err")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.p = subprocess.Popen(
            self.args, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, cwd=workdir,
            env=_sanitizer_env(None), start_new_session=True,
        )
        self.pid = self.p.pid
        registry.append(self)

    # -- output
    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode(errors="replace")

    def describe(self):
        return "%s (pid %d, rc %s)\nargs: %s\n--- stdout\n%s\n--- stderr (tail)\n%s" % (
            self.name,
            self.pid,
            self.p.returncode,
            " ".join(self.args),
            self.stdout()[-2000:],
            self.stderr()[-4000:],
        )

    def json(self):
        """The JSON object printed at exit (the last line of stdout that parses)."""
        for line in reversed(self.stdout().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError("no JSON on stdout of " + self.describe())

    def wait_listening(self, timeout=10):
        """Returns 'ADDR:PORT' from the "listening on" line on stdout."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            for line in self.stdout().splitlines():
                if line.startswith("listening on "):
                    return line.split()[2]
            if self.p.poll() is not None:
                raise AssertionError("exited before listening: " + self.describe())
            time.sleep(0.02)
        raise AssertionError("no 'listening on' within %.0f s: %s" % (timeout, self.describe()))

    # -- lifetime
    def poll(self):
        return self.p.poll()

    def wait(self, timeout):
        try:
            return self.p.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError("still running after %.0f s: %s" % (timeout, self.describe()))

    def signal(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, timeout=10):
        """SIGTERM, then wait; returns the exit code."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        """SIGKILL to the process group this process leads (never anything else)."""
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait()

    def close_files(self):
        self._out.close()
        self._err.close()


class Shoals(list):
    """Every shoal process a test started; the fixture ends them by pid."""

    def cleanup(self):
        for pr in self:
            pr.signal(signal.SIGTERM)
        deadline = time.monotonic() + scaled(5)
        for pr in self:
            try:
                pr.p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pr.kill()
            pr.close_files()
        for pr in self:
            check_sanitizer(pr.stderr(), pr.name)


@pytest.fixture
def shoals():
    reg = Shoals()
    yield reg
    reg.cleanup()


def run_shoal(args, timeout=60, cwd=None):
    """Runs shoal to completion; returns CompletedProcess (text)."""
    return subprocess.run(
        [shoal_bin()] + list(args),
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        cwd=cwd,
    )


def shoal_create(path, out, version="hybrid", piece_size=None):
    args = ["create", "--" + version, "--no-date", "-f", "-o", out]
    if piece_size:
        args += ["--piece-size", str(piece_size)]
    r = run_shoal(args + [path], timeout=120)
    assert r.returncode == 0, "shoal create failed (%d): %s" % (r.returncode, r.stderr)
    return out


def start_seed(shoals, workdir, torrent, data, ip=None, port=0, extra=(), name=None):
    ip = ip or new_ip()
    args = ["seed", "-l", "%s:%d" % (ip, port)] + list(extra) + [torrent, data]
    pr = ShoalProc(shoals, args, workdir, name or "seed-" + ip)
    pr.addr = pr.wait_listening()
    return pr


def start_get(shoals, workdir, torrent, out_dir, peers=(), ip=None, port=0, extra=(), name=None, wait_listen=True):
    ip = ip or new_ip()
    os.makedirs(out_dir, exist_ok=True)
    args = ["get", "-o", out_dir, "-l", "%s:%d" % (ip, port)]
    for p in peers:
        args += ["--peer", p]
    args += list(extra) + [torrent]
    pr = ShoalProc(shoals, args, workdir, name or "get-" + ip)
    pr.ip = ip
    pr.addr = pr.wait_listening() if wait_listen else "%s:%d" % (ip, port)
    return pr


def wait_all(prs, timeout):
    """Waits for every process; returns their exit codes (asserting none hangs)."""
    deadline = time.monotonic() + scaled(timeout)
    for pr in prs:
        left = deadline - time.monotonic()
        try:
            pr.p.wait(max(0.1, left))
        except subprocess.TimeoutExpired:
            running = [q.name for q in prs if q.p.poll() is None]
            raise AssertionError(
                "%d process(es) still running after %.0f s: %s\nfirst: %s"
                % (len(running), timeout, running, pr.describe())
            )
    return [pr.p.returncode for pr in prs]
