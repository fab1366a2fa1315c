"""Shared harness for shoal's integration tests.

Every integration test runs real processes on loopback. This file gives them:

- ``shoal_bin``: the binary under test ($SHOAL_BIN, else $SHOAL_BUILD_DIR/shoal,
  else <repo>/build/shoal); the session fails loudly if it is missing.
- ``run_shoal(*args, timeout=10, cwd=None, env=None, input=None)``: runs one
  command to completion and returns ``Result(rc, stdout, stderr)`` (unpacks as
  a 3-tuple of int, str, str; ``.out_bytes`` keeps stdout's raw bytes). A
  timeout fails the test, and so does any sanitizer report in stderr.
- ``scaled(seconds)`` / ``timeout_scale``: timeouts grow under the ASan build
  (SHOAL_SANITIZE=1) or with SHOAL_TIMEOUT_SCALE=<factor>.
- ``tmp_dir`` (a fresh empty directory) and ``make_tmp_dir(name)`` for more.
- ``free_port(host="127.0.0.1", proto="tcp"|"udp"|"both")``: a port free on
  that address, never the same one twice in a session.
- ``loopback_ip(n)``: "127.0.0.<n+1>" for n >= 1, the address of host n.
- ``procs``: starts long-running processes (``procs.start(args, name=...)``)
  each in its own process group, logs to files; on teardown it signals
  exactly the groups it created (by pid, never by name) and shows their log
  tails if the test failed.
- ``make_random_file(path, size, seed)``: deterministic content (SHAKE-256
  of seed and block number), the same bytes on every machine and run.
- ``lt_session(ip, port=None, **settings)``: a libtorrent session confined to
  loopback, with DHT, LSD, UPnP and NAT-PMP off.
- ``lt_make_torrent(path, version="hybrid", piece=32768, **opts)``: bencoded
  torrent bytes made by libtorrent for a file or directory.
- ``wait_until(pred, timeout)`` and ``wait_port(host, port, timeout)``.

Run with /usr/bin/python3: Debian's python3-libtorrent exists only for it.
"""

import collections
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",  # UBSan
)


# ---------------------------------------------------------------- timeouts


def _timeout_scale():
    env = os.environ.get("SHOAL_TIMEOUT_SCALE")
    if env:
        return max(1.0, float(env))
    return 5.0 if os.environ.get("SHOAL_SANITIZE") in ("1", "ON", "on", "true") else 1.0


TIMEOUT_SCALE = _timeout_scale()


def scaled(seconds):
    """A timeout adjusted for slow builds (ASan) or slow machines."""
    return seconds * TIMEOUT_SCALE


@pytest.fixture(scope="session")
def timeout_scale():
    return TIMEOUT_SCALE


@pytest.fixture(name="scaled", scope="session")
def scaled_fixture():
    return scaled


# ---------------------------------------------------------------- binary


def _find_shoal():
    if os.environ.get("SHOAL_BIN"):
        return Path(os.environ["SHOAL_BIN"])
    if os.environ.get("SHOAL_BUILD_DIR"):
        return Path(os.environ["SHOAL_BUILD_DIR"]) / "shoal"
    return REPO / "build" / "shoal"


@pytest.fixture(scope="session")
def shoal_bin():
    path = _find_shoal()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"shoal binary not found at {path}: build it or set SHOAL_BIN", pytrace=False)
    return str(path.resolve())


def pytest_report_header(config):
    try:
        import libtorrent

        ltv = libtorrent.__version__
    except ImportError:
        ltv = "MISSING (run the tests with /usr/bin/python3)"
    return [
        f"shoal: {_find_shoal()}  timeout scale: {TIMEOUT_SCALE}",
        f"python: {sys.executable}  libtorrent: {ltv}",
    ]


