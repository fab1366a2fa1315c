"""`shoal create` as a command: outputs, overwriting, atomicity, symlinks,
signals, progress display, reproducibility."""

import json
import os
import pty
import signal
import subprocess
import time

import libtorrent as lt
import pytest

PIECE = 32768


@pytest.fixture
def tree(make_tmp_dir, make_random_file):
    d = make_tmp_dir("data/tree")
    make_random_file(d / "a.bin", 3 * PIECE + 5, seed="a")
    make_random_file(d / "sub" / "b.bin", 777, seed="b")
    return d


def listing(d):
    return sorted(os.listdir(d))


def info(run_shoal, torrent):
    rc, out, err = run_shoal("info", "--json", torrent)
    assert rc == 0, err
    return json.loads(out)


def test_default_output_in_cwd(run_shoal, tree, make_tmp_dir):
    cwd = make_tmp_dir("cwd")
    rc, out, err = run_shoal("create", tree, cwd=cwd)
    assert rc == 0, err
    assert err == ""  # stderr is not a terminal: no progress, no chatter
    assert listing(cwd) == ["tree.torrent"]
    assert out.splitlines()[-1] == "torrent tree.torrent"
    js = info(run_shoal, cwd / "tree.torrent")
    assert js["version"] == "hybrid"
    assert [f["path"] for f in js["files"]] == ["tree/a.bin", "tree/sub/b.bin"]
    assert js["size"] == 3 * PIECE + 5 + 777


def test_dot_names_the_directory(run_shoal, tree):
    """`shoal create .` inside the tree: named after the directory, and the
    torrent being written is not part of its own content."""
    rc, _, err = run_shoal("create", ".", cwd=tree)
    assert rc == 0, err
    js = info(run_shoal, tree / "tree.torrent")
    assert js["name"] == "tree"
    assert [f["path"] for f in js["files"]] == ["tree/a.bin", "tree/sub/b.bin"]
    # Again with --force: the existing output inside the tree is still excluded.
    rc, _, err = run_shoal("create", "--force", ".", cwd=tree)
    assert rc == 0, err
    assert [f["path"] for f in info(run_shoal, tree / "tree.torrent")["files"]] == [
        "tree/a.bin", "tree/sub/b.bin"]


def test_refuses_to_overwrite(run_shoal, tree, tmp_path):
    out = tmp_path / "x.torrent"
    out.write_bytes(b"precious")
    rc, stdout, err = run_shoal("create", "-o", out, tree)
    assert rc == 2
    assert stdout == ""
    assert "exists (use --force" in err
    assert out.read_bytes() == b"precious"
    rc, _, err = run_shoal("create", "--force", "-o", out, tree)
    assert rc == 0, err
    assert out.read_bytes().startswith(b"d")
    assert listing(tmp_path) == ["data", "x.torrent"]  # no temp file left


def test_output_dir_missing_fails_fast(run_shoal, tree, tmp_path):
    out = tmp_path / "no" / "such" / "dir" / "x.torrent"
    rc, stdout, err = run_shoal("create", "-o", out, tree)
    assert rc == 2
    assert stdout == ""
    assert "No such file or directory" in err and str(out.parent) in err


def test_no_date_is_reproducible(run_shoal, tree, tmp_path):
    a, b = tmp_path / "a.torrent", tmp_path / "b.torrent"
    for out in (a, b):
        rc, _, err = run_shoal("create", "--no-date", "-o", out, tree)
        assert rc == 0, err
    assert a.read_bytes() == b.read_bytes()
    assert b"creation date" not in a.read_bytes()
    assert info(run_shoal, a)["creation_date"] is None


def test_creation_date_is_now(run_shoal, tree, tmp_path):
    out = tmp_path / "d.torrent"
    t0 = int(time.time())
    rc, _, err = run_shoal("create", "-o", out, tree)
    t1 = int(time.time())
    assert rc == 0, err
    date = lt.torrent_info(str(out)).creation_date()
    # time(2) reads a coarse clock that may lag time.time() by a tick.
    assert t0 - 1 <= date <= t1
    iso = info(run_shoal, out)["creation_date"]
    assert iso == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(date))


def test_trackers_each_own_tier_and_web_seeds(run_shoal, tree, tmp_path):
    out = tmp_path / "t.torrent"
    rc, _, err = run_shoal("create", "-t", "http://127.0.0.1:1/announce", "--tracker",
                           "udp://127.0.0.1:2", "-w", "http://127.0.0.1:3/a", "--web-seed",
                           "http://127.0.0.1:4/b", "-o", out, tree)
    assert rc == 0, err
    js = info(run_shoal, out)
    assert js["trackers"] == [["http://127.0.0.1:1/announce"], ["udp://127.0.0.1:2"]]
    assert js["web_seeds"] == ["http://127.0.0.1:3/a", "http://127.0.0.1:4/b"]
    assert js["private"] is False
    assert js["comment"] is None


