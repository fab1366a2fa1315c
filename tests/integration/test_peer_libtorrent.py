"""Interop with libtorrent-rasterbar 2.0 both ways, for v1, v2 and hybrid
torrents: shoal downloads what libtorrent seeds (torrents libtorrent made),
libtorrent downloads what shoal seeds (torrents shoal made). Data must be
byte-identical; multi-file trees in both directions."""

import os

import pytest

from peers import (  # noqa: F401  (shoals is a fixture)
    assert_same_data,
    make_tree,
    new_ip,
    shoals,
    shoal_create,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

lt = pytest.importorskip("libtorrent")
from ltpeer import LtPeer, make_torrent  # noqa: E402

# Odd sizes: files that end mid-block and mid-piece, one shorter than a block,
# so v2 per-file alignment and hybrid pad files are exercised.
TREE = {
    "big.bin": 3 * 1024 * 1024 + 12345,
    "sub/mid.bin": 300 * 1024 + 1,
    "sub/deeper/tiny.txt": 77,
    "z-last.bin": 65536,
}
SINGLE = 2 * 1024 * 1024 + 999

# (version, multi-file?) for each direction: every version each way, and a
# tree in at least one case each way.
LT_SEEDS = [("v1", False), ("v2", True), ("hybrid", True)]
SHOAL_SEEDS = [("v1", True), ("v2", False), ("hybrid", True)]


def payload(root, multi):
    if multi:
        return make_tree(os.path.join(root, "tree"), TREE)
    return write_random(os.path.join(root, "single.bin"), SINGLE)


@pytest.mark.parametrize("version,multi", LT_SEEDS, ids=["%s-%s" % (v, "tree" if m else "file") for v, m in LT_SEEDS])
def test_shoal_downloads_from_libtorrent(tmp_path, shoals, version, multi):
    src = tmp_path / "src"
    data = payload(str(src), multi)
    torrent = make_torrent(data, version, str(tmp_path / ("lt-%s.torrent" % version)), piece_size=64 * 1024)
    seeder = LtPeer(new_ip())
    try:
        h = seeder.add(torrent, str(src))
        seeder.wait_seeding(h, 30)
        out = tmp_path / "out"
        g = start_get(shoals, str(tmp_path), torrent, str(out), peers=[seeder.addr],
                      extra=["--json", "--timeout", "30"])
        assert wait_all([g], 60) == [0], g.describe()
        assert_same_data(data, str(out / os.path.basename(data)))
        j = g.json()
        assert j["status"] == "complete"
        assert j["hash_failures"] == 0 and j["banned"] == 0
        assert j["down_bytes"] >= j["bytes"]
        assert not os.path.exists(str(out / os.path.basename(data)) + ".part")
    finally:
        seeder.close()


@pytest.mark.parametrize("version,multi", SHOAL_SEEDS, ids=["%s-%s" % (v, "tree" if m else "file") for v, m in SHOAL_SEEDS])
def test_libtorrent_downloads_from_shoal(tmp_path, shoals, version, multi):
    src = tmp_path / "src"
    data = payload(str(src), multi)
    torrent = shoal_create(data, str(tmp_path / ("shoal-%s.torrent" % version)), version=version,
                           piece_size=32 * 1024)
    s = start_seed(shoals, str(tmp_path), torrent, data, extra=["--json", "--log-level", "info"])
    leech = LtPeer(new_ip())
    try:
        out = tmp_path / "lt-out"
        out.mkdir()
        h = leech.add(torrent, str(out))
        leech.connect(h, s.addr)
        leech.wait_seeding(h, 60, reconnect=s.addr)
        assert_same_data(data, str(out / os.path.basename(data)))
    finally:
        leech.close()
    assert s.stop(10) == 0, s.describe()
    j = s.json()
    assert j["up_bytes"] >= j["bytes"], j