def _sanitizer_env(env):
    env = dict(os.environ if env is None else env)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:strict_string_checks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def check_sanitizer(stderr, what):
    """Fails the test if a sanitizer reported anything in stderr."""
    for marker in SANITIZER_MARKERS:
        if marker in stderr:
            pytest.fail(f"{what}: sanitizer report:\n{stderr[-4000:]}", pytrace=False)


class Result(collections.namedtuple("Result", "rc stdout stderr")):
    """(rc, stdout, stderr) of one finished command; out_bytes is raw stdout."""

    out_bytes = b""


@pytest.fixture
def run_shoal(shoal_bin):
    def run(*args, timeout=10, cwd=None, env=None, input=None):
        argv = [shoal_bin] + [str(a) for a in args]
        limit = scaled(timeout)
        try:
            cp = subprocess.run(
                argv,
                cwd=cwd,
                env=_sanitizer_env(env),
                input=input,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=None if input is not None else subprocess.DEVNULL,
                timeout=limit,
            )
        except subprocess.TimeoutExpired as e:
            err = (e.stderr or b"").decode("utf-8", "replace")[-2000:]
            pytest.fail(f"timed out after {limit:.0f} s: {' '.join(argv)}\n{err}", pytrace=False)
        out = cp.stdout.decode("utf-8", "replace")
        err = cp.stderr.decode("utf-8", "replace")
        check_sanitizer(err, " ".join(argv))
        res = Result(cp.returncode, out, err)
        res.out_bytes = cp.stdout
        return res

    return run


# ---------------------------------------------------------------- directories


@pytest.fixture
def tmp_dir(tmp_path):
    """A fresh, empty directory for this test (removed by pytest's rotation)."""
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.fixture
def make_tmp_dir(tmp_path):
    def make(name):
        d = tmp_path / name
        d.mkdir(parents=True)
        return d

    return make


# ---------------------------------------------------------------- addresses


def loopback_ip(n):
    """Address of virtual host n (1-based): 127.0.0.2, 127.0.0.3, ... 127.255.255.254."""
    if not 1 <= n <= 0xFFFFFD:
        raise ValueError(f"host number {n} out of range")
    v = n + 1
    return f"127.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


@pytest.fixture(name="loopback_ip", scope="session")
def loopback_ip_fixture():
    return loopback_ip


_handed_out = set()


def _bindable(host, port, kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(host="127.0.0.1", proto="tcp"):
    """A port that is free on host now and was not handed out before in this session.

    There is an unavoidable window between this check and the caller's bind;
    never handing a port out twice keeps parallel users in this session apart.
    """
    kinds = {"tcp": [socket.SOCK_STREAM], "udp": [socket.SOCK_DGRAM],
             "both": [socket.SOCK_STREAM, socket.SOCK_DGRAM]}[proto]
    for _ in range(200):
        s = socket.socket(socket.AF_INET, kinds[0])
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if (host, port) in _handed_out:
            continue
        if all(_bindable(host, port, k) for k in kinds):
            _handed_out.add((host, port))
            return port
    raise RuntimeError(f"no free {proto} port on {host}")


@pytest.fixture(name="free_port", scope="session")
def free_port_fixture():
    return free_port


def wait_until(pred, timeout=10, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value (returned) or the scaled timeout fails the test."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {scaled(timeout):.0f} s waiting for {what}", pytrace=False)
        time.sleep(interval)


@pytest.fixture(name="wait_until", scope="session")
def wait_until_fixture():
    return wait_until


def wait_port(host, port, timeout=10):
    """Waits until a TCP listener accepts on (host, port)."""

    def try_connect():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(try_connect, timeout, what=f"{host}:{port} to listen")


@pytest.fixture(name="wait_port", scope="session")
def wait_port_fixture():
    return wait_port


# ---------------------------------------------------------------- processes


class Proc:
    """One long-running process started by ProcessGroup."""

    def __init__(self, name, popen, log_path):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.log_path = log_path

    def log(self):
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.popen.poll() is None

    def wait(self, timeout=10):
        """Waits for exit; fails the test on timeout. Returns the exit code."""
        try:
            return self.popen.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} (pid {self.pid}) still running after {scaled(timeout):.0f} s",
                        pytrace=False)


