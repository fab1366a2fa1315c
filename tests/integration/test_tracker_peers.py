"""Peers that find each other through a tracker (shoal get/seed -t URL).

Real processes, each on its own 127.x.y.z address:

- one `shoal seed` and 5 `shoal get` with no --peer at all, only -t: every
  get completes — against opentracker (HTTP and UDP) and `shoal tracker`
  (HTTP and UDP, skipped with the reason when this build has no tracker);
- a 10-peer upload-limited swarm whose tracker is killed 3 s in: every peer
  still completes;
- a tracker that is down from the start, peers given with --peer: the
  download completes, the failures are logged with their backoff;
- a tracker that refuses the torrent ("failure reason"): reported, in the
  log and in --json, and the download proceeds from --peer;
- the time of the 5-peer swarm via the tracker against via --peer.

opentracker is Debian's closed build: it serves only the info hashes listed
in its -w file (40 hex characters per line; for v2, the first 20 bytes).
"""

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import scaled
from peers import (  # noqa: F401  (shoals is a fixture)
    Torrent,
    assert_same_data,
    bdecode_spans,
    new_ip,
    run_shoal,
    shoal_bin,
    shoal_create,
    shoals,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

OPENTRACKER = shutil.which("opentracker")
NEEDS_OT = pytest.mark.skipif(OPENTRACKER is None, reason="opentracker is not installed")


def has_shoal_tracker():
    try:
        r = subprocess.run([shoal_bin(), "tracker", "--help"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0 and b"usage: shoal tracker" in r.stdout


def free_port_both(ip):
    """A port free for TCP and UDP on ip."""
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


def wait_tcp(ip, port, timeout=10):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %s:%d" % (ip, port))


class TrackerProc:
    """A tracker process: opentracker or shoal tracker, HTTP and UDP on one port."""

    def __init__(self, kind, workdir, info_hashes, listed=True, ip=None, port=None):
        self.kind = kind
        self.ip = ip or new_ip()
        self.port = port or free_port_both(self.ip)
        self.log_path = os.path.join(workdir, "tracker-%s.log" % kind)
        log = open(self.log_path, "wb")
        if kind == "opentracker":
            # Run as root, opentracker chroots to its -d directory and becomes
            # "nobody", then reads the whitelist: give it a world-readable
            # directory of its own (pytest's are 0700) and a relative path.
            otdir = os.path.join(workdir, "opentracker")
            os.makedirs(otdir, exist_ok=True)
            os.chmod(otdir, 0o755)
            with open(os.path.join(otdir, "whitelist.txt"), "w") as f:
                for h in info_hashes if listed else []:
                    f.write(h.hex() + "\n")
                if not listed:
                    f.write("00" * 20 + "\n")
            os.chmod(os.path.join(otdir, "whitelist.txt"), 0o644)
            args = [OPENTRACKER, "-i", self.ip, "-p", str(self.port), "-P", str(self.port),
                    "-w", "whitelist.txt", "-d", "."]
            workdir = otdir
        else:
            args = [shoal_bin(), "tracker", "-l", "%s:%d" % (self.ip, self.port),
                    "--udp", "%s:%d" % (self.ip, self.port), "--interval", "5", "--log-level", "info"]
        self.p = subprocess.Popen(args, cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.pid = self.p.pid
        wait_tcp(self.ip, self.port)
        if kind == "opentracker" and listed:
            self.wait_ready(info_hashes[0])

    def wait_ready(self, info_hash):
        """opentracker loads its whitelist in the background: wait until it serves the hash.
        The probe (port 1, from the tracker's own address) is taken out again with 'stopped'."""
        q = urllib.parse.quote_from_bytes
        url = "%s?info_hash=%s&peer_id=%s&port=1&uploaded=0&downloaded=0&left=0&numwant=0" % (
            self.http, q(info_hash), q(b"-PROBE-" + b"x" * 13))
        deadline = time.monotonic() + scaled(10)
        while time.monotonic() < deadline:
            body = urllib.request.urlopen(url + "&event=started", timeout=2).read()
            if b"failure reason" not in body:
                urllib.request.urlopen(url + "&event=stopped", timeout=2).read()
                return
            time.sleep(0.1)
        raise AssertionError("opentracker never accepted the hash: %r\n%s" % (body, self.log()))

    def scrape(self, info_hash):
        """{complete, downloaded, incomplete} for info_hash, by HTTP scrape (BEP 48)."""
        url = "http://%s:%d/scrape?info_hash=%s" % (self.ip, self.port,
                                                   urllib.parse.quote_from_bytes(info_hash))
        body = urllib.request.urlopen(url, timeout=5).read()
        files, _ = bdecode_spans(body)
        entry = files[b"files"][info_hash]
        return {k.decode(): v for k, v in entry.items() if k != "__spans__"}

    @property
    def http(self):
        return "http://%s:%d/announce" % (self.ip, self.port)

    @property
    def udp(self):
        return "udp://%s:%d" % (self.ip, self.port) + ("/announce" if self.kind == "opentracker" else "")

    def kill(self):
        if self.p.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.p.wait()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


@pytest.fixture
def trackers():
    started = []
    yield started
    for t in started:
        t.kill()


def start_tracker(trackers, kind, workdir, hashes, listed=True):
    t = TrackerProc(kind, workdir, hashes, listed)
    trackers.append(t)
    return t


def make_payload(tmp_path, size, piece=256 * 1024):
    data = write_random(str(tmp_path / "payload.bin"), size)
    torrent = shoal_create(data, str(tmp_path / "payload.torrent"), piece_size=piece)
    return data, torrent, Torrent(torrent)


def tracker_lines(pr):
    return [line for line in pr.stderr().splitlines() if "[tracker]" in line or "tracker" in line]


def run_swarm(tmp_path, shoals, data, torrent, n, tracker_url=None, peer_lists=False, extra_get=(),
              extra_seed=(), tag="s"):
    """A seed and n gets; either every get has only -t tracker_url, or (peer_lists) every
    get has --peer for the seed and all other gets. Returns (seed, gets, seconds)."""
    t_opts = ["-t", tracker_url] if tracker_url else []
    seed = start_seed(shoals, str(tmp_path), torrent, data, port=6881,
                      extra=t_opts + ["--json", "--log-level", "info"] + list(extra_seed), name=tag + "-seed")
    ips = [new_ip() for _ in range(n)]
    addrs = ["%s:6881" % ip for ip in ips]
    gets = []
    t0 = time.monotonic()
    for i, ip in enumerate(ips):
        peers = [seed.addr] + [a for j, a in enumerate(addrs) if j != i] if peer_lists else []
        gets.append(start_get(shoals, str(tmp_path), torrent, str(tmp_path / ("%s-out%d" % (tag, i))),
                              peers=peers, ip=ip, port=6881,
                              extra=t_opts + ["--json", "--log-level", "info", "--timeout", "60"]
                              + list(extra_get),
                              name="%s-get%d" % (tag, i), wait_listen=False))
    codes = wait_all(gets, 120)
    took = time.monotonic() - t0
    bad = [g.describe() for g, c in zip(gets, codes) if c != 0]
    assert not bad, "\n\n".join(bad)
    for i in range(n):
        assert_same_data(data, str(tmp_path / ("%s-out%d" % (tag, i)) / "payload.bin"))
    return seed, gets, took


# ---------------------------------------------------------------- discovery through a tracker

KINDS = [
    pytest.param("opentracker", "http", marks=NEEDS_OT, id="opentracker-http"),
    pytest.param("opentracker", "udp", marks=NEEDS_OT, id="opentracker-udp"),
    pytest.param("shoal", "http", id="shoal-tracker-http"),
    pytest.param("shoal", "udp", id="shoal-tracker-udp"),
]


@pytest.mark.parametrize("kind,proto", KINDS)
def test_five_peers_find_each_other(tmp_path, shoals, trackers, kind, proto):
    if kind == "shoal" and not has_shoal_tracker():
        pytest.skip("this build has no `shoal tracker` (branch t-srv not merged yet)")
    data, torrent, t = make_payload(tmp_path, 8 * 1024 * 1024)
    tr = start_tracker(trackers, kind, str(tmp_path), [t.info_hash])
    url = tr.http if proto == "http" else tr.udp
    seed, gets, took = run_swarm(tmp_path, shoals, data, torrent, 5, tracker_url=url)
    for g in gets:
        j = g.json()
        assert j["status"] == "complete"
        assert [x["url"] for x in j["trackers"]] == [url], j["trackers"]
        assert j["trackers"][0]["working"] is True, j["trackers"]
        # every peer came from the tracker: nobody was given --peer
        assert j["peers"] >= 1
        assert "announce ok" in g.stderr(), g.describe()
    # the gets told the tracker they completed, and stopped when leaving
    for g in gets:
        err = g.stderr()
        assert "completed announce ok" in err, g.describe()
        assert "stopped announce ok" in err, g.describe()
    counts = tr.scrape(t.info_hash)
    assert counts["downloaded"] == 5, counts   # five completed events, counted
    assert counts["incomplete"] == 0, counts   # the gets left: stopped
    assert counts["complete"] == 1, counts     # the seed is still there
    assert seed.stop(10) == 0, seed.describe()
    assert "stopped announce ok" in seed.stderr(), seed.describe()
    assert tr.scrape(t.info_hash)["complete"] == 0
    print("%s over %s: 5 gets complete in %.1f s" % (kind, proto, took))


# ---------------------------------------------------------------- the torrent's own trackers

@NEEDS_OT
def test_trackers_from_the_torrent(tmp_path, shoals, trackers):
    """A torrent made with -t: seed and gets announce there with no -t of their own;
    --no-tracker leaves it out."""
    data = write_random(str(tmp_path / "payload.bin"), 4 * 1024 * 1024)
    ip = new_ip()
    port = free_port_both(ip)
    url = "http://%s:%d/announce" % (ip, port)
    torrent = str(tmp_path / "payload.torrent")
    r = run_shoal(["create", "--hybrid", "--no-date", "-f", "-t", url, "-o", torrent, data])
    assert r.returncode == 0, r.stderr
    t = Torrent(torrent)
    tr = TrackerProc("opentracker", str(tmp_path), [t.info_hash], ip=ip, port=port)
    trackers.append(tr)
    seed, gets, _ = run_swarm(tmp_path, shoals, data, torrent, 2)
    for g in gets:
        assert [x["url"] for x in g.json()["trackers"]] == [url]
        assert g.json()["trackers"][0]["working"] is True
    lone = start_get(shoals, str(tmp_path), torrent, str(tmp_path / "lone"), peers=[seed.addr],
                     extra=["--no-tracker", "--json", "--log-level", "info"], name="lone")
    assert lone.wait(60) == 0, lone.describe()
    assert lone.json()["trackers"] == []
    assert "announce" not in lone.stderr()
    assert seed.stop(10) == 0, seed.describe()
    assert "stopped announce ok" in seed.stderr()


# ---------------------------------------------------------------- the tracker dies mid-swarm

@pytest.mark.parametrize("kind", [pytest.param("opentracker", marks=NEEDS_OT), "shoal"])
def test_tracker_killed_mid_swarm(tmp_path, shoals, trackers, kind):
    if kind == "shoal" and not has_shoal_tracker():
        pytest.skip("this build has no `shoal tracker` (branch t-srv not merged yet)")
    n = 10
    size = 16 * 1024 * 1024
    data, torrent, t = make_payload(tmp_path, size)
    tr = start_tracker(trackers, kind, str(tmp_path), [t.info_hash])
    limit = ["--upload-limit", "2M"]  # 11 × 2 MiB/s for 160 MiB: about 8 s at best
    seed = start_seed(shoals, str(tmp_path), torrent, data, port=6881,
                      extra=["-t", tr.http, "--json", "--log-level", "info"] + limit, name="seed")
    gets = []
    t0 = time.monotonic()
    for i in range(n):
        gets.append(start_get(shoals, str(tmp_path), torrent, str(tmp_path / ("out%d" % i)),
                              port=6881, extra=["-t", tr.http, "--json", "--log-level", "info",
                                                "--timeout", "60"] + limit,
                              name="get%d" % i, wait_listen=False))
    # everyone has had its answer from the tracker ...
    deadline = time.monotonic() + scaled(10)
    while not all("started announce ok" in g.stderr() for g in gets):
        assert time.monotonic() < deadline, "not every peer got an answer from the tracker"
        time.sleep(0.05)
    # ... then the tracker vanishes, with the swarm still at work
    time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
    tr.kill()
    killed_at = time.monotonic() - t0
    running = sum(1 for g in gets if g.poll() is None)
    codes = wait_all(gets, 120)
    took = time.monotonic() - t0
    bad = [g.describe() for g, c in zip(gets, codes) if c != 0]
    assert not bad, "\n\n".join(bad)
    for i in range(n):
        assert_same_data(data, str(tmp_path / ("out%d" % i) / "payload.bin"))
    assert running >= n // 2, "the swarm was nearly done before the tracker died (%d running)" % running
    # the announces after the kill failed, were logged, and changed nothing
    failed = [g for g in gets if "announce failed" in g.stderr()]
    assert failed, "no peer logged a failed announce after the kill"
    for g in gets:
        j = g.json()
        assert j["status"] == "complete"
    assert seed.stop(10) == 0, seed.describe()
    print("%s killed at %.1f s with %d/%d gets running; all done at %.1f s; %d logged failures"
          % (kind, killed_at, running, n, took, len(failed)))


# ---------------------------------------------------------------- a tracker that never answers

def test_tracker_down_from_start(tmp_path, shoals):
    data, torrent, _ = make_payload(tmp_path, 6 * 1024 * 1024)
    ip = new_ip()
    dead = "http://%s:%d/announce" % (ip, free_port_both(ip))  # nothing listens there
    seed = start_seed(shoals, str(tmp_path), torrent, data,
                      extra=["--json", "--upload-limit", "500K"], name="seed")
    get = start_get(shoals, str(tmp_path), torrent, str(tmp_path / "out"), peers=[seed.addr],
                    extra=["-t", dead, "--json", "--log-level", "info", "--timeout", "60"], name="get")
    assert get.wait(60) == 0, get.describe()
    assert_same_data(data, str(tmp_path / "out" / "payload.bin"))
    err = get.stderr()
    # one line per failure, with the reason and the backoff doubling from 5 s
    assert dead + ": started announce failed: connection failed" in err, err
    assert "retry in 5 s (failure 1)" in err, err
    assert "retry in 10 s (failure 2)" in err, err
    j = get.json()
    assert j["status"] == "complete"
    assert j["trackers"][0]["url"] == dead
    assert j["trackers"][0]["working"] is False
    assert "connection failed" in j["trackers"][0]["last_error"]


# ---------------------------------------------------------------- a tracker that says no

@NEEDS_OT
def test_tracker_failure_reason(tmp_path, shoals, trackers):
    data, torrent, t = make_payload(tmp_path, 4 * 1024 * 1024)
    tr = start_tracker(trackers, "opentracker", str(tmp_path), [t.info_hash], listed=False)
    seed = start_seed(shoals, str(tmp_path), torrent, data, extra=["--json"], name="seed")
    get = start_get(shoals, str(tmp_path), torrent, str(tmp_path / "out"), peers=[seed.addr],
                    extra=["-t", tr.http, "--json", "--log-level", "info", "--timeout", "60"], name="get")
    assert get.wait(60) == 0, get.describe()
    assert_same_data(data, str(tmp_path / "out" / "payload.bin"))
    err = get.stderr()
    assert 'failure reason "Requested download is not authorized' in err, err
    j = get.json()
    assert j["trackers"][0]["working"] is False
    assert "Requested download is not authorized" in j["trackers"][0]["last_error"]


# ---------------------------------------------------------------- figures

@NEEDS_OT
@pytest.mark.parametrize("limit", [None, "8M"], ids=["unlimited", "8MiB-per-peer"])
def test_figures_tracker_vs_peer_lists(tmp_path, shoals, trackers, limit):
    """The same 5-peer swarm found through opentracker and given with --peer.
    With every upload at 8 MiB/s, T* = 5 x 32 MiB / (6 x 8 MiB/s) = 3.3 s."""
    data, torrent, t = make_payload(tmp_path, 32 * 1024 * 1024)
    tr = start_tracker(trackers, "opentracker", str(tmp_path), [t.info_hash])
    lim = ["--upload-limit", limit] if limit else []
    s1, _, via_tracker = run_swarm(tmp_path, shoals, data, torrent, 5, tracker_url=tr.http, tag="trk",
                                   extra_get=lim, extra_seed=lim)
    assert s1.stop(10) == 0
    s2, _, via_peers = run_swarm(tmp_path, shoals, data, torrent, 5, peer_lists=True, tag="peer",
                                 extra_get=lim, extra_seed=lim)
    assert s2.stop(10) == 0
    print("5 gets of 32 MiB, upload limit %s: via tracker %.2f s, via --peer %.2f s"
          % (limit or "none", via_tracker, via_peers))