def test_symlinks_skipped_with_warning(run_shoal, tree, tmp_path):
    os.symlink("/etc/passwd", tree / "outside")
    os.symlink("a.bin", tree / "inside")
    out = tmp_path / "s.torrent"
    rc, _, err = run_shoal("create", "-o", out, tree)
    assert rc == 0, err
    assert err.count("symlink skipped") == 2
    assert "outside" in err and "inside" in err
    assert [f["path"] for f in info(run_shoal, out)["files"]] == ["tree/a.bin", "tree/sub/b.bin"]
    rc, _, err = run_shoal("create", "--log-level", "error", "--force", "-o", out, tree)
    assert rc == 0 and err == ""


def test_symlink_as_root_is_followed(run_shoal, tree, tmp_path):
    link = tmp_path / "link.bin"
    os.symlink(tree / "a.bin", link)
    out = tmp_path / "l.torrent"
    rc, _, err = run_shoal("create", "-o", out, link)
    assert rc == 0, err
    js = info(run_shoal, out)
    assert js["name"] == "a.bin"  # the resolved name
    assert js["files"] == [{"path": "a.bin", "size": 3 * PIECE + 5}]


def test_executable_bit(run_shoal, tree, tmp_path):
    os.chmod(tree / "sub" / "b.bin", 0o755)
    out = tmp_path / "x.torrent"
    rc, _, err = run_shoal("create", "--v1", "-o", out, tree)
    assert rc == 0, err
    fs = lt.torrent_info(str(out)).files()
    flags = {fs.file_path(i): fs.file_flags(i) for i in range(fs.num_files())}
    assert flags["tree/sub/b.bin"] & lt.file_storage.flag_executable
    assert not flags["tree/a.bin"] & lt.file_storage.flag_executable


def test_v1_piece_size_multiple_of_16k(run_shoal, tree, tmp_path):
    out = tmp_path / "m.torrent"
    rc, _, err = run_shoal("create", "--v1", "--piece-size", "48K", "-o", out, tree)
    assert rc == 0, err
    ti = lt.torrent_info(str(out))
    assert ti.piece_length() == 49152
    assert info(run_shoal, out)["piece_length"] == 49152


def test_auto_piece_size(run_shoal, make_tmp_dir, tmp_path):
    d = make_tmp_dir("big")
    with open(d / "sparse.bin", "wb") as f:
        f.truncate(64 << 20)
    out = tmp_path / "big.torrent"
    rc, _, err = run_shoal("create", "--v1", "-o", out, d / "sparse.bin", timeout=60)
    assert rc == 0, err
    js = info(run_shoal, out)
    # the smallest power of two >= 32K giving fewer than 2000 pieces
    assert js["piece_length"] == 64 << 10
    assert js["num_pieces"] == 1024


def test_interrupt_leaves_nothing(procs, shoal_bin, make_tmp_dir, tmp_path):
    d = make_tmp_dir("huge")
    with open(d / "sparse.bin", "wb") as f:
        f.truncate(64 << 30)  # minutes of hashing; we interrupt long before
    out_dir = make_tmp_dir("out")
    p = procs.start([shoal_bin, "create", "-o", out_dir / "h.torrent", d / "sparse.bin"])
    time.sleep(0.5)
    assert p.alive(), p.log()
    assert len(os.listdir(out_dir)) == 1  # the temp file exists while hashing
    os.kill(p.pid, signal.SIGINT)
    assert p.wait(10) == 1
    assert "interrupted" in p.log()
    assert os.listdir(out_dir) == []


def test_progress_bar_on_a_terminal(shoal_bin, make_tmp_dir, tmp_path, scaled):
    d = make_tmp_dir("pty")
    with open(d / "sparse.bin", "wb") as f:
        f.truncate(1 << 30)  # > 0.3 s of SHA-1 even at 3 GB/s: at least one redraw
    out = tmp_path / "p.torrent"
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([shoal_bin, "create", "--v1", "-o", str(out),
                                 str(d / "sparse.bin")],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not b:
                break
            chunks.append(b)
        stdout = proc.communicate(timeout=scaled(120))[0].decode()
    finally:
        os.close(master)
    assert proc.returncode == 0
    tty = b"".join(chunks).decode("utf-8", "replace")
    assert "hashing" in tty and "MB/s" in tty and "ETA" in tty and "%" in tty
    assert "\r" in tty
    assert tty.endswith("\r\x1b[K")  # the bar is cleared, nothing left behind
    assert "\n" not in tty  # one line, redrawn in place
    assert "torrent " in stdout  # results still on stdout


def test_file_truncated_while_hashing(procs, shoal_bin, make_tmp_dir):
    """A file shrinking under us must fail cleanly (exit 1), not crash (SIGBUS)."""
    d = make_tmp_dir("shrink")
    src = d / "sparse.bin"
    with open(src, "wb") as f:
        f.truncate(64 << 30)
    out_dir = make_tmp_dir("out")
    p = procs.start([shoal_bin, "create", "-o", out_dir / "s.torrent", src])
    time.sleep(0.5)
    assert p.alive(), p.log()
    os.truncate(src, 4096)
    assert p.wait(10) == 1
    assert "shrank while being read" in p.log()
    assert os.listdir(out_dir) == []
