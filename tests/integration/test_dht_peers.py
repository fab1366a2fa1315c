"""Peers that find each other through the DHT (shoal get/seed --dht-bootstrap).

Real processes, each on its own 127.x.y.z address, no tracker and no
--peer anywhere:

- a `shoal dht` router, one seed and 6 gets: every get completes;
- the seed itself is the router (--dht-port, no bootstrap): gets join
  through it and complete;
- a private torrent (BEP 27) never uses the DHT;
- the DHT socket takes -l's IP and TCP port number, falls back to another
  port when that UDP port is taken, and fails clearly when an explicit
  --dht-port is taken;
- usage errors of the new options.
"""

import socket
import time

import pytest

from conftest import scaled
from dht_util import free_port_both, start_router
from peers import (  # noqa: F401  (shoals is a fixture)
    assert_same_data,
    new_ip,
    run_shoal,
    shoal_create,
    shoals,
    start_get,
    start_seed,
    wait_all,
    write_random,
)


@pytest.fixture
def payload(tmp_path):
    data = write_random(str(tmp_path / "payload.bin"), 3 * 1024 * 1024 + 12345)
    torrent = shoal_create(data, str(tmp_path / "payload.torrent"))
    return tmp_path, data, torrent


def test_swarm_through_dht_only(shoals, payload):
    work, data, torrent = payload
    router = start_router(shoals, str(work))
    boot = ["--dht-bootstrap", router]
    start_seed(shoals, str(work), torrent, data, extra=boot)
    t0 = time.monotonic()
    gets = [start_get(shoals, str(work), torrent, str(work / ("out%d" % i)),
                      extra=boot + ["--json", "--timeout", "30"]) for i in range(6)]
    assert wait_all(gets, 60) == [0] * 6, [g.describe() for g in gets if g.p.returncode]
    elapsed = time.monotonic() - t0
    found = 0
    for i, g in enumerate(gets):
        assert_same_data(data, str(work / ("out%d" % i) / "payload.bin"))
        j = g.json()
        assert j["status"] == "complete"
        assert j["dht"]["addr"].split(":")[0] == g.ip
        found += j["dht"]["peers_found"]
    # A get may finish before its own lookup does, served by peers that found
    # it (its announce): nobody was given an address, so the DHT did it all.
    assert found >= 1
    print("\n6 gets via the DHT only: all complete in %.2f s; lookups found %d peers" %
          (elapsed, found))


def test_seed_is_the_router(shoals, payload):
    work, data, torrent = payload
    ip = new_ip()
    port = free_port_both(ip)
    start_seed(shoals, str(work), torrent, data, ip=ip, port=port,
               extra=["--dht-port", str(port)])
    gets = [start_get(shoals, str(work), torrent, str(work / ("out%d" % i)),
                      extra=["--dht-bootstrap", "%s:%d" % (ip, port), "--timeout", "30"])
            for i in range(3)]
    assert wait_all(gets, 60) == [0] * 3, [g.describe() for g in gets if g.p.returncode]
    for i in range(3):
        assert_same_data(data, str(work / ("out%d" % i) / "payload.bin"))


def test_private_torrent_ignores_the_dht(shoals, tmp_path):
    data = write_random(str(tmp_path / "secret.bin"), 100000)
    r = run_shoal(["create", "--private", "-f", "-o", str(tmp_path / "s.torrent"), data])
    assert r.returncode == 0, r.stderr
    torrent = str(tmp_path / "s.torrent")
    router = start_router(shoals, str(tmp_path))
    seed = start_seed(shoals, str(tmp_path), torrent, data, extra=["--dht-bootstrap", router])
    g = start_get(shoals, str(tmp_path), torrent, str(tmp_path / "out"),
                  extra=["--dht-bootstrap", router, "--timeout", "3", "--json"])
    assert wait_all([g], 30) == [1]
    assert "private torrent (BEP 27): the DHT is not used" in g.stderr()
    assert "private torrent (BEP 27): the DHT is not used" in seed.stderr()
    assert "dht" not in g.json()


def test_dht_socket_address(shoals, payload):
    work, data, torrent = payload
    router = start_router(shoals, str(work))
    ip = new_ip()
    port = free_port_both(ip)
    seed = start_seed(shoals, str(work), torrent, data, ip=ip, port=port,
                      extra=["--dht-bootstrap", router, "--log-level", "info"])
    assert seed.addr == "%s:%d" % (ip, port)
    deadline = time.monotonic() + scaled(5)
    while " on %s:%d" % (ip, port) not in seed.stderr():
        assert time.monotonic() < deadline, seed.describe()
        time.sleep(0.05)

    # The UDP port of the same number is taken: another one, with a warning.
    ip2 = new_ip()
    port2 = free_port_both(ip2)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind((ip2, port2))
    try:
        g = start_get(shoals, str(work), torrent, str(work / "out"), ip=ip2, port=port2,
                      extra=["--dht-bootstrap", router, "--json", "--timeout", "30"])
        assert wait_all([g], 60) == [0], g.describe()
        assert "UDP %s:%d is taken; the DHT node takes another port" % (ip2, port2) in g.stderr()
        dht_addr = g.json()["dht"]["addr"]
        assert dht_addr.startswith(ip2 + ":") and dht_addr != "%s:%d" % (ip2, port2)

        # An explicit --dht-port that is taken is an error.
        g2 = start_get(shoals, str(work), torrent, str(work / "out2"), ip=ip2,
                       extra=["--dht-port", str(port2), "--timeout", "30"], wait_listen=False)
        assert wait_all([g2], 30) == [1]
        assert "DHT: " in g2.stderr() and "%s:%d" % (ip2, port2) in g2.stderr()
    finally:
        blocker.close()


@pytest.mark.parametrize("args,msg", [
    (["--dht-bootstrap", "nonsense"], "--dht-bootstrap: invalid address 'nonsense'"),
    (["--dht-bootstrap", "127.0.0.1:0"], "port 0"),
    (["--dht-bootstrap", "[::1]:6881"], "IPv4 DHT node (the family of -l) cannot join through IPv6"),
    (["-l", "[::1]:0", "--dht-bootstrap", "127.0.0.1:6881"], "IPv6 DHT node"),
    (["--dht-port", "0"], "--dht-port: '0' is not a whole number from 1 to 65535"),
    (["--dht-port", "65536"], "--dht-port: '65536'"),
])
def test_usage_errors(tmp_path, args, msg):
    for cmd in (["get", "x.torrent"], ["seed", "x.torrent", "data"]):
        r = run_shoal([cmd[0]] + args + cmd[1:], timeout=10, cwd=str(tmp_path))
        assert r.returncode == 2, (cmd, r.stderr)
        assert msg in r.stderr, r.stderr


def test_help_documents_the_options():
    for cmd in ("get", "seed"):
        r = run_shoal([cmd, "--help"])
        assert r.returncode == 0
        assert "--dht-bootstrap ADDR:PORT" in r.stdout and "--dht-port PORT" in r.stdout
