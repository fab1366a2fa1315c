"""`shoal info` output: text is safe for a terminal, JSON is valid whatever the torrent holds."""

import hashlib
import json

import libtorrent as lt

import shoal_bencode as bc

PIECE = 16384


def torrent_with(tmp_path, **top):
    """A valid v1 single-file torrent (one piece of zeros) plus the given top-level keys."""
    data = b"\0" * 1000
    t = {"info": {"length": len(data), "name": "file.bin", "piece length": PIECE,
                  "pieces": hashlib.sha1(data).digest()}}
    t.update(top)
    p = tmp_path / "t.torrent"
    p.write_bytes(bc.encode(t))
    return p


def test_terminal_escapes_are_neutralised(run_shoal, tmp_path):
    p = torrent_with(tmp_path, comment=b"\x1b]0;pwned\x07\x1b[2Jred\x9b1m", **{
        "created by": b"\xc2\x9b31m"})  # U+009B: an 8-bit CSI, valid UTF-8
    rc, out, err = run_shoal("info", p)
    assert rc == 0, err
    raw = run_shoal("info", p).out_bytes
    assert b"\x1b" not in raw and b"\x07" not in raw and b"\x9b" not in raw
    assert "\\x1b]0;pwned\\x07\\x1b[2Jred\\x9b1m" in out
    assert "\\xc2\\x9b31m" in out


def test_json_survives_invalid_utf8(run_shoal, tmp_path):
    p = torrent_with(tmp_path, comment=b"caf\xe9 \xff", **{"created by": "ok \u00e9"})
    rc, out, err = run_shoal("info", "--json", p)
    assert rc == 0, err
    js = json.loads(out)
    assert js["comment"] == "caf\ufffd \ufffd"
    assert js["created_by"] == "ok \u00e9"
    assert js["creation_date"] is None
    assert js["trackers"] == [] and js["web_seeds"] == []


def test_text_fields(run_shoal, tmp_path):
    p = torrent_with(tmp_path, **{
        "announce": "http://a/announce",
        "announce-list": [["http://a/announce", "http://b/announce"], ["udp://c:1"]],
        "url-list": ["http://ws/"], "creation date": 86400 * 365, "comment": "c"})
    rc, out, err = run_shoal("info", p)
    assert rc == 0, err
    lines = out.splitlines()
    assert "name:         file.bin" in lines
    assert "size:         1000 B (1000 bytes)" in lines
    assert "piece size:   16.0 KiB (16384 bytes)" in lines
    assert "pieces:       1" in lines
    assert "version:      v1" in lines
    assert "info hash v2: -" in lines
    assert "private:      no" in lines
    assert "  tier 1      http://a/announce" in lines
    assert "  tier 1      http://b/announce" in lines
    assert "  tier 2      udp://c:1" in lines
    assert "  http://ws/" in lines
    assert "created:      1971-01-01T00:00:00Z" in lines
    assert "files:        1" in lines
    v1 = bc.info_hash_v1(p.read_bytes())
    assert f"info hash v1: {v1}" in lines
    assert lines[-1].startswith(f"magnet:       magnet:?xt=urn:btih:{v1}")
    js = json.loads(run_shoal("info", "--json", p).stdout)
    assert js["trackers"] == [["http://a/announce", "http://b/announce"], ["udp://c:1"]]
    assert js["creation_date"] == "1971-01-01T00:00:00Z"
    assert js["files"] == [{"path": "file.bin", "size": 1000}]
    assert lt.torrent_info(str(p)).info_hashes().v1.to_bytes().hex() == js["info_hash_v1"]


def test_pads_hidden_unless_asked(run_shoal, tmp_path, make_random_file, lt_make_torrent):
    d = tmp_path / "tree"
    make_random_file(d / "a", PIECE + 1, seed=1)
    make_random_file(d / "b", 5, seed=2)
    p = tmp_path / "h.torrent"
    p.write_bytes(lt_make_torrent(d, "hybrid", PIECE))
    js = json.loads(run_shoal("info", "--json", p).stdout)
    assert js["files"] == [{"path": "tree/a", "size": PIECE + 1}, {"path": "tree/b", "size": 5}]
    assert js["size"] == PIECE + 6
    js = json.loads(run_shoal("info", "--json", "--pads", p).stdout)
    assert [(f["size"], f["pad"]) for f in js["files"]][:3] == [
        (PIECE + 1, False), (PIECE - 1, True), (5, False)]
    rc, out, _ = run_shoal("info", "--pads", p)
    assert "(pad)" in out
    rc, out, _ = run_shoal("info", p)
    assert "(pad)" not in out and "files:        2" in out
