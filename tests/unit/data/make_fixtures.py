#!/usr/bin/python3
"""Regenerates the .torrent fixtures of test_metainfo with libtorrent.

Run with Debian's /usr/bin/python3 (python3-libtorrent lives there):
    /usr/bin/python3 tests/unit/data/make_fixtures.py

For a small single file and a small directory tree (deterministic contents)
it writes one torrent per flavour libtorrent 2.0 makes: hybrid (flags 0),
v1 only and v2 only. libtorrent's own view of each (info-hashes, piece
count, file list with pads and offsets) goes to fixtures.txt, which the C
test compares shoal's loader against.
"""
import os
import random
import sys
import tempfile

import libtorrent as lt

HERE = os.path.dirname(os.path.abspath(__file__))
PIECE = 32768
TREE = [  # (relative path, size)
    ("a.txt", 1000),
    ("empty", 0),
    ("sub/b.bin", 70000),
    ("sub/c/d.dat", 3 * 16384 + 5),
    ("zz", 5),
]
FLAVOURS = [("hybrid", 0), ("v1", lt.create_torrent.v1_only), ("v2", lt.create_torrent.v2_only)]


def write_content(root):
    rnd = random.Random(20240601)
    single = os.path.join(root, "single.bin")
    with open(single, "wb") as f:
        f.write(bytes(rnd.getrandbits(8) for _ in range(100000)))
    for rel, size in TREE:
        p = os.path.join(root, "tree", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(bytes(rnd.getrandbits(8) for _ in range(size)))
    for dirpath, _, names in os.walk(root):
        for n in names:
            os.chmod(os.path.join(dirpath, n), 0o644)  # no 'x' attribute by accident


def make(root, source, flags):
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(root, source))
    ct = lt.create_torrent(fs, PIECE, flags)
    ct.add_tracker("http://127.0.0.1:6969/announce", 0)
    ct.add_tracker("udp://127.0.0.2:6969/announce", 1)
    ct.add_url_seed("http://127.0.0.1:8080/seed/")
    ct.set_comment("shoal test fixture")
    ct.set_creator("libtorrent " + lt.__version__)
    lt.set_piece_hashes(ct, root)
    t = ct.generate()
    t[b"creation date"] = 1700000000  # outside info: the hashes do not depend on it
    return lt.bencode(t)


def describe(name, data):
    ti = lt.torrent_info(data)
    ih = ti.info_hashes()
    fs = ti.files()
    out = ["torrent " + name]
    out.append("v1 " + (str(ih.v1) if ih.has_v1() else "-"))
    out.append("v2 " + (str(ih.v2) if ih.has_v2() else "-"))
    out.append("pieces %d" % ti.num_pieces())
    out.append("piece_length %d" % ti.piece_length())
    out.append("total %d" % fs.total_size())
    out.append("name %s" % ti.name())
    for i in range(fs.num_files()):
        path = fs.file_path(i)
        prefix = ti.name() + "/"
        if path.startswith(prefix):  # libtorrent prefixes the name; shoal keeps paths relative
            path = path[len(prefix):]
        pad = 1 if fs.file_flags(i) & lt.file_storage.flag_pad_file else 0
        out.append("file %d %d %d %s" % (fs.file_offset(i), fs.file_size(i), pad, path))
    out.append("end")
    return out


def main():
    lines = ["# written by make_fixtures.py with libtorrent %s; do not edit" % lt.__version__]
    with tempfile.TemporaryDirectory() as root:
        write_content(root)
        for source, base in (("single.bin", "single"), ("tree", "tree")):
            for label, flags in FLAVOURS:
                name = "%s_%s.torrent" % (base, label)
                data = make(root, source, flags)
                with open(os.path.join(HERE, name), "wb") as f:
                    f.write(data)
                lines += describe(name, data)
    with open(os.path.join(HERE, "fixtures.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
