"""Gossip and magnet links with real processes on loopback, each peer on its
own 127.x.y.z address.

- PEX: 20 `shoal get` peers, each told ONE other address (a chain; only the
  last knows the seeder), all complete, and peers that were never told the
  seeder's address reach it.
- Magnet: `shoal get 'magnet:?...&x.pe=<seeder>'` from a `shoal seed`
  completes byte-identical, for v1 (btih), hybrid (btih + btmh, and btmh
  alone) and v2-only (btmh: piece layers fetched with hash requests); and
  through a `shoal tracker` named by tr= alone, or through the DHT alone;
  and a trackerless swarm of 20 magnet gets with one DHT bootstrap node.
- Interop: a libtorrent seeder serves the metadata to `shoal get magnet:`;
  libtorrent fetches the metadata from `shoal seed` through a magnet link.
- Hostile: a Python peer that serves bad metadata (wrong bytes, or a lying
  metadata_size) beside an honest seeder: shoal rejects it and completes.
"""

import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from conftest import scaled
from peers import (  # noqa: F401  (shoals is a fixture)
    Torrent,
    assert_same_data,
    free_port,
    make_tree,
    new_ip,
    shoal_create,
    shoals,
    start_get,
    start_seed,
    wait_all,
    write_random,
)
from shoal_bencode import decode, encode, info_bytes


def magnet(torrent_path, kinds, peers=(), name=None):
    """A magnet link for the torrent: kinds is a subset of {"btih", "btmh"}."""
    info = info_bytes(open(torrent_path, "rb").read())
    parts = []
    if "btih" in kinds:
        parts.append("xt=urn:btih:" + hashlib.sha1(info).hexdigest())
    if "btmh" in kinds:
        parts.append("xt=urn:btmh:1220" + hashlib.sha256(info).hexdigest())
    if name:
        parts.append("dn=" + name)
    parts += ["x.pe=" + p for p in peers]
    return "magnet:?" + "&".join(parts)


# ---------------------------------------------------------------- PEX


def test_pex_chain_of_twenty(tmp_path, shoals):
    """Each get knows one address: get k knows get k+1, the last knows the
    seeder. The seeder is slow (one copy takes about 25 s), so the chain
    is formed while data still trickles in. Everyone completes, and peer
    exchange adds the connections nobody was told about."""
    data = write_random(str(tmp_path / "payload.bin"), 6 * 1024 * 1024 + 123)
    torrent = shoal_create(data, str(tmp_path / "p.torrent"), piece_size=64 * 1024)
    seed = start_seed(shoals, str(tmp_path), torrent, data,
                      extra=["--upload-limit", "256K", "--json"], name="seed")
    n = 20
    ips = [new_ip() for _ in range(n)]
    ports = [free_port(ip) for ip in ips]
    addrs = ["%s:%d" % (ip, p) for ip, p in zip(ips, ports)]
    gets = [None] * n
    for k in reversed(range(n)):  # each one's address is listening before it is dialed
        told = addrs[k + 1] if k + 1 < n else seed.addr
        out = tmp_path / ("out%02d" % k)
        gets[k] = start_get(shoals, str(tmp_path), torrent, str(out), peers=[told], ip=ips[k],
                            port=ports[k], name="get%02d" % k,
                            extra=["--json", "--seed-for", "5", "--timeout", "120"])
    codes = wait_all(gets, 240)
    assert codes == [0] * n, [g.describe() for g, c in zip(gets, codes) if c != 0][:2]
    for k in range(n):
        assert_same_data(data, str(tmp_path / ("out%02d" % k) / "payload.bin"))
    assert seed.stop() == 0
    seed_peers = seed.json()["peers"]
    most = sorted(g.json()["peers"] for g in gets)
    print("pex chain: the seeder saw up to %d peers at once; gets' peak peers %s" % (seed_peers, most))
    # Only get19 was given the seeder. Every new connection brings a first
    # exchange 3 s after its handshake, listing the sender's connections, so
    # addresses spread from connection to connection well before the next
    # once-a-minute round: the seeder meets most of the chain, and each get,
    # told one address, meets most of the others.
    assert seed_peers >= 10, seed.describe()
    assert most[0] >= 5, most


# ---------------------------------------------------------------- magnet from shoal seed

TREE = {
    "big.bin": 9 * 1024 * 1024 + 4321,  # > 512 pieces of 16 KiB: two layer requests
    "sub/mid.bin": 300 * 1024 + 1,
    "sub/tiny.txt": 77,
}
CASES = [("v1", {"btih"}), ("hybrid", {"btih", "btmh"}), ("hybrid", {"btmh"}), ("v2", {"btmh"})]


