"""The origin dies: a fleet that already holds every piece still finishes.

Real processes, each on its own 127.x.y.z address: a `shoal tracker`, one
origin (`shoal seed`, upload capped so the fleet is still at work when it
dies) and 12 `shoal get` that know nothing but the tracker's URL. Getters
are started with --seed-for, as a fleet's hosts keep serving once done: a
getter that exits on completion takes the pieces only it holds along (the
first version of this test, without it, had 11 getters stuck at 95 of 96
pieces after the first finisher left).

When every piece exists somewhere in the swarm is judged from the getters'
disks, not from anything shoal says about itself: the test reads each
getter's DIR/payload.bin.part (or the finished DIR/payload.bin) and hashes
it piece by piece against the torrent's SHA-1s. A piece whose bytes are
right on some getter's disk is held by the swarm: that getter received
every block of it and verifies it from there. The origin's upload counter
would not do: bytes that left the origin may still sit in a socket buffer
(and still arrive after the kill, which only helps), or may have gone to
the same piece twice.

- killed (SIGKILL) once the union of the getters' verified pieces is the
  whole file: every getter completes with the origin's bytes, and exits 0
  when stopped;
- killed while pieces are still missing everywhere (its upload cap makes
  sure it cannot have sent the whole file yet): no getter produces an
  output file, each gives up after --timeout with exit 1, its partial data
  kept in the .part, and what each says it has is what its disk holds.
"""

import hashlib
import os
import socket
import time

