"""`shoal dht` as a command: usage, output, stats, signals, a late router."""

import re
import signal
import socket
import time

import pytest

from conftest import scaled
from dht_util import DhtFleet, Krpc


def test_help(run_shoal):
    rc, out, err = run_shoal("dht", "--help")
    assert rc == 0
    assert out.startswith("usage: shoal dht -l ADDR:PORT")
    assert "--bootstrap" in out and "--state" in out and "--stats-every" in out
    assert "--nodes" not in out and "--control" not in out  # hidden test options
    rc, out, _ = run_shoal("--help")
    assert re.search(r"^  dht +run a DHT node", out, re.M)


@pytest.mark.parametrize("args,msg", [
    ([], "missing -l ADDR:PORT"),
    (["-l", "nonsense"], "--listen: invalid address 'nonsense'"),
    (["-l", "127.0.0.1:0", "--bootstrap", "127.0.0.1"], "--bootstrap: '127.0.0.1' is not"),
    (["-l", "127.0.0.1:0", "--bootstrap", "127.0.0.1:0"], "nonzero port"),
    (["-l", "127.0.0.1:0", "--bootstrap", "[::1]:6881"], "IPv4 node cannot join through IPv6"),
    (["-l", "127.0.0.1:0", "--stats-every", "-1"], "--stats-every: '-1'"),
    (["-l", "127.0.0.1:0", "--log-level", "loud"], "unknown level 'loud'"),
    (["-l", "127.0.0.1:0", "--nodes", "0"], "--nodes: '0'"),
    (["-l", "127.0.0.1:0", "--nodes", "5000"], "--nodes: '5000'"),
    (["-l", "127.0.0.1:0", "extra"], "unexpected argument 'extra'"),
    (["-l", "127.0.0.1:0", "--frob"], "unknown option '--frob'"),
    (["-l"], "option '-l' needs a value"),
])
def test_bad_usage(run_shoal, args, msg):
    rc, out, err = run_shoal("dht", *args)
    assert rc == 2
    assert msg in err
    assert out == ""


def test_bind_failure_is_status_1(run_shoal, free_port):
    port = free_port("127.0.7.1", "udp")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.7.1", port))
    try:
        rc, out, err = run_shoal("dht", "-l", f"127.0.7.1:{port}")
    finally:
        s.close()
    assert rc == 1
    assert f"127.0.7.1:{port}" in err and "in use" in err


def test_output_stats_and_signals(procs, shoal_bin, free_port):
    port = free_port("127.0.7.2", "udp")
    p = procs.start([shoal_bin, "dht", "-l", f"127.0.7.2:{port}", "--stats-every", "0.2"])
    line = re.compile(rf"^dht node [0-9a-f]{{40}} listening on 127\.0\.7\.2:{port}$", re.M)
    deadline = time.monotonic() + scaled(5)
    while not line.search(p.log()):
        assert time.monotonic() < deadline and p.alive(), p.log()
        time.sleep(0.05)
    # An honest ping, then the stats line counts it.
    c = Krpc("127.0.7.3")
    assert c.query(("127.0.7.2", port), "ping", {}, resend=0.2) is not None
    c.close()
    stats = re.compile(r"^dht: nodes=1 good=\d+ dubious=\d+ buckets=\d+ stored_hashes=0 "
                       r"stored_peers=0 searches=0 queries_in=1 replies_in=\d+ dropped_in=0 "
                       r"queries_out=\d+ send_dropped=0 send_errors=0$", re.M)
    while not stats.search(p.log()):
        assert time.monotonic() < deadline and p.alive(), p.log()
        time.sleep(0.05)
    assert procs.stop(p, signal.SIGINT) == 0


def test_late_router_is_found(procs, shoal_bin, free_port):
    """A node whose router is not up yet keeps trying and joins once it is."""
    rport = free_port("127.0.7.10", "udp")
    port = free_port("127.0.7.11", "udp")
    node = DhtFleet(procs, shoal_bin, f"127.0.7.11:{port}",
                    extra=["--bootstrap", f"127.0.7.10:{rport}"], name="node")
    time.sleep(1)
    assert node.stats(0)["good"] == 0
    router = DhtFleet(procs, shoal_bin, f"127.0.7.10:{rport}", name="router")
    router.wait_for(lambda: router.stats(0)["good"] >= 1, 40, "the node to find the late router")
    node.wait_for(lambda: node.stats(0)["good"] >= 1, 10, "the router to answer the node")