@pytest.mark.parametrize("version,kinds", CASES,
                         ids=["%s-%s" % (v, "+".join(sorted(k))) for v, k in CASES])
def test_magnet_from_shoal_seed(tmp_path, shoals, version, kinds):
    data = make_tree(str(tmp_path / "tree"), TREE)
    torrent = shoal_create(data, str(tmp_path / "t.torrent"), version=version,
                           piece_size=16 * 1024)
    seed = start_seed(shoals, str(tmp_path), torrent, data, name="seed")
    link = magnet(torrent, kinds, peers=[seed.addr], name="tree")
    out = tmp_path / "out"
    g = start_get(shoals, str(tmp_path), link, str(out), name="get",
                  extra=["--json", "--timeout", "60"])
    assert wait_all([g], 120) == [0], g.describe()
    assert_same_data(data, str(out / "tree"))
    err = g.stderr()
    assert "fetching metadata" in err and "metadata: tree" in err, err
    j = g.json()
    assert j["status"] == "complete" and j["hash_failures"] == 0, j


def test_magnet_through_tracker(tmp_path, shoals):
    """No peer address anywhere: the link's tr= names a `shoal tracker`, to
    which the seeder announces; the fetch finds the seeder there."""
    from conftest import wait_port
    from peers import ShoalProc

    tip = new_ip()
    tport = free_port(tip)
    ShoalProc(shoals, ["tracker", "-l", "%s:%d" % (tip, tport)], str(tmp_path), "tracker")
    wait_port(tip, tport, scaled(10))
    url = "http://%s:%d/announce" % (tip, tport)
    data = make_tree(str(tmp_path / "tree"), TREE)
    torrent = shoal_create(data, str(tmp_path / "t.torrent"), version="hybrid")
    start_seed(shoals, str(tmp_path), torrent, data, name="seed", extra=["-t", url])
    time.sleep(1)  # its first announce
    link = magnet(torrent, {"btih", "btmh"}) + "&tr=" + url
    out = tmp_path / "out"
    g = start_get(shoals, str(tmp_path), link, str(out), name="get", wait_listen=False,
                  extra=["--json", "--timeout", "30"])
    assert wait_all([g], 60) == [0], g.describe()
    assert_same_data(data, str(out / "tree"))
    assert [t["url"] for t in g.json()["trackers"]] == [url]


def test_magnet_through_dht(tmp_path, shoals):
    """No peer address and no tracker: the seeder announces in the DHT
    through a `shoal dht` router; the magnet fetch finds it there."""
    from dht_util import start_router

    router = start_router(shoals, str(tmp_path))
    boot = ["--dht-bootstrap", router]
    data = make_tree(str(tmp_path / "tree"), TREE)
    torrent = shoal_create(data, str(tmp_path / "t.torrent"), version="v2", piece_size=16 * 1024)
    start_seed(shoals, str(tmp_path), torrent, data, name="seed", extra=boot)
    link = magnet(torrent, {"btmh"})
    out = tmp_path / "out"
    g = start_get(shoals, str(tmp_path), link, str(out), name="get", wait_listen=False,
                  extra=boot + ["--json", "--timeout", "30", "--log-level", "info"])
    assert wait_all([g], 60) == [0], g.describe()
    assert_same_data(data, str(out / "tree"))
    assert "metadata lookup done" in g.stderr(), g.stderr()


def test_trackerless_magnet_swarm_of_twenty(tmp_path, shoals):
    """Issue 5: twenty `shoal get` from a magnet link and ONE bootstrap node,
    no tracker and no peer address anywhere: the DHT finds the seeder (and
    each other), the metadata comes from peers, the swarm completes. The
    seeder is capped so the getters must also trade among themselves."""
    from dht_util import start_router

    router = start_router(shoals, str(tmp_path))
    boot = ["--dht-bootstrap", router]
    data = write_random(str(tmp_path / "file.bin"), 2 * 1024 * 1024 + 777)
    torrent = shoal_create(data, str(tmp_path / "t.torrent"), piece_size=64 * 1024)
    seed = start_seed(shoals, str(tmp_path), torrent, data, name="seed",
                      extra=boot + ["--upload-limit", "1M", "--json"])
    link = magnet(torrent, {"btih", "btmh"})
    gets = [start_get(shoals, str(tmp_path), link, str(tmp_path / ("out%d" % i)),
                      name="get%d" % i, wait_listen=False,
                      extra=boot + ["--json", "--timeout", "60", "--seed-for", "5"])
            for i in range(20)]
    assert wait_all(gets, scaled(120)) == [0] * 20, \
        [g.describe() for g in gets if g.p.returncode != 0]
    traded = 0
    for i, g in enumerate(gets):
        assert_same_data(data, str(tmp_path / ("out%d" % i) / "file.bin"))
        j = g.json()
        assert j["status"] == "complete"
        traded += j["up_bytes"]
    size = os.path.getsize(data)
    # the getters served each other: together more than a few copies
    assert traded > 3 * size, traded
    print("\n20 magnet gets via one DHT router: getters uploaded %.1f copies" %
          (traded / size))