from conftest import scaled
from peers import (  # noqa: F401  (shoals is a fixture)
    ShoalProc,
    Torrent,
    assert_same_data,
    new_ip,
    shoal_create,
    shoals,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

GETTERS = 12
SIZE = 4 * 1024 * 1024
PIECE = 64 * 1024  # 64 pieces: fine enough that the union grows piece by piece
ORIGIN_RATE = 1024 * 1024  # the origin alone needs >= 4 s to send the file once
# Getters upload slower than the origin: the fleet as a whole needs about
# 12 x 4 MiB / (1 + 12 x 0.5 MiB/s) = 7 s, so when the origin has sent the
# last piece once (>= 4 s) most getters are still far from done. Uncapped,
# they would pass each piece on within milliseconds and only the last
# piece would be missing anywhere when the origin dies.
GETTER_RATE = 512 * 1024


def start_tracker(shoals, workdir):
    ip = new_ip()
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    tr = ShoalProc(shoals, ["tracker", "-l", "%s:%d" % (ip, port), "--interval", "2",
                            "--log-level", "info"], workdir, "tracker")
    deadline = time.monotonic() + scaled(10)
    while True:
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                break
        except OSError:
            assert tr.poll() is None, tr.describe()
            assert time.monotonic() < deadline, "the tracker never listened: " + tr.describe()
            time.sleep(0.05)
    return tr, "http://%s:%d/announce" % (ip, port)


class PieceCensus:
    """Which pieces are verifiably on some getter's disk (by SHA-1 of the bytes)."""

    def __init__(self, torrent, out_dirs, procs):
        t = Torrent(torrent)
        assert t.v1 and t.piece_length == PIECE and t.total == SIZE
        blob = t.info[b"pieces"]
        self.hashes = [blob[i:i + 20] for i in range(0, len(blob), 20)]
        self.name = t.name
        self.out_dirs = out_dirs
        self.procs = procs
        self.held = set()

    def _read_piece(self, path, i):
        try:
            with open(path, "rb") as f:
                f.seek(i * PIECE)
                return f.read(PIECE)
        except OSError:
            return None

    def on_disk(self, out_dir, i):
        for name in (self.name, self.name + ".part"):
            data = self._read_piece(os.path.join(out_dir, name), i)
            if data and hashlib.sha1(data).digest() == self.hashes[i]:
                return True
        return False

    def poll(self):
        """Updates and returns the set of pieces some running getter holds. A
        getter never loses a verified piece, so a piece once seen stays
        counted as long as no getter exits (they all --seed-for long)."""
        live = [d for d, p in zip(self.out_dirs, self.procs) if p.poll() is None]
        assert len(live) == len(self.out_dirs), "a getter left before the census was done"
        for i in range(len(self.hashes)):
            if i not in self.held and any(self.on_disk(d, i) for d in live):
                self.held.add(i)
        return self.held

    def held_by(self, out_dir):
        return {i for i in range(len(self.hashes)) if self.on_disk(out_dir, i)}

    @property
    def complete(self):
        return len(self.held) == len(self.hashes)


def start_fleet(tmp_path, shoals, timeout, seed_for=0):
    data = write_random(str(tmp_path / "payload.bin"), SIZE)
    torrent = shoal_create(data, str(tmp_path / "payload.torrent"), version="v1", piece_size=PIECE)
    tr, url = start_tracker(shoals, str(tmp_path))
    seed = start_seed(shoals, str(tmp_path), torrent, data, port=6881,
                      extra=["-t", url, "--json", "--log-level", "info",
                             "--upload-limit", str(ORIGIN_RATE)], name="origin")
    outs = [str(tmp_path / ("out%d" % i)) for i in range(GETTERS)]
    gets = [start_get(shoals, str(tmp_path), torrent, outs[i], port=6881,
                      extra=["-t", url, "--json", "--log-level", "info",
                             "--timeout", str(timeout), "--seed-for", str(seed_for),
                             "--upload-limit", str(GETTER_RATE)],
                      name="get%d" % i, wait_listen=False)
            for i in range(GETTERS)]
    return data, torrent, tr, seed, gets, outs


def origin_sent(seed_proc):
    return seed_proc.json()["up_bytes"]


def test_origin_killed_once_every_piece_is_in_the_swarm(tmp_path, shoals):
    # --seed-for: a getter that completes keeps serving, as a fleet's hosts
    # do; one that left at once would take the pieces only it holds along.
    data, torrent, tr, seed, gets, outs = start_fleet(tmp_path, shoals, timeout=20, seed_for=600)
    census = PieceCensus(torrent, outs, gets)
    t0 = time.monotonic()
    deadline = t0 + scaled(20)
    while not census.complete:
        assert time.monotonic() < deadline, "the swarm never held every piece: %d of %d" % (
            len(census.held), len(census.hashes))
        assert seed.poll() is None, seed.describe()
        census.poll()
        time.sleep(0.05)
    seed.kill()
    killed_at = time.monotonic() - t0
    finals = [os.path.join(d, "payload.bin") for d in outs]
    # the kill came while the fleet was still at work
    running = sum(1 for f in finals if not os.path.exists(f))
    deadline = time.monotonic() + scaled(30)
    while not all(os.path.exists(f) for f in finals):
        left = [g.describe() for f, g in zip(finals, gets) if not os.path.exists(f)]
        assert time.monotonic() < deadline, "not every getter finished:\n" + "\n\n".join(left)
        for g in gets:
            assert g.poll() is None, g.describe()
        time.sleep(0.05)
    took = time.monotonic() - t0
    for g in gets:
        g.signal()  # SIGTERM: a complete getter that is seeding exits 0
    codes = wait_all(gets, 10)
    bad = [g.describe() for g, c in zip(gets, codes) if c != 0]
    assert not bad, "\n\n".join(bad)
    for i, g in enumerate(gets):
        assert_same_data(data, os.path.join(outs[i], "payload.bin"))
        assert not os.path.exists(os.path.join(outs[i], "payload.bin.part"))
        j = g.json()
        assert j["status"] == "complete", j
        assert j["pieces_have"] == len(census.hashes), j
        assert j["hash_failures"] == 0, j
    assert running >= GETTERS // 2, "most getters were done before the kill (%d running)" % running
    print("origin killed at %.1f s with %d/%d getters running; all done at %.1f s"
          % (killed_at, running, GETTERS, took))


def test_origin_killed_too_early_leaves_no_output(tmp_path, shoals):
    t0 = time.monotonic()  # before the origin starts: it can upload from then on
    data, torrent, tr, seed, gets, outs = start_fleet(tmp_path, shoals, timeout=3)
    census = PieceCensus(torrent, outs, gets)
    deadline = time.monotonic() + scaled(10)
    # wait until the swarm holds something, so the getters have pieces to trade
    while len(census.poll()) < 4:
        assert time.monotonic() < deadline, "no piece ever arrived: " + seed.describe()
        time.sleep(0.05)
    seed.kill()
    elapsed = time.monotonic() - t0
    # The cap bounds what the origin can have written to its sockets (plus
    # its bucket, a tenth of a second's worth; a second is generous): not the
    # whole file.
    assert (elapsed + 1.0) * ORIGIN_RATE < SIZE, "too slow to kill early (%.1f s)" % elapsed
    codes = wait_all(gets, 30)
    final = set().union(*(census.held_by(d) for d in outs))
    assert len(final) < len(census.hashes), "the swarm ended up with every piece"
    for i, (g, c) in enumerate(zip(gets, codes)):
        assert c == 1, g.describe()
        assert not os.path.exists(os.path.join(outs[i], "payload.bin")), g.describe()
        assert os.path.exists(os.path.join(outs[i], "payload.bin.part")), g.describe()
        assert "no data from any peer for 3 s" in g.stderr(), g.describe()
        j = g.json()
        assert j["status"] == "timeout", j
        assert j["hash_failures"] == 0, j
        # what it says it has is what its disk has, and not more than the swarm held
        have = census.held_by(outs[i])
        assert j["pieces_have"] == len(have), (j, sorted(have))
        assert have <= final
    print("origin killed at %.1f s: the swarm held %d of %d pieces; every getter timed out"
          % (elapsed, len(final), len(census.hashes)))
