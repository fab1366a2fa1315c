"""`shoal seed` / `shoal get` at the command line: help, usage errors (exit 2,
naming what was wrong), PATH mismatch reports, --timeout, signals."""

import os
import re
import signal
import time

from peers import (  # noqa: F401  (shoals is a fixture)
    new_ip,
    shoals,
    run_shoal,
    shoal_create,
    scaled,
    start_get,
    start_seed,
    write_random,
)

PIECE = 16384


def small_torrent(tmp_path, size=64 * PIECE, version="hybrid"):
    data = write_random(str(tmp_path / "data.bin"), size)
    t = shoal_create(data, str(tmp_path / "data.torrent"), version=version, piece_size=PIECE)
    return data, t


def test_help_exits_0():
    for cmd in ("seed", "get"):
        r = run_shoal([cmd, "--help"])
        assert r.returncode == 0, r.stderr
        assert ("usage: shoal %s" % cmd) in r.stdout
        for opt in ("--upload-limit", "--download-limit", "--json", "--max-conns", "--log-level", "-l"):
            assert opt in r.stdout, "%s --help does not mention %s" % (cmd, opt)
    r = run_shoal(["get", "-h"])
    assert r.returncode == 0 and "--timeout" in r.stdout and "--seed-for" in r.stdout
    r = run_shoal(["--help"])
    assert r.returncode == 0 and re.search(r"^\s+seed\s", r.stdout, re.M) and re.search(r"^\s+get\s", r.stdout, re.M)


def test_unknown_option(tmp_path):
    _, t = small_torrent(tmp_path)
    for cmd in (["get", "--frobnicate", t], ["seed", "--frobnicate", t, "x"]):
        r = run_shoal(cmd)
        assert r.returncode == 2, r
        assert "--frobnicate" in r.stderr


def test_missing_arguments():
    r = run_shoal(["get"])
    assert r.returncode == 2 and "TORRENT" in r.stderr
    r = run_shoal(["seed", "x.torrent"])
    assert r.returncode == 2 and "PATH" in r.stderr
    r = run_shoal(["get", "a.torrent", "b.torrent"])
    assert r.returncode == 2 and "b.torrent" in r.stderr


