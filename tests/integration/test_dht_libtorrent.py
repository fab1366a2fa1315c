"""DHT interop with libtorrent (python3-libtorrent 2.0), both ways.

shoal's DHT nodes and a libtorrent session share one DHT on loopback, each
on its own 127.0.6.x address (libtorrent settings per INTEROP.md "Test
tooling": dht_restrict_routing_ips and dht_restrict_search_ips off; LSD,
UPnP and NAT-PMP off; bootstrap = a `shoal dht` node).

- libtorrent finds, through get_peers, a peer that a shoal node announced;
- a shoal node finds a libtorrent seeder that announced itself (libtorrent
  announces every torrent it has to the DHT, with its listen port);
- a libtorrent downloader finds a `shoal seed --dht-bootstrap` through the
  DHT alone (no tracker, no peer given) and downloads from it;
- `shoal get --dht-bootstrap` finds a libtorrent seeder the same way and
  downloads from it (v1, v2 and hybrid torrents: libtorrent announces a v2
  torrent under its truncated v2 hash, as shoal looks it up).
"""

import os
import time

import pytest

from conftest import scaled
from dht_util import DhtFleet, start_router
from peers import (  # noqa: F401  (shoals is a fixture)
    assert_same_data,
    new_ip,
    shoal_create,
    shoals,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

lt = pytest.importorskip("libtorrent")
from ltpeer import LtPeer, make_torrent  # noqa: E402

FLEET = 10


def lt_dht_session(lt_session, ip, port, bootstrap):
    return lt_session(ip, port, enable_dht=True, dht_bootstrap_nodes=bootstrap,
                      dht_restrict_routing_ips=False, dht_restrict_search_ips=False,
                      alert_mask=(lt.alert.category_t.dht_notification |
                                  lt.alert.category_t.dht_operation_notification |
                                  lt.alert.category_t.status_notification))


def wait_lt(ses, pred, timeout, what):
    """Pumps libtorrent's alerts into pred(alert) until it returns a truthy value."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if ses.wait_for_alert(100) is not None:
            for a in ses.pop_alerts():
                v = pred(a)
                if v:
                    return v
        else:
            v = pred(None)
            if v:
                return v
    pytest.fail(f"timed out after {scaled(timeout):.0f} s waiting for {what}", pytrace=False)


@pytest.fixture
def dht_net(procs, shoal_bin, free_port, lt_session):
    """A 10-node shoal DHT and a libtorrent session that joined it."""
    port = free_port("127.0.6.1", "udp")
    fleet = DhtFleet(procs, shoal_bin, f"127.0.6.1:{port}", nodes=FLEET)
    lt_port = free_port("127.0.6.50", "both")
    ses = lt_dht_session(lt_session, "127.0.6.50", lt_port, f"127.0.6.1:{port}")
    wait_lt(ses, lambda a: isinstance(a, lt.dht_bootstrap_alert), 20,
            "libtorrent to join the shoal DHT")
    # ... and the router knows libtorrent's node too (9 other shoal nodes + 1).
    fleet.wait_for(lambda: fleet.stats(0)["good"] >= FLEET, 20, "node 0 to know everyone")
    return fleet, ses, lt_port


def test_libtorrent_finds_peer_announced_by_shoal(dht_net):
    fleet, ses, _ = dht_net
    info = "5e" * 20
    fleet.send(f"announce {info} 5555 3")
    fleet.wait_for(lambda: 3 in fleet.dones(info), 20, "shoal's announce")
    ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(info)))

    def got(a):
        if isinstance(a, lt.dht_get_peers_reply_alert) and str(a.info_hash) == info:
            return a.peers()
        return None

    peers = wait_lt(ses, got, 20, "libtorrent's get_peers to find shoal's peer")
    assert ("127.0.6.4", 5555) in peers


def test_shoal_finds_libtorrent_seeder(dht_net, tmp_dir, make_random_file, lt_make_torrent):
    fleet, ses, lt_port = dht_net
    data = make_random_file(tmp_dir / "payload.bin", 256 * 1024, "dht-lt")
    ti = lt.torrent_info(lt_make_torrent(data, version="v1", piece=16384))
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(tmp_dir)
    h = ses.add_torrent(atp)
    info = str(ti.info_hash())

    # libtorrent announces to the DHT once the torrent is checked and seeding.
    wait_lt(ses, lambda a: h.status().is_seeding, 20, "libtorrent to seed")
    want = f"127.0.6.50:{lt_port}"

    def found():
        fleet.send(f"lookup {info} 6")
        mark = len(fleet.lines)
        fleet.wait_for(lambda: any(line.startswith(f"done {info} node=6 ")
                                   for line in fleet.poll()[mark:]), 20, "a lookup")
        return want in fleet.founds(info).get(6, set())

    # libtorrent's own announce takes a lookup of its own first: retry a few times.
    deadline = time.monotonic() + scaled(30)
    while not found():
        assert time.monotonic() < deadline, f"shoal never found {want}: {fleet.founds(info)}"
        time.sleep(1)


def lt_dht_settings(router):
    return {"enable_dht": True, "dht_bootstrap_nodes": router,
            "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False}


@pytest.mark.parametrize("version", ["v1", "hybrid"])
def test_libtorrent_downloads_from_shoal_seed_found_in_dht(tmp_path, shoals, version):
    data = write_random(str(tmp_path / "data.bin"), 2 * 1024 * 1024 + 777)
    torrent = shoal_create(data, str(tmp_path / "data.torrent"), version=version)
    router = start_router(shoals, str(tmp_path))
    start_seed(shoals, str(tmp_path), torrent, data, extra=["--dht-bootstrap", router])
    peer = LtPeer(new_ip(), settings=lt_dht_settings(router))
    try:
        dl = tmp_path / "lt"
        dl.mkdir()
        t0 = time.monotonic()
        h = peer.add(torrent, str(dl))
        peer.wait_seeding(h, scaled(60))
        print("\nlibtorrent found the shoal seed in the DHT and downloaded in %.2f s"
              % (time.monotonic() - t0))
        assert_same_data(data, str(dl / "data.bin"))
    finally:
        peer.close()


@pytest.mark.parametrize("version", ["v1", "v2", "hybrid"])
def test_shoal_get_finds_libtorrent_seeder_in_dht(tmp_path, shoals, version):
    src = tmp_path / "src"
    src.mkdir()
    data = write_random(str(src / "data.bin"), 2 * 1024 * 1024 + 333)
    torrent = make_torrent(data, version, str(tmp_path / "data.torrent"))
    router = start_router(shoals, str(tmp_path))
    seeder = LtPeer(new_ip(), settings=lt_dht_settings(router))
    try:
        h = seeder.add(torrent, str(src), seed=True)
        seeder.wait_seeding(h, scaled(20))
        t0 = time.monotonic()
        g = start_get(shoals, str(tmp_path), torrent, str(tmp_path / "out"),
                      extra=["--dht-bootstrap", router, "--json", "--timeout", "60"])
        assert wait_all([g], 90) == [0], g.describe()
        print("\nshoal get found the libtorrent seeder in the DHT and downloaded in %.2f s"
              % (time.monotonic() - t0))
        assert_same_data(data, str(tmp_path / "out" / "data.bin"))
        j = g.json()
        assert j["dht"]["peers_found"] >= 1
        assert j["down_bytes"] >= os.path.getsize(data)  # pads of a hybrid count too
    finally:
        seeder.close()