class ProcessGroup:
    """Starts processes for one test and ends exactly those on teardown.

    Each process leads its own process group (start_new_session), so the
    group id is its pid and covers the helpers it forks, and nothing else.
    The pid cannot be reused before we reap it, so signalling it is safe.
    """

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.procs = []

    def start(self, args, name=None, cwd=None, env=None, stdin=subprocess.DEVNULL):
        name = name or Path(str(args[0])).name
        log_path = self.log_dir / f"{len(self.procs):02d}-{name}.log"
        log = open(log_path, "wb")
        try:
            popen = subprocess.Popen([str(a) for a in args], cwd=cwd, env=_sanitizer_env(env),
                                     stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        finally:
            log.close()
        p = Proc(name, popen, log_path)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=5):
        """Signals p's group, waits up to grace seconds, then kills it. Returns the exit code."""
        if p.popen.returncode is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                return p.popen.wait(scaled(grace))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        rc = p.popen.wait()
        # A child the process forked may outlive it in the group: end it too.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return rc

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)

    def report(self, lines=40):
        out = []
        for p in self.procs:
            tail = p.log().splitlines()[-lines:]
            out.append(f"---- {p.name} (pid {p.pid}, rc {p.popen.returncode}) ----")
            out.extend(tail)
        return "\n".join(out)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def procs(request, tmp_path):
    group = ProcessGroup(tmp_path)
    yield group
    group.stop_all()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed and group.procs:
        sys.stderr.write(group.report() + "\n")
    for p in group.procs:
        check_sanitizer(p.log(), p.name)


# ---------------------------------------------------------------- data


def make_random_file(path, size, seed):
    """Writes size deterministic pseudo-random bytes to path and returns path.

    Block i (1 MiB) is SHAKE-256(seed || i): stable across Python versions and
    machines, unlike random.Random.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    block = 1 << 20
    with open(path, "wb") as f:
        i, left = 0, size
        while left > 0:
            n = min(block, left)
            f.write(hashlib.shake_256(f"{seed}:{i}".encode()).digest(n))
            left -= n
            i += 1
    return path


@pytest.fixture(name="make_random_file", scope="session")
def make_random_file_fixture():
    return make_random_file


# ---------------------------------------------------------------- libtorrent


LOOPBACK_LT_SETTINGS = {
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "allow_multiple_connections_per_ip": True,
    "alert_mask": 0,
}


@pytest.fixture
def lt_session():
    """Factory of libtorrent sessions listening only on ip:port (port 0: any)."""
    import libtorrent as lt

    sessions = []

    def make(ip="127.0.0.1", port=0, **settings):
        pack = dict(LOOPBACK_LT_SETTINGS)
        pack["listen_interfaces"] = f"{ip}:{port}"
        pack["outgoing_interfaces"] = ip
        pack.update(settings)
        s = lt.session(pack)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.pause()
        for h in s.get_torrents():
            s.remove_torrent(h)
    sessions.clear()


def lt_make_torrent(path, version="hybrid", piece=32768, trackers=(), creator="libtorrent",
                    private=False):
    """A torrent made by libtorrent (v1, v2 or hybrid) for path; returns its bytes."""
    import libtorrent as lt

    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}
    path = Path(path)
    fs = lt.file_storage()
    lt.add_files(fs, str(path))
    ct = lt.create_torrent(fs, piece, flags=flags[version])
    ct.set_creator(creator)
    ct.set_priv(private)
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    lt.set_piece_hashes(ct, str(path.parent))
    return lt.bencode(ct.generate())


@pytest.fixture(name="lt_make_torrent", scope="session")
def lt_make_torrent_fixture():
    return lt_make_torrent