def test_bad_addresses(tmp_path):
    _, t = small_torrent(tmp_path)
    cases = [
        (["get", "-l", "1.2.3", t], "1.2.3"),
        (["get", "-l", "127.0.0.1:99999", t], "127.0.0.1:99999"),
        (["get", "--peer", "nonsense", t], "nonsense"),
        (["get", "--peer", "127.0.0.1", t], "127.0.0.1"),
        (["seed", "-l", "300.1.1.1:5", t, str(tmp_path / "data.bin")], "300.1.1.1:5"),
    ]
    for args, what in cases:
        r = run_shoal(args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert what in r.stderr, (args, r.stderr)


def test_bad_option_values(tmp_path):
    _, t = small_torrent(tmp_path)
    cases = [
        (["get", "--upload-limit", "lots", t], "lots"),
        (["get", "--download-limit", "-5", t], "-5"),
        (["get", "--timeout", "soon", t], "soon"),
        (["get", "--seed-for", "x", t], "x"),
        (["get", "--max-conns", "0", t], "0"),
        (["get", "--max-conns", "12abc", t], "12abc"),
        (["get", "--log-level", "loud", t], "loud"),
    ]
    for args, what in cases:
        r = run_shoal(args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert what in r.stderr, (args, r.stderr)


def test_missing_and_invalid_torrent(tmp_path):
    missing = str(tmp_path / "nope.torrent")
    for args in (["get", missing], ["seed", missing, str(tmp_path)]):
        r = run_shoal(args)
        assert r.returncode == 2
        assert "nope.torrent" in r.stderr
    junk = tmp_path / "junk.torrent"
    junk.write_bytes(b"d4:infoi3ee")
    r = run_shoal(["get", str(junk)])
    assert r.returncode == 2 and "junk.torrent" in r.stderr


def test_seed_path_missing(tmp_path):
    _, t = small_torrent(tmp_path)
    gone = str(tmp_path / "elsewhere.bin")
    r = run_shoal(["seed", "-l", new_ip() + ":0", t, gone])
    assert r.returncode == 2, r.stderr
    assert "elsewhere.bin" in r.stderr


def test_seed_path_mismatch_names_pieces(tmp_path):
    data, t = small_torrent(tmp_path, size=64 * PIECE)
    with open(data, "r+b") as f:
        for p in (0, 17, 42):
            f.seek(p * PIECE + 100)
            b = f.read(1)
            f.seek(p * PIECE + 100)
            f.write(bytes([b[0] ^ 0xFF]))
    r = run_shoal(["seed", "-l", new_ip() + ":0", t, data], timeout=60)
    assert r.returncode == 2, r.stderr
    assert "3 of 64 pieces missing or wrong (first: 0, 17, 42)" in r.stderr, r.stderr
    assert "data.bin" in r.stderr and "data.torrent" in r.stderr
    assert "listening on" not in r.stdout


def test_seed_path_truncated(tmp_path):
    data, t = small_torrent(tmp_path, size=64 * PIECE)
    os.truncate(data, 60 * PIECE)
    r = run_shoal(["seed", "-l", new_ip() + ":0", t, data], timeout=60)
    assert r.returncode == 2, r.stderr
    assert "data.bin" in r.stderr
    assert "pieces missing or wrong" in r.stderr or "size" in r.stderr, r.stderr


def test_get_timeout_without_peers(tmp_path):
    _, t = small_torrent(tmp_path)
    dead = "%s:%d" % (new_ip(), 9)  # nobody listens there: connection refused
    t0 = time.monotonic()
    r = run_shoal(["get", "-o", str(tmp_path / "out"), "-l", new_ip() + ":0", "--peer", dead,
                   "--timeout", "2", t], timeout=30)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert "no data from any peer for 2 s" in r.stderr, r.stderr
    assert "0 of 1 peers connected" in r.stderr, r.stderr
    assert took < scaled(10)


def test_get_json_on_timeout(tmp_path):
    import json

    _, t = small_torrent(tmp_path)
    r = run_shoal(["get", "--json", "-o", str(tmp_path / "out"), "-l", new_ip() + ":0",
                   "--timeout", "1", t], timeout=30)
    assert r.returncode == 1
    j = json.loads(r.stdout.strip().splitlines()[-1])
    assert j["status"] != "complete"
    assert j["down_bytes"] == 0 and j["bytes"] == 64 * PIECE


def test_seed_listens_and_stops_gracefully(tmp_path, shoals):
    data, t = small_torrent(tmp_path)
    s = start_seed(shoals, str(tmp_path), t, data, extra=["--json"])
    ip, port = s.addr.rsplit(":", 1)
    assert int(port) > 0
    s.signal(signal.SIGINT)
    assert s.wait(10) == 0, s.describe()
    out = s.stdout().splitlines()
    assert out[0] == "listening on " + s.addr
    import json

    j = json.loads(out[-1])
    assert j["status"] == "seeding" or j["status"] == "stopped"
    assert j["up_bytes"] == 0 and j["bytes"] == 64 * PIECE
    assert len(j["info_hash"]) in (40, 64)


def test_get_sigterm_keeps_part_and_says_resume(tmp_path, shoals):
    data, t = small_torrent(tmp_path)
    out = tmp_path / "out"
    g = start_get(shoals, str(tmp_path), t, str(out), extra=["--timeout", "0"])
    time.sleep(0.3)
    g.signal(signal.SIGTERM)
    assert g.wait(10) == 1, g.describe()
    err = g.stderr()
    assert "resume" in err.lower(), err
    assert (out / "data.bin.part").exists()
    assert not (out / "data.bin").exists()