def test_magnet_bad_links(tmp_path, shoals):
    out = str(tmp_path / "out")
    for link, what in [
        ("magnet:?dn=x", "no xt=urn:btih"),
        ("magnet:?xt=urn:btih:1234", "40 hex or 32 base32"),
        ("magnet:?xt=urn:btmh:1114" + "00" * 32, "not SHA-256"),
        ("magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=%zz", "two hex digits"),
    ]:
        from peers import run_shoal

        r = run_shoal(["get", "-o", out, link], timeout=20)
        assert r.returncode == 2, (link, r.stderr)
        assert what in r.stderr, (link, r.stderr)


def test_magnet_no_peers_times_out(tmp_path, shoals):
    from peers import run_shoal

    ip = new_ip()
    link = "magnet:?xt=urn:btih:" + "ab" * 20 + "&x.pe=%s:%d" % (ip, free_port(ip))
    r = run_shoal(["get", "-o", str(tmp_path / "out"), "-l", "%s:0" % new_ip(), "--timeout", "2",
                   link], timeout=30)
    assert r.returncode == 1, r.stderr
    assert "no metadata from any peer for 2 s" in r.stderr, r.stderr


# ---------------------------------------------------------------- libtorrent interop

LT_VERSIONS = ["v1", "hybrid", "v2"]


@pytest.mark.parametrize("version", LT_VERSIONS)
def test_shoal_fetches_metadata_from_libtorrent(tmp_path, shoals, version):
    pytest.importorskip("libtorrent")
    from ltpeer import LtPeer, make_torrent

    data = make_tree(str(tmp_path / "tree"), TREE)
    torrent = make_torrent(data, version, str(tmp_path / "lt.torrent"), piece_size=16 * 1024)
    seeder = LtPeer(new_ip())
    try:
        h = seeder.add(torrent, str(tmp_path))
        seeder.wait_seeding(h, 60)
        kinds = {"btih"} if version == "v1" else {"btmh"} if version == "v2" else {"btih", "btmh"}
        link = magnet(torrent, kinds, peers=[seeder.addr])
        out = tmp_path / "out"
        g = start_get(shoals, str(tmp_path), link, str(out), name="get",
                      extra=["--json", "--timeout", "60"])
        assert wait_all([g], 120) == [0], g.describe()
        assert_same_data(data, str(out / "tree"))
    finally:
        seeder.close()


@pytest.mark.parametrize("version", LT_VERSIONS)
def test_libtorrent_fetches_metadata_from_shoal(tmp_path, shoals, version):
    lt = pytest.importorskip("libtorrent")
    from ltpeer import LtPeer

    data = make_tree(str(tmp_path / "tree"), TREE)
    torrent = shoal_create(data, str(tmp_path / "t.torrent"), version=version,
                           piece_size=16 * 1024)
    seed = start_seed(shoals, str(tmp_path), torrent, data, name="seed")
    kinds = {"btih"} if version == "v1" else {"btmh"} if version == "v2" else {"btih", "btmh"}
    leech = LtPeer(new_ip())
    try:
        params = lt.parse_magnet_uri(magnet(torrent, kinds))
        params.save_path = str(tmp_path / "lt-out")
        params.flags &= ~lt.torrent_flags.auto_managed
        params.flags &= ~lt.torrent_flags.paused
        h = leech.ses.add_torrent(params)
        leech.handles.append(h)
        deadline = time.monotonic() + scaled(60)
        last_dial = 0.0
        while not h.status().has_metadata:
            assert time.monotonic() < deadline, "libtorrent got no metadata: %s" % h.status().state
            if time.monotonic() - last_dial > 2:
                leech.connect(h, seed.addr)
                last_dial = time.monotonic()
            time.sleep(0.1)
        leech.wait_seeding(h, scaled(60), reconnect=seed.addr)
        assert_same_data(data, str(tmp_path / "lt-out" / "tree"))
    finally:
        leech.close()


