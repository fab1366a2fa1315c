"""`shoal tracker` over UDP (BEP 15), packets packed by hand.

Hosts 50..59 of 127.0.0.0/8 are this file's.
"""

import socket
import struct

import pytest

from conftest import loopback_ip
from tracker_util import (PROTOCOL_ID, UdpClient, UdpError, http_announce, info_hash_with_nul,
                          metric, http_get, peer_id, start_tracker, stats, torrent_entry)

HOST = loopback_ip(50)
A, B, C, D = (loopback_ip(n) for n in (51, 52, 53, 54))


@pytest.fixture
def tracker(procs, shoal_bin, free_port):
    return start_tracker(procs, shoal_bin, HOST, free_port, udp=True)


@pytest.fixture
def clients():
    made = []

    def make(tr, source):
        c = UdpClient(tr, source)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_banner(tracker):
    assert f"tracker listening on udp://{HOST}:{tracker.udp_port}/announce" in tracker.banner


def test_connect_announce_scrape(tracker, clients):
    h = info_hash_with_nul(1)
    a, b = clients(tracker, A), clients(tracker, B)
    a.connect()
    b.connect()
    interval, leechers, seeders, peers = a.announce(h, peer_id(1), 6001, left=0, event=2)
    assert (interval, leechers, seeders, peers) == (30, 0, 1, [])
    interval, leechers, seeders, peers = b.announce(h, peer_id(2), 6002, left=77, event=2)
    assert (leechers, seeders, peers) == (1, 1, [(A, 6001)])
    _, _, _, peers = a.announce(h, peer_id(1), 6001, left=0)
    assert peers == [(B, 6002)]  # never the asker itself
    # completed, then scrape: seeders, completed, leechers in BEP 15 order.
    b.announce(h, peer_id(2), 6002, left=0, event=1)
    other = info_hash_with_nul(2)
    assert a.scrape([h, other]) == [(2, 1, 0), (0, 0, 0)]
    # stopped removes at once.
    b.announce(h, peer_id(2), 6002, left=0, event=3)
    assert a.scrape([h]) == [(1, 1, 0)]
    # The HTTP side sees the same store.
    st = stats(tracker)
    assert torrent_entry(st, h) == {"info_hash": h.hex(), "seeders": 1, "leechers": 0,
                                    "completed": 1}
    assert st["announces"]["udp"] == 5 and st["scrapes"]["udp"] == 2
    assert st["udp_connects"] == 2


def test_numwant_respected_and_datagram_bounded(tracker, clients):
    h = info_hash_with_nul(3)
    for i in range(30):
        c = clients(tracker, loopback_ip(55))
        c.connect()
        c.announce(h, peer_id(100 + i), 6100 + i, left=10)
    asker = clients(tracker, A)
    asker.connect()
    _, _, _, peers = asker.announce(h, peer_id(99), 6099, left=10, numwant=5)
    assert len(peers) == 5
    tx, pkt = asker.announce_packet(h, peer_id(99), 6099, left=10, numwant=-1)
    r = asker.request(pkt)
    assert len(r) <= 1472 and (len(r) - 20) % 6 == 0
    assert len(r) - 20 == 6 * 30  # default numwant (50) exceeds the 30 others


def test_forged_connection_id(tracker, clients):
    h = info_hash_with_nul(4)
    a = clients(tracker, A)
    cid = a.connect()
    with pytest.raises(UdpError, match="connection id"):
        a.announce(h, peer_id(3), 6003, conn_id=cid ^ 1)
    # An id issued to another address is forged too.
    b = clients(tracker, B)
    with pytest.raises(UdpError, match="connection id"):
        b.announce(h, peer_id(4), 6004, conn_id=cid)
    # The error never outgrows the request (no amplification).
    tx = 0x1234
    pkt = struct.pack("!QII", cid ^ 2, 2, tx) + h
    b.send(pkt)
    r = b.recv()
    assert r is None or (len(r) <= len(pkt) and r[:8] == struct.pack("!II", 3, tx))
    assert a.scrape([h]) == [(0, 0, 0)]  # nothing was recorded


def test_garbage_dropped_then_good_announce(tracker, clients):
    a = clients(tracker, A)
    cid = a.connect()
    h = info_hash_with_nul(5)
    _, good = a.announce_packet(h, peer_id(5), 6005, left=0)
    bad = [
        b"",
        b"\x00",
        b"hello tracker",
        struct.pack("!QII", PROTOCOL_ID ^ 1, 0, 1),         # wrong magic
        struct.pack("!QII", PROTOCOL_ID, 0, 1)[:15],         # truncated connect
        good[:97],                                           # truncated announce
        good[:40],
        struct.pack("!QII", cid, 9, 1),                      # unknown action
        struct.pack("!QII", cid, 2, 1) + b"\x01" * 19,       # scrape with a partial hash
        b"\xff" * 4000,                                      # oversize
        good + b"\x00" * 3000,                               # oversize announce
        struct.pack("!QII", cid, 2, 1) + b"\x02" * 20 * 200, # scrape beyond any limit
    ]
    for pkt in bad:
        a.send(pkt)
    a.s.settimeout(0.5)
    got = a.recv()
    while got is not None:
        # Nothing may answer junk except with an error no larger than it.
        action = struct.unpack("!I", got[:4])[0]
        assert action == 3, got
        got = a.recv()
    a.s.settimeout(3)
    interval, _, seeders, peers = a.announce(h, peer_id(5), 6005, left=0)
    assert (interval, seeders, peers) == (30, 1, [])
    status, _, body = http_get(HOST, tracker.http_port, "/metrics")
    assert metric(body.decode(), "shoal_tracker_refused_total", {"reason": "bad_request"}) >= 8
    assert tracker.proc.alive()


def test_connection_id_reusable_within_window(tracker, clients):
    a = clients(tracker, A)
    a.connect()
    h = info_hash_with_nul(6)
    for i in range(5):
        a.announce(h, peer_id(6), 6006, left=1)
    # A fresh connect from the same address gives an id that also works.
    a.connect()
    _, leechers, _, _ = a.announce(h, peer_id(6), 6006, left=1)
    assert leechers == 1


def test_http_and_udp_peers_meet(tracker, clients):
    h = info_hash_with_nul(7)
    http_announce(tracker, h, peer_id(7), 6007, C, left=0)
    u = clients(tracker, D)
    u.connect()
    _, leechers, seeders, peers = u.announce(h, peer_id(8), 6008, left=5)
    assert (leechers, seeders, peers) == (1, 1, [(C, 6007)])
    a = http_announce(tracker, h, peer_id(7), 6007, C, left=0)
    assert socket.inet_aton(D) + struct.pack("!H", 6008) == a[b"peers"]
