"""Hostile input to `shoal info` and bad arguments to `shoal create`.

Every case must end with exit code 2, a message on stderr that names the
problem, nothing on stdout, nothing created in the working directory, and
it must be quick (the loader is bounded; nothing may hang or blow up).
"""

import os
import re
import time

import pytest

import shoal_bencode as bc

PIECE = 32768
FAST = 5.0  # seconds, before scaling for sanitizer builds


@pytest.fixture
def cwd(make_tmp_dir):
    """An empty working directory; tests assert it stays empty."""
    return make_tmp_dir("cwd")


@pytest.fixture
def content(make_tmp_dir, make_random_file):
    """A small data set: a single file and a tree with several files."""
    d = make_tmp_dir("content")
    make_random_file(d / "single.bin", 3 * PIECE + 100, seed="s")
    make_random_file(d / "tree" / "a.bin", 2 * PIECE + 7, seed="a")
    make_random_file(d / "tree" / "b.bin", 2 * PIECE + 9, seed="b")
    make_random_file(d / "tree" / "sub" / "c.bin", 5000, seed="c")
    return d


def rejected(run_shoal, cwd, scaled, *args, pattern, cmd="info"):
    """Runs shoal, asserts the rejection contract, returns stderr."""
    t0 = time.monotonic()
    rc, out, err = run_shoal(*args, cwd=cwd, timeout=FAST)
    elapsed = time.monotonic() - t0
    assert rc == 2, f"rc {rc}, stderr: {err}"
    assert out == ""
    assert err.startswith(f"shoal {cmd}: "), err
    assert re.search(pattern, err, re.I), f"{pattern!r} not in: {err}"
    assert os.listdir(cwd) == []
    assert elapsed < scaled(FAST)
    return err


def write(cwd_parent, name, data):
    p = cwd_parent / name
    p.write_bytes(data)
    return p


def info_rejects(run_shoal, cwd, scaled, path, pattern):
    err = rejected(run_shoal, cwd, scaled, "info", path, pattern=pattern)
    assert err.startswith(f"shoal info: {path}: ")
    # --json must refuse the same way: no half-written JSON on stdout.
    rejected(run_shoal, cwd, scaled, "info", "--json", path, pattern=pattern)
    return err


# ---------------------------------------------------------------- malformed bencode

VALID_V1 = bc.encode({
    "announce": "http://127.0.0.1:9/announce",
    "info": {"length": 5, "name": "x", "piece length": PIECE, "pieces": b"\x01" * 20},
})

BENCODE_CASES = {
    "empty": (b"", r"empty input"),
    "garbage": (b"hello, world\n", r"bencode: unexpected byte at offset 0"),
    "not_a_dict": (b"li1ei2ee", r"torrent is not a dictionary"),
    "trailing": (VALID_V1 + b"x", r"trailing data"),
    "huge_length": (b"d8:announce99999999999999999999:xe", r"number out of range"),
    "string_past_end": (b"d8:announce999:xe", r"string longer than the input"),
    "negative_length": (b"d8:announce-5:abcdee", r"unexpected byte at offset 11"),
    "leading_zero_int": (VALID_V1.replace(b"i32768e", b"i032768e"), r"leading zero"),
    "negative_zero": (VALID_V1.replace(b"i32768e", b"i-0e"), r"negative zero"),
    "overflow_int": (VALID_V1.replace(b"i32768e", b"i99999999999999999999e"),
                     r"number out of range"),
    "leading_zero_len": (VALID_V1.replace(b"4:name", b"04:name"), r"leading zero"),
    "unsorted_keys": (b"d4:infod6:lengthi5ee8:announce1:xe", r"keys not in strictly increasing order"),
    "deep_nesting": (b"l" * 100000 + b"e" * 100000, r"nesting too deep"),
    "deep_dict_nesting": (b"d1:a" * 100000 + b"e" * 100000, r"nesting too deep"),
}


@pytest.mark.parametrize("case", sorted(BENCODE_CASES))
def test_malformed_bencode(run_shoal, cwd, tmp_path, scaled, case):
    data, pattern = BENCODE_CASES[case]
    info_rejects(run_shoal, cwd, scaled, write(tmp_path, f"{case}.torrent", data), pattern)


