"""The harness in conftest.py must itself be right: later tests rely on it."""

import hashlib
import os
import signal
import socket
import sys

import pytest


def test_random_file_is_deterministic(tmp_dir, make_random_file):
    a = make_random_file(tmp_dir / "a", (1 << 20) + 3, seed=7)
    b = make_random_file(tmp_dir / "sub" / "b", (1 << 20) + 3, seed=7)
    c = make_random_file(tmp_dir / "c", (1 << 20) + 3, seed=8)
    assert a.stat().st_size == (1 << 20) + 3
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    # Pinned: the content for a seed must never change, or recorded hashes break.
    d = make_random_file(tmp_dir / "d", 1000, seed="pin")
    assert d.read_bytes() == hashlib.shake_256(b"pin:0").digest(1000)
    assert make_random_file(tmp_dir / "e", 0, seed=1).read_bytes() == b""


def test_free_ports_distinct_and_bindable(free_port, loopback_ip):
    host = loopback_ip(5)
    ports = {free_port(host) for _ in range(20)}
    assert len(ports) == 20
    p = free_port(host, "both")
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        s.bind((host, p))
        s.close()


def test_loopback_ip():
    from conftest import loopback_ip
    assert loopback_ip(1) == "127.0.0.2"
    assert loopback_ip(254) == "127.0.0.255"
    assert loopback_ip(255) == "127.0.1.0"
    with pytest.raises(ValueError):
        loopback_ip(0)


def test_procs_stop_kills_group(procs, tmp_dir):
    # The shell forks a grandchild; stopping must end both, and only them.
    p = procs.start(["sh", "-c", "sleep 300 & echo child $!; wait"], name="sh")
    from conftest import wait_until
    wait_until(lambda: "child" in p.log(), 5, what="child pid")
    child = int(p.log().split()[1])
    assert p.alive()
    rc = procs.stop(p)
    assert rc == -signal.SIGTERM
    wait_until(lambda: not os.path.exists(f"/proc/{child}") or
               open(f"/proc/{child}/stat").read().split()[2] == "Z", 5, what="grandchild gone")


def test_python_sees_libtorrent():
    import libtorrent as lt
    assert lt.__version__.startswith("2."), f"{sys.executable} has libtorrent {lt.__version__}"
