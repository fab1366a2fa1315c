"""aria2 (1.36, v1 only) in shoal's swarms, real processes on loopback.

- aria2 downloads a directory tree from `shoal seed`, finding it through
  `shoal tracker` (v1 torrent).
- `shoal get` downloads from an aria2 seeder given with --peer.

Not tested: hybrid torrents. aria2 1.36 computes a different v1 info hash
for a hybrid torrent than libtorrent and shoal do (`aria2c -S` on a hybrid
that libtorrent made shows the same wrong hash), so it lands in a swarm of
its own; it cannot join hybrid swarms made by any client.

aria2 binds every socket to --interface, so the tracker sees it on its own
127.x address. It never exits while seeding: the test stops it by pid.
"""

import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import scaled
from peers import (  # noqa: F401  (shoals is a fixture)
    assert_same_data,
    free_port,
    make_tree,
    new_ip,
    run_shoal,
    shoals,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

pytestmark = pytest.mark.skipif(shutil.which("aria2c") is None, reason="aria2c is not installed")

# Quiet, no discovery beside the tracker, no preallocation, TCP only.
ARIA2_COMMON = [
    "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
    "--enable-peer-exchange=false", "--file-allocation=none", "--summary-interval=0",
    "--console-log-level=warn", "--bt-require-crypto=false", "--disable-ipv6=true",
    "--check-certificate=false", "--allow-overwrite=true", "--auto-file-renaming=false",
]


class Aria2:
    def __init__(self, args, workdir, name):
        self.log_path = os.path.join(workdir, name + ".log")
        self._log = open(self.log_path, "wb")
        self.p = subprocess.Popen(["aria2c"] + ARIA2_COMMON + args, stdout=self._log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self):
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-3000:]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._log.close()


@pytest.fixture
def aria2s():
    started = []

    def start(args, workdir, name):
        a = Aria2(args, workdir, name)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


def start_tracker(shoals, workdir):
    ip = new_ip()
    port = free_port(ip)
    from peers import ShoalProc

    t = ShoalProc(shoals, ["tracker", "-l", "%s:%d" % (ip, port), "--interval", "2"], workdir,
                  "tracker")
    deadline = time.monotonic() + scaled(10)
    while "tracker listening on" not in t.stderr() + t.stdout():
        assert t.poll() is None and time.monotonic() < deadline, t.describe()
        time.sleep(0.05)
    return "http://%s:%d/announce" % (ip, port)


def create(data, out, version, tracker=None):
    args = ["create", "--" + version, "--piece-size", "32768", "-o", out]
    if tracker:
        args += ["-t", tracker]
    r = run_shoal(args + [data])
    assert r.returncode == 0, r.stderr
    return out


def test_aria2_downloads_from_shoal_seed(tmp_path, shoals, aria2s):
    url = start_tracker(shoals, str(tmp_path))
    data = make_tree(str(tmp_path / "tree"), {"a.bin": 300_001, "sub/b.bin": 70_000,
                                              "sub/c.bin": 1})
    torrent = create(data, str(tmp_path / "t.torrent"), "v1", url)
    seed = start_seed(shoals, str(tmp_path), torrent, data, name="seed", extra=["--json"])
    ip = new_ip()
    down = tmp_path / "aria2"
    a = aria2s(["--interface=" + ip, "--listen-port=%d" % free_port(ip), "--seed-time=0",
                "-d", str(down), torrent], str(tmp_path), "aria2")
    try:
        a.p.wait(scaled(60))
    except subprocess.TimeoutExpired:
        pytest.fail("aria2 did not finish:\n" + a.log() + "\n" + seed.describe())
    assert a.p.returncode == 0, a.log()
    assert_same_data(data, str(down / "tree"))
    seed.stop()
    assert seed.json()["up_bytes"] >= 370_002


def test_shoal_gets_from_aria2_seeder(tmp_path, shoals, aria2s):
    data = write_random(str(tmp_path / "src" / "file.bin"), 1_000_003)
    torrent = create(data, str(tmp_path / "t.torrent"), "v1")
    ip = new_ip()
    port = free_port(ip)
    a = aria2s(["--interface=" + ip, "--listen-port=%d" % port, "-V", "--seed-ratio=0.0",
                "--bt-seed-unverified=false", "-d", str(tmp_path / "src"), torrent],
               str(tmp_path), "aria2-seed")
    deadline = time.monotonic() + scaled(30)
    while True:  # aria2 listens once it has checked the file
        assert a.p.poll() is None, a.log()
        try:
            socket.create_connection((ip, port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "aria2 never listened:\n" + a.log()
            time.sleep(0.1)
    out = tmp_path / "out"
    g = start_get(shoals, str(tmp_path), torrent, str(out), peers=["%s:%d" % (ip, port)],
                  wait_listen=False, extra=["--json", "--timeout", "20"])
    wait_all([g], scaled(40))
    assert g.p.returncode == 0, g.describe() + "\n" + a.log()
    assert_same_data(data, str(out / "file.bin"))
    j = g.json()
    assert j["status"] == "complete" and j["down_bytes"] >= 1_000_003