# ---------------------------------------------------------------- hostile metadata


def _ext(ext_id, payload):
    body = bytes([20, ext_id]) + payload
    return struct.pack(">I", len(body)) + body


class BadMetadataPeer:
    """A peer that has the torrent's info-hash and offers its metadata, then
    serves the wrong bytes (mode "wrong") or claims a bigger metadata_size
    and serves junk of that size (mode "lying_size")."""

    MY_MD_ID = 3

    def __init__(self, ip, info, wire_hash, mode):
        self.info, self.wire_hash, self.mode = info, wire_hash, mode
        self.size = len(info) + (5000 if mode == "lying_size" else 0)
        self.requests = 0
        self.ends = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, 0))
        self.sock.listen(8)
        self.addr = "%s:%d" % (ip, self.sock.getsockname()[1])
        self.stop = threading.Event()
        self.th = threading.Thread(target=self._accept, daemon=True)
        self.th.start()

    def close(self):
        self.stop.set()
        self.sock.close()
        self.th.join(5)

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _exact(c, n):
        buf = b""
        while len(buf) < n:
            d = c.recv(n - len(buf))
            if not d:
                raise EOFError
            buf += d
        return buf

    def _serve(self, c):
        c.settimeout(30)
        try:
            hs = self._exact(c, 68)
            assert hs[28:48] == self.wire_hash
            reserved = bytearray(8)
            reserved[5] |= 0x10
            c.sendall(b"\x13BitTorrent protocol" + bytes(reserved) + self.wire_hash + b"-XX0001-badmetadata0")
            c.sendall(_ext(0, encode({b"m": {b"ut_metadata": self.MY_MD_ID}, b"metadata_size": self.size})))
            theirs = None
            junk = hashlib.sha256(b"junk").digest() * (self.size // 32 + 1)
            if self.mode == "wrong":
                junk = self.info[: len(self.info) // 2] + junk  # half right
            while True:
                (n,) = struct.unpack(">I", self._exact(c, 4))
                body = self._exact(c, n) if n else b""
                if len(body) < 2 or body[0] != 20:
                    continue
                if body[1] == 0:
                    theirs = decode(body[2:]).get(b"m", {}).get(b"ut_metadata")
                    continue
                if body[1] != self.MY_MD_ID or theirs is None:
                    continue
                req = decode(body[2:])
                if req.get(b"msg_type") != 0:
                    continue
                self.requests += 1
                piece = req[b"piece"]
                chunk = junk[piece * 16384 : min(self.size, (piece + 1) * 16384)]
                c.sendall(_ext(theirs, encode({b"msg_type": 1, b"piece": piece,
                                               b"total_size": self.size}) + chunk))
        except (EOFError, ConnectionResetError, BrokenPipeError, socket.timeout, OSError) as e:
            self.ends.append(type(e).__name__)
        finally:
            c.close()


@pytest.mark.parametrize("mode", ["wrong", "lying_size"])
def test_bad_metadata_rejected_honest_used(tmp_path, shoals, mode):
    """The bad peer is alone at first (the honest seeder starts a moment
    later, at an address the link already names), so its metadata is the
    one tried first: rejected, its IP banned; the seeder, dialed again after
    the back-off, serves the download."""
    data = make_tree(str(tmp_path / "tree"), TREE)
    torrent = shoal_create(data, str(tmp_path / "t.torrent"), version="hybrid")
    t = Torrent(torrent)
    info = info_bytes(open(torrent, "rb").read())
    bad = BadMetadataPeer(new_ip(), info, t.info_hash, mode)
    try:
        seed_ip = new_ip()
        seed_port = free_port(seed_ip)
        link = magnet(torrent, {"btih"}, peers=[bad.addr, "%s:%d" % (seed_ip, seed_port)])
        out = tmp_path / "out"
        g = start_get(shoals, str(tmp_path), link, str(out), name="get", wait_listen=False,
                      extra=["--json", "--timeout", "60", "--log-level", "info"])
        deadline = time.monotonic() + scaled(20)
        while "banned" not in g.stderr():
            assert time.monotonic() < deadline, g.describe()
            assert g.poll() is None, g.describe()
            time.sleep(0.05)
        start_seed(shoals, str(tmp_path), torrent, data, ip=seed_ip, port=seed_port, name="seed")
        assert wait_all([g], 120) == [0], g.describe()
        assert_same_data(data, str(out / "tree"))
        err = g.stderr()
        assert "failed the hash check" in err, err
        assert "banned %s" % bad.addr.split(":")[0] in err, err
        assert bad.requests > 0
    finally:
        bad.close()