def test_truncated_everywhere(run_shoal, cwd, tmp_path, scaled, content, lt_make_torrent):
    data = lt_make_torrent(content / "tree", "hybrid", PIECE)
    for cut in (1, 2, 11, len(data) // 3, len(data) // 2, len(data) - 2, len(data) - 1):
        path = write(tmp_path, f"cut{cut}.torrent", data[:cut])
        info_rejects(run_shoal, cwd, scaled, path,
                     r"unexpected end of input|string longer than the input")


# ---------------------------------------------------------------- valid bencode, bad torrent


def mutate(data, fn):
    t = bc.decode(data)
    fn(t)
    return bc.encode(t)


def v1_single(content, lt_make_torrent):
    return lt_make_torrent(content / "single.bin", "v1", PIECE)


def v1_tree(content, lt_make_torrent):
    return lt_make_torrent(content / "tree", "v1", PIECE)


def set_info(key, value):
    def fn(t):
        t[b"info"][key.encode()] = value
    return fn


def drop_last_piece(t):
    t[b"info"][b"pieces"] = t[b"info"][b"pieces"][:-20]


def pieces_odd(t):
    t[b"info"][b"pieces"] = t[b"info"][b"pieces"] + b"\x00" * 7


def set_path(path):
    def fn(t):
        t[b"info"][b"files"][0][b"path"] = path
    return fn


V1_CASES = {
    "piece_length_zero": (v1_single, set_info("piece length", 0), r"piece length is 0"),
    "piece_length_negative": (v1_single, set_info("piece length", -16384),
                              r"piece length is negative"),
    "piece_length_huge": (v1_single, set_info("piece length", 1 << 40),
                          r"piece length is 1099511627776, more than 268435456"),
    "wrong_piece_count": (v1_single, drop_last_piece, r"info\.pieces has 60 bytes, expected 80"),
    "pieces_not_multiple_of_20": (v1_single, pieces_odd, r"info\.pieces has 87 bytes, expected 80"),
    "negative_file_length": (v1_single, set_info("length", -1), r"info\.length is negative"),
    "no_name": (v1_single, lambda t: t[b"info"].pop(b"name"), r"info\.name is missing"),
    "name_dotdot": (v1_single, set_info("name", ".."), r'info\.name is "\.\."'),
    "name_with_slash": (v1_single, set_info("name", "a/b"), r"info\.name contains '/'"),
    "no_info": (v1_single, lambda t: t.pop(b"info"), r"info is missing"),
    "info_not_dict": (v1_single, lambda t: t.__setitem__(b"info", [1, 2]),
                      r"info is not a dictionary"),
    "path_dotdot": (v1_tree, set_path([b"..", b"etc", b"passwd"]), r'path\[0\] is "\.\."'),
    "path_dot": (v1_tree, set_path([b".", b"a.bin"]), r'path\[0\] is "\."'),
    "path_absolute": (v1_tree, set_path([b"", b"etc", b"passwd"]), r"path\[0\] is empty"),
    "path_slash_component": (v1_tree, set_path([b"/etc", b"passwd"]), r"path\[0\] contains '/'"),
    "path_inner_slash": (v1_tree, set_path([b"a/../../b"]), r"path\[0\] contains '/'"),
    "path_empty_component": (v1_tree, set_path([b"sub", b"", b"c.bin"]), r"path\[1\] is empty"),
    "path_empty_list": (v1_tree, set_path([]), r"files\[0\]\.path is empty"),
    "path_nul": (v1_tree, set_path([b"a\x00b"]), r"path\[0\] contains NUL"),
    "files_empty": (v1_tree, set_info("files", []), r"info\.files is empty"),
    "length_and_files": (v1_tree, set_info("length", 5), r"info has both length and files"),
}


@pytest.mark.parametrize("case", sorted(V1_CASES))
def test_bad_v1(run_shoal, cwd, tmp_path, scaled, content, lt_make_torrent, case):
    base, fn, pattern = V1_CASES[case]
    data = mutate(base(content, lt_make_torrent), fn)
    info_rejects(run_shoal, cwd, scaled, write(tmp_path, f"{case}.torrent", data), pattern)


def test_v2_file_tree_dotdot(run_shoal, cwd, tmp_path, scaled, content, lt_make_torrent):
    def fn(t):
        tree = t[b"info"][b"file tree"]
        tree[b".."] = tree.pop(b"a.bin")
    data = mutate(lt_make_torrent(content / "tree", "v2", PIECE), fn)
    info_rejects(run_shoal, cwd, scaled, write(tmp_path, "v2dotdot.torrent", data),
                 r'file tree "\.\." is "\.\."')


def test_v2_piece_layer_mismatch(run_shoal, cwd, tmp_path, scaled, content, lt_make_torrent):
    def fn(t):
        layers = t[b"piece layers"]
        root = sorted(layers)[0]
        layer = bytearray(layers[root])
        layer[0] ^= 1
        layers[root] = bytes(layer)
    data = mutate(lt_make_torrent(content / "tree", "v2", PIECE), fn)
    info_rejects(run_shoal, cwd, scaled, write(tmp_path, "layer.torrent", data),
                 r"piece layers\[[0-9a-f]{16}\.\.\.\] \(file \"[ab]\.bin\"\) does not hash to the pieces root")


def test_v2_piece_layer_wrong_length(run_shoal, cwd, tmp_path, scaled, content, lt_make_torrent):
    def fn(t):
        layers = t[b"piece layers"]
        root = sorted(layers)[0]
        layers[root] = layers[root][:-32]
    data = mutate(lt_make_torrent(content / "tree", "v2", PIECE), fn)
    info_rejects(run_shoal, cwd, scaled, write(tmp_path, "layerlen.torrent", data),
                 r"piece layers\[[0-9a-f]{16}\.\.\.\] .* has 64 bytes, expected 96")


def test_hybrid_views_differ(run_shoal, cwd, tmp_path, scaled, content, lt_make_torrent):
    """Same sizes, but the v1 list names a file the v2 tree does not have."""
    def fn(t):
        for f in t[b"info"][b"files"]:
            if f[b"path"] == [b"b.bin"]:
                f[b"path"] = [b"B.bin"]
    data = mutate(lt_make_torrent(content / "tree", "hybrid", PIECE), fn)
    assert data != lt_make_torrent(content / "tree", "hybrid", PIECE)
    info_rejects(run_shoal, cwd, scaled, write(tmp_path, "hybrid.torrent", data),
                 r'hybrid: info\.files\[2\] \("B\.bin"\) differs from the file at the same place')


def test_hybrid_lengths_differ(run_shoal, cwd, tmp_path, scaled, content, lt_make_torrent):
    """The v1 list swaps two lengths; the total, and so the piece count, stays."""
    def fn(t):
        files = {f[b"path"][-1]: f for f in t[b"info"][b"files"]}
        a, b = files[b"a.bin"], files[b"b.bin"]
        assert a[b"length"] != b[b"length"]
        a[b"length"], b[b"length"] = b[b"length"], a[b"length"]
    data = mutate(lt_make_torrent(content / "tree", "hybrid", PIECE), fn)
    info_rejects(run_shoal, cwd, scaled, write(tmp_path, "hybrid2.torrent", data),
                 r'hybrid: info\.files\[0\] \("a\.bin"\) has a different length')


# ---------------------------------------------------------------- files that are not torrents


def test_missing_file(run_shoal, cwd, tmp_path, scaled):
    path = tmp_path / "nope.torrent"
    err = rejected(run_shoal, cwd, scaled, "info", path, pattern=r"no such file")
    assert str(path) in err


def test_directory(run_shoal, cwd, tmp_path, scaled):
    rejected(run_shoal, cwd, scaled, "info", tmp_path, pattern=r"is a directory")


def test_too_large(run_shoal, cwd, tmp_path, scaled):
    path = tmp_path / "huge.torrent"
    with open(path, "wb") as f:
        f.truncate((64 << 20) + 1)  # sparse: costs nothing on disk
    rejected(run_shoal, cwd, scaled, "info", path, pattern=r"larger than 64 MiB")


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("args,pattern", [
    (["--piece-size", "1000"], r"piece-size"),
    (["--piece-size", "8K"], r"piece-size"),
    (["--piece-size", "48K"], r"power of two for v2 and hybrid"),
    (["--v2", "--piece-size", "48K"], r"power of two"),
    (["--v1", "--piece-size", "40K"], r"multiple of 16K"),
    (["--piece-size", "512M"], r"piece-size"),
    (["--piece-size", "0"], r"piece-size"),
    (["--piece-size", "lots"], r"piece-size 'lots'"),
    (["--v1", "--v2"], r"mutually exclusive"),
    (["--bogus"], r"unknown option '--bogus'"),
    (["-t"], r"needs a value"),
    (["--log-level", "loud"], r"log-level 'loud'"),
])
def test_create_bad_args(run_shoal, cwd, content, scaled, args, pattern):
    err = rejected(run_shoal, cwd, scaled, "create", content / "single.bin", *args,
                   pattern=pattern, cmd="create")
    assert "--help" in err


def test_create_missing_path(run_shoal, cwd, scaled):
    rejected(run_shoal, cwd, scaled, "create", pattern=r"missing PATH", cmd="create")


def test_create_two_paths(run_shoal, cwd, content, scaled):
    rejected(run_shoal, cwd, scaled, "create", content / "single.bin", content / "tree",
             pattern=r"unexpected argument", cmd="create")


def test_create_nonexistent(run_shoal, cwd, tmp_path, scaled):
    err = rejected(run_shoal, cwd, scaled, "create", tmp_path / "absent",
                   pattern=r"no such file", cmd="create")
    assert str(tmp_path / "absent") in err


def test_create_empty_tree(run_shoal, cwd, make_tmp_dir, scaled):
    d = make_tmp_dir("empty/sub/deeper")
    rejected(run_shoal, cwd, scaled, "create", d.parent.parent, pattern=r"no files",
             cmd="create")


def test_create_special_file(run_shoal, cwd, make_tmp_dir, scaled):
    d = make_tmp_dir("withfifo")
    (d / "ok").write_bytes(b"data")
    os.mkfifo(d / "pipe")
    rejected(run_shoal, cwd, scaled, "create", d, pattern=r"pipe: not a regular file",
             cmd="create")
    os.mkfifo(d.parent / "lonepipe")
    rejected(run_shoal, cwd, scaled, "create", d.parent / "lonepipe",
             pattern=r"not a regular file", cmd="create")


# ---------------------------------------------------------------- the command table


def commands(run_shoal):
    rc, out, _ = run_shoal("--help")
    assert rc == 0
    listed = out.split("commands:")[1].split("\n\n")[0]
    names = [line.split()[0] for line in listed.strip().splitlines()]
    assert "create" in names and "info" in names
    return names


def test_unknown_command(run_shoal, cwd):
    rc, out, err = run_shoal("frobnicate", cwd=cwd)
    assert rc == 2
    assert out == ""
    assert "unknown command 'frobnicate'" in err
    rc, _, _ = run_shoal(cwd=cwd)
    assert rc == 2


def test_every_help(run_shoal, cwd):
    for name in commands(run_shoal):
        rc, out, err = run_shoal(name, "--help", cwd=cwd)
        assert rc == 0, (name, err)
        assert out.startswith(f"usage: shoal {name}")
        assert err == ""
        rc, out2, _ = run_shoal(name, "-h", cwd=cwd)
        assert rc == 0 and out2 == out
    assert os.listdir(cwd) == []


def test_create_only_empty_files(run_shoal, cwd, make_tmp_dir, scaled):
    d = make_tmp_dir("empties")
    (d / "a").write_bytes(b"")
    (d / "b").write_bytes(b"")
    rejected(run_shoal, cwd, scaled, "create", d, pattern=r"nothing to hash: every file is empty",
             cmd="create")
    rejected(run_shoal, cwd, scaled, "create", d / "a",
             pattern=r"nothing to hash: every file is empty", cmd="create")


def test_create_root_is_slash(run_shoal, cwd, scaled):
    rejected(run_shoal, cwd, scaled, "create", "/", pattern=r"cannot name a torrent after '/'",
             cmd="create")
