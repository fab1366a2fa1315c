"""shoal's torrents against libtorrent's and mktorrent's, in both directions.

(a) shoal create -> libtorrent loads it: same info-hashes, files, pieces.
(b) libtorrent creates -> shoal info --json reads the same.
(c) mktorrent (v1) -> shoal info gives the v1 hash computed here independently.
(d) libtorrent verifies the original data against shoal's torrent (force_recheck).
Every case runs for v1, v2 and hybrid, a single file and a directory tree.
"""

import json
import time

import libtorrent as lt
import pytest

import shoal_bencode as bc

PIECE = 32768
VERSIONS = ["v1", "v2", "hybrid"]
LAYOUTS = ["file", "tree"]
TRACKER = "http://127.0.0.1:9/announce"  # never contacted: only (a) carries it
WEB_SEED = "http://127.0.0.1:9/files/"


def make_content(root, layout, make_random_file):
    """The data set: returns the path to hand to a torrent maker."""
    if layout == "file":
        return make_random_file(root / "single.bin", 5 * PIECE + 777, seed="single")
    top = root / "tree"
    make_random_file(top / "a.bin", 3 * PIECE + 12345, seed="a")
    make_random_file(top / "one_piece.bin", PIECE, seed="one")  # exactly one piece
    (top / "empty").write_bytes(b"")
    make_random_file(top / "sub" / "b.dat", 1, seed="b")
    make_random_file(top / "sub" / "deeper" / "c.dat", 2 * PIECE + 1, seed="c")
    make_random_file(top / "sub" / "deeper" / "nest" / "d", 100_001, seed="d")
    make_random_file(top / "z" / "y" / "x" / "w", 999, seed="w")
    return top


def lt_files(ti, pads=False):
    """[(path, size, is_pad)] in piece-space order, pads only if asked."""
    fs = ti.files()
    out = []
    for i in range(fs.num_files()):
        pad = bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)
        if pads or not pad:
            out.append((fs.file_path(i), fs.file_size(i), pad))
    return out


def lt_hashes(ti):
    ih = ti.info_hashes()
    return (str(ih.v1) if ih.has_v1() else None, str(ih.v2) if ih.has_v2() else None)


def shoal_info(run_shoal, torrent, *extra):
    rc, out, err = run_shoal("info", "--json", *extra, torrent)
    assert rc == 0, err
    assert err == ""
    return json.loads(out)


def shoal_files(js):
    return [(f["path"], f["size"], f.get("pad", False)) for f in js["files"]]


def assert_same_files(run_shoal, torrent, ti, js):
    assert shoal_files(js) == lt_files(ti)
    # With --pads, the whole piece space must agree: pads at the same places,
    # the same sizes, including the tail pad libtorrent puts after the last
    # file of a v2 torrent. Pad names are not compared: a v2-only torrent's
    # pads are implicit and each tool names them its own way.
    full = shoal_info(run_shoal, torrent, "--pads")
    ours = [(p if not pad else None, s, pad) for p, s, pad in shoal_files(full)]
    theirs = [(p if not pad else None, s, pad) for p, s, pad in lt_files(ti, pads=True)]
    assert ours == theirs


def expected_version(v):
    return {"v1": "v1", "v2": "v2", "hybrid": "hybrid"}[v]


# ------------------------------------------------------------------ (a)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_shoal_create_libtorrent_loads(run_shoal, tmp_dir, make_random_file, version, layout):
    src = make_content(tmp_dir, layout, make_random_file)
    out = tmp_dir / "made.torrent"
    rc, stdout, err = run_shoal("create", f"--{version}", "--piece-size", "32K", "-t", TRACKER,
                                "-w", WEB_SEED, "--comment", "interop", "--private", "-o", out,
                                src, timeout=30)
    assert rc == 0, err
    data = out.read_bytes()
    ti = lt.torrent_info(data)
    v1, v2 = lt_hashes(ti)
    assert (v1 is not None, v2 is not None) == (version != "v2", version != "v1")

    js = shoal_info(run_shoal, out)
    assert js["info_hash_v1"] == v1
    assert js["info_hash_v2"] == v2
    # ... and both equal a hash computed here over the info dict's bytes.
    if v1:
        assert v1 == bc.info_hash_v1(data)
    if v2:
        assert v2 == bc.info_hash_v2(data)
    # create printed the same hashes and the path it wrote.
    lines = stdout.splitlines()
    assert ([f"info_hash_v1 {v1}"] if v1 else []) + ([f"info_hash_v2 {v2}"] if v2 else []) + [
        f"torrent {out}"
    ] == lines

    assert js["version"] == expected_version(version)
    assert js["name"] == ti.name() == src.name
    assert js["piece_length"] == ti.piece_length() == PIECE
    assert js["num_pieces"] == ti.num_pieces()
    assert js["size"] == sum(s for _, s, _ in lt_files(ti))
    assert js["private"] is True and ti.priv()
    assert js["trackers"] == [[TRACKER]] == [[t.url for t in ti.trackers()]]
    assert js["web_seeds"] == [WEB_SEED] == [w["url"] for w in ti.web_seeds()]
    assert js["comment"] == ti.comment() == "interop"
    assert js["created_by"] == ti.creator()
    assert js["created_by"].startswith("shoal/")
    assert js["creation_date"].endswith("Z")
    assert_same_files(run_shoal, out, ti, js)
    assert js["magnet"].startswith("magnet:?")
    if v1:
        assert f"xt=urn:btih:{v1}" in js["magnet"]
    if v2:
        assert f"xt=urn:btmh:1220{v2}" in js["magnet"]


