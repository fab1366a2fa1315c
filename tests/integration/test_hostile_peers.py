"""`shoal get` next to an honest shoal seeder and a hostile peer (hostile.py):
it completes with correct data, closes the hostile connection, bans the
peer that sends wrong data, and never crashes."""

import pytest

from hostile import MODES, HostilePeer
from peers import (  # noqa: F401  (shoals is a fixture)
    Torrent,
    assert_same_data,
    new_ip,
    shoals,
    shoal_create,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

SIZE = 4 * 1024 * 1024
PIECE = 64 * 1024
SEED_UP = 1024 * 1024  # slow honest seeder: the download takes ~4 s, so the hostile peer gets asked


@pytest.mark.parametrize("mode", MODES)
def test_hostile_peer(tmp_path, shoals, mode):
    data = write_random(str(tmp_path / "f.bin"), SIZE)
    torrent = shoal_create(data, str(tmp_path / "f.torrent"), piece_size=PIECE)
    t = Torrent(torrent)
    assert t.num_pieces == SIZE // PIECE
    seed = start_seed(shoals, str(tmp_path), torrent, data, extra=["--upload-limit", str(SEED_UP)])
    hp = HostilePeer(new_ip(), t, mode, linger=15)
    try:
        out = tmp_path / "out"
        # The hostile peer first, so it is dialled no later than the seeder.
        g = start_get(shoals, str(tmp_path), torrent, str(out), peers=[hp.addr, seed.addr],
                      extra=["--json", "--timeout", "30", "--log-level", "info"])
        assert wait_all([g], 60) == [0], g.describe()
        assert_same_data(data, str(out / "f.bin"))
        err = g.stderr()
        assert "AddressSanitizer" not in err and "runtime error" not in err, err
        j = g.json()
        assert j["status"] == "complete"
    finally:
        hp.close()
    conns = hp.snapshot()
    for r in conns:  # shown when the test fails (or with -s)
        print("%s: conn from %s: offence %s, %d requests, %d pieces, ended %s after %s s" % (
            mode, r.peer, r.offence_sent, r.requests, r.pieces_sent, r.end, r.ended_after))
    print("%s: get summary %s" % (mode, j))
    assert conns, "shoal never connected to the hostile peer"
    for r in conns:
        if not r.offence_sent:
            continue
        assert r.end in ("eof", "reset"), "hostile connection from %s ended with %s after %s s" % (
            r.peer, r.end, r.ended_after)
    assert any(r.offence_sent for r in conns), [(r.peer, r.end) for r in conns]
    if mode == "wrong_data":
        assert sum(r.requests for r in conns) >= 1, "shoal never requested from the wrong-data peer"
        assert j["banned"] >= 1, j
        assert j["hash_failures"] >= 1, j
        # Banned: at most a couple of attempts, not a reconnect loop.
        assert len(conns) <= 2, "%d connections to a banned peer" % len(conns)