# ------------------------------------------------------------------ (b)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_libtorrent_create_shoal_loads(run_shoal, tmp_dir, make_random_file, lt_make_torrent,
                                      version, layout):
    src = make_content(tmp_dir, layout, make_random_file)
    data = lt_make_torrent(src, version, PIECE, trackers=[TRACKER])
    out = tmp_dir / "lt.torrent"
    out.write_bytes(data)
    ti = lt.torrent_info(data)
    v1, v2 = lt_hashes(ti)

    js = shoal_info(run_shoal, out)
    assert js["info_hash_v1"] == v1
    assert js["info_hash_v2"] == v2
    assert js["version"] == expected_version(version)
    assert js["num_pieces"] == ti.num_pieces()
    assert js["piece_length"] == ti.piece_length()
    assert js["name"] == ti.name()
    assert js["created_by"] == "libtorrent"
    assert js["trackers"] == [[TRACKER]]
    assert js["private"] is False
    assert_same_files(run_shoal, out, ti, js)


# ------------------------------------------------------------------ (c)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mktorrent_v1_shoal_loads(run_shoal, tmp_dir, make_random_file, layout):
    import subprocess

    src = make_content(tmp_dir, layout, make_random_file)
    out = tmp_dir / "mk.torrent"
    subprocess.run(["mktorrent", "-a", TRACKER, "-l", "15", "-c", "from mktorrent", "-p",
                    "-t", "1", "-o", str(out), str(src)], check=True, capture_output=True,
                   timeout=60)
    data = out.read_bytes()
    js = shoal_info(run_shoal, out)
    assert js["version"] == "v1"
    assert js["info_hash_v1"] == bc.info_hash_v1(data)
    assert js["info_hash_v2"] is None
    assert js["comment"] == "from mktorrent"
    assert js["private"] is True
    assert js["piece_length"] == PIECE
    ti = lt.torrent_info(data)
    assert js["num_pieces"] == ti.num_pieces()
    assert shoal_files(js) == lt_files(ti)


# ------------------------------------------------------------------ (d)


def wait_seeding(handle, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = handle.status()
        if st.errc.value() != 0:
            pytest.fail(f"libtorrent error: {st.errc.message()}")
        if st.state == lt.torrent_status.seeding and st.num_pieces == st.torrent_file.num_pieces():
            return st
        time.sleep(0.05)
    st = handle.status()
    pytest.fail(f"not seeding after {timeout:.0f} s: state {st.state}, "
                f"{st.num_pieces} pieces verified")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_libtorrent_verifies_data(run_shoal, tmp_dir, make_random_file, lt_session, scaled,
                                  version, layout):
    src = make_content(tmp_dir, layout, make_random_file)
    out = tmp_dir / "check.torrent"
    rc, _, err = run_shoal("create", f"--{version}", "--piece-size", "32K", "-o", out, src,
                           timeout=30)
    assert rc == 0, err
    ti = lt.torrent_info(str(out))
    ses = lt_session("127.0.0.1")
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(src.parent)
    atp.flags &= ~(lt.torrent_flags.seed_mode | lt.torrent_flags.auto_managed
                   | lt.torrent_flags.paused)
    h = ses.add_torrent(atp)
    h.force_recheck()
    st = wait_seeding(h, scaled(30))
    assert st.num_pieces == ti.num_pieces()
    assert st.total_wanted_done == sum(s for _, s, _ in lt_files(ti))


def test_libtorrent_rejects_corrupt_data(run_shoal, tmp_dir, make_random_file, lt_session,
                                         scaled):
    """The check above can fail: one flipped byte must cost exactly one piece."""
    src = make_content(tmp_dir, "file", make_random_file)
    out = tmp_dir / "check.torrent"
    rc, _, err = run_shoal("create", "--hybrid", "--piece-size", "32K", "-o", out, src)
    assert rc == 0, err
    with open(src, "r+b") as f:
        f.seek(2 * PIECE + 5)
        b = f.read(1)
        f.seek(2 * PIECE + 5)
        f.write(bytes([b[0] ^ 0xFF]))
    ti = lt.torrent_info(str(out))
    ses = lt_session("127.0.0.1")
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(src.parent)
    atp.flags &= ~(lt.torrent_flags.seed_mode | lt.torrent_flags.auto_managed
                   | lt.torrent_flags.paused)
    h = ses.add_torrent(atp)
    h.force_recheck()
    deadline = time.monotonic() + scaled(30)
    while time.monotonic() < deadline:
        st = h.status()
        if st.state not in (lt.torrent_status.checking_files,
                            lt.torrent_status.checking_resume_data) and st.progress_ppm > 0:
            break
        time.sleep(0.05)
    st = h.status()
    assert st.num_pieces == ti.num_pieces() - 1
    assert not st.pieces[2]
