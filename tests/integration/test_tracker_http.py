"""`shoal tracker` over HTTP, with a hand-built client.

Announces carry binary info hashes with %00 bytes in them (a decoded
key/value API would cut them short and mix swarms up); answers are decoded
independently and checked value by value. Hosts 40..49 of 127.0.0.0/8 are
this file's.
"""

import json
import signal
import socket
import time

import pytest

import shoal_bencode
from conftest import loopback_ip, scaled, wait_until
from tracker_util import (announce_query, compact4, http_announce, http_get, http_scrape,
                          info_hash_with_nul, metric, peer_id, peers_of, start_tracker,
                          stats, torrent_entry)

HOST = loopback_ip(40)
A, B, C, D = (loopback_ip(n) for n in (41, 42, 43, 44))


@pytest.fixture
def tracker(procs, shoal_bin, free_port):
    return start_tracker(procs, shoal_bin, HOST, free_port)


def test_banner_and_defaults(tracker):
    assert tracker.banner == [f"tracker listening on http://{HOST}:{tracker.http_port}/announce"]


def test_compact_answers_never_hold_the_asker(tracker):
    h = info_hash_with_nul(1)
    a = http_announce(tracker, h, peer_id(1), 7001, A, left=0, event="started")
    assert (a[b"interval"], a[b"min interval"]) == (30, 15)
    assert (a[b"complete"], a[b"incomplete"]) == (1, 0)
    assert a[b"peers"] == b""  # alone: the asker is not handed itself
    assert b"peers6" not in a

    b = http_announce(tracker, h, peer_id(2), 7002, B, left=500, event="started")
    assert (b[b"complete"], b[b"incomplete"]) == (1, 1)
    assert compact4(b[b"peers"]) == [(A, 7001)]

    # A again: sees B, never itself.
    a = http_announce(tracker, h, peer_id(1), 7001, A, left=0)
    assert compact4(a[b"peers"]) == [(B, 7002)]

    # A swarm whose hash differs from h only in its last byte (after the
    # NULs) is another swarm: the raw query was not cut at %00.
    h2 = h[:19] + bytes([h[19] ^ 0xFF])
    c = http_announce(tracker, h2, peer_id(3), 7003, C, left=1)
    assert c[b"peers"] == b"" and (c[b"complete"], c[b"incomplete"]) == (0, 1)
    b = http_announce(tracker, h, peer_id(2), 7002, B, left=500)
    assert compact4(b[b"peers"]) == [(A, 7001)]


def test_dictionary_answers(tracker):
    h = info_hash_with_nul(2)
    http_announce(tracker, h, peer_id(11), 7011, A, left=0)
    d = http_announce(tracker, h, peer_id(12), 7012, B, left=10, compact=0)
    assert d[b"peers"] == [{b"ip": A.encode(), b"peer id": peer_id(11), b"port": 7011}]
    d = http_announce(tracker, h, peer_id(12), 7012, B, left=10, compact=0,
                      extra="&no_peer_id=1")
    assert d[b"peers"] == [{b"ip": A.encode(), b"port": 7011}]


def test_stopped_removes_at_once(tracker):
    h = info_hash_with_nul(3)
    http_announce(tracker, h, peer_id(21), 7021, A, left=0)
    http_announce(tracker, h, peer_id(22), 7022, B, left=10)
    f = http_scrape(tracker, [h])[b"files"][h]
    assert (f[b"complete"], f[b"incomplete"]) == (1, 1)
    s = http_announce(tracker, h, peer_id(21), 7021, A, left=0, event="stopped")
    assert s.get(b"peers", b"") == b""
    b = http_announce(tracker, h, peer_id(22), 7022, B, left=10)
    assert b[b"peers"] == b"" and (b[b"complete"], b[b"incomplete"]) == (0, 1)
    f = http_scrape(tracker, [h])[b"files"][h]
    assert (f[b"complete"], f[b"incomplete"]) == (0, 1)


def test_completed_counted_once(tracker):
    h = info_hash_with_nul(4)
    other = info_hash_with_nul(5)
    http_announce(tracker, h, peer_id(31), 7031, A, left=0)
    http_announce(tracker, h, peer_id(32), 7032, B, left=100, event="started")
    f = http_scrape(tracker, [h])[b"files"][h]
    assert (f[b"complete"], f[b"downloaded"], f[b"incomplete"]) == (1, 0, 1)
    http_announce(tracker, h, peer_id(32), 7032, B, left=0, event="completed")
    http_announce(tracker, h, peer_id(32), 7032, B, left=0, event="completed")
    files = http_scrape(tracker, [h, other])[b"files"]
    assert (files[h][b"complete"], files[h][b"downloaded"], files[h][b"incomplete"]) == (2, 1, 0)
    assert (files[other][b"complete"], files[other][b"downloaded"]) == (0, 0)


def test_expiry_after_two_intervals(procs, shoal_bin, free_port):
    tr = start_tracker(procs, shoal_bin, HOST, free_port, "--interval", "1")
    h = info_hash_with_nul(6)
    a = http_announce(tr, h, peer_id(41), 7041, A, left=0)
    t0 = time.monotonic()
    # min interval never rounds down to 0 (libtorrent would assume 30 s).
    assert (a[b"interval"], a[b"min interval"]) == (1, 1)
    time.sleep(0.8)
    assert http_scrape(tr, [h])[b"files"][h][b"complete"] == 1  # one interval missed: kept

    def gone():
        return http_scrape(tr, [h])[b"files"].get(h, {}).get(b"complete", 0) == 0

    wait_until(gone, 5, interval=0.05, what="the silent peer to expire")
    elapsed = time.monotonic() - t0
    # Whole-second bookkeeping: gone 2–3 s after the announce, plus the sweep.
    assert 1.9 <= elapsed <= scaled(4.5), elapsed
    b = http_announce(tr, h, peer_id(42), 7042, B, left=10)
    assert b[b"peers"] == b""


def _have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_announcer_gets_peers6(procs, shoal_bin, free_port):
    if not _have_ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this machine")
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        port6 = s.getsockname()[1]
    tr = start_tracker(procs, shoal_bin, HOST, free_port, listen=[f"[::1]:{port6}"])
    assert f"tracker listening on http://[::1]:{port6}/announce" in tr.banner
    h = info_hash_with_nul(7)
    x = http_announce(tr, h, peer_id(51), 7051, "::1", host="::1", http_port=port6, left=0)
    assert x.get(b"peers6", b"") == b""
    y = http_announce(tr, h, peer_id(52), 7052, "::1", host="::1", http_port=port6, left=5)
    six = [p for p in peers_of(y) if ":" in p[0]]
    assert six == [("::1", 7051)]
    assert len(y[b"peers6"]) == 18
    d = http_announce(tr, h, peer_id(52), 7052, "::1", host="::1", http_port=port6, left=5,
                      compact=0)
    assert d[b"peers"] == [{b"ip": b"::1", b"peer id": peer_id(51), b"port": 7051}]
    # An IPv4 announcer in the same swarm is counted with them.
    v4 = http_announce(tr, h, peer_id(53), 7053, A, left=5)
    assert (v4[b"complete"], v4[b"incomplete"]) == (1, 2)
    assert (A, 7053) not in compact4(v4[b"peers"])


def test_keep_alive(tracker):
    """Several announces ride one connection (MHD closes it if we answer too early)."""
    import http.client

    h = info_hash_with_nul(12)
    c = http.client.HTTPConnection(HOST, tracker.http_port, timeout=scaled(5),
                                   source_address=(A, 0))
    try:
        socks = set()
        for i in range(5):
            c.request("GET", "/announce?" + announce_query(h, peer_id(90 + i), 7090 + i))
            r = c.getresponse()
            d = shoal_bencode.decode(r.read())
            assert r.status == 200 and d[b"incomplete"] == i + 1
            assert not r.will_close, r.getheaders()
            socks.add(id(c.sock))
        assert len(socks) == 1
        st = stats(tracker)
        assert st["http_connections"] == 2  # this one and the one asking
    finally:
        c.close()


def test_routes(tracker):
    h = info_hash_with_nul(8)
    q = announce_query(h, peer_id(61), 7061, left=0)
    status, hdr, body = http_get(HOST, tracker.http_port, "/announce/fleet-a?" + q, source=A)
    assert status == 200 and hdr["Content-Type"] == "text/plain"
    assert shoal_bencode.decode(body)[b"complete"] == 1
    status, _, _ = http_get(HOST, tracker.http_port, "/announcement?" + q, source=A)
    assert status == 404
    status, _, _ = http_get(HOST, tracker.http_port, "/nothing", source=A)
    assert status == 404
    c = socket.create_connection((HOST, tracker.http_port))
    c.sendall(b"POST /announce HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
              b"Connection: close\r\n\r\nabc")
    c.settimeout(scaled(5))
    reply = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        reply += chunk
    c.close()
    assert reply.startswith(b"HTTP/1.1 405"), reply[:80]
    # A full scrape (no info_hash) is refused politely.
    status, _, body = http_get(HOST, tracker.http_port, "/scrape", source=A)
    assert status == 200 and b"failure reason" in shoal_bencode.decode(body)


def test_status_pages_match_announces(tracker):
    h1, h2 = info_hash_with_nul(9), info_hash_with_nul(10)
    http_announce(tracker, h1, peer_id(71), 7071, A, left=0)
    http_announce(tracker, h1, peer_id(72), 7072, B, left=10)
    http_announce(tracker, h1, peer_id(73), 7073, C, left=10)
    http_announce(tracker, h1, peer_id(73), 7073, C, left=0, event="completed")
    http_announce(tracker, h2, peer_id(74), 7074, D, left=10)
    http_scrape(tracker, [h1])

    st = stats(tracker)
    assert (st["swarms"], st["peers"], st["seeders"], st["leechers"]) == (2, 4, 2, 2)
    assert st["completed"] == 1
    assert st["announces"] == {"http": 5, "udp": 0, "total": 5}
    assert st["scrapes"]["http"] == 1
    assert st["interval"] == 30 and st["private"] is False
    assert torrent_entry(st, h1) == {"info_hash": h1.hex(), "seeders": 2, "leechers": 1,
                                     "completed": 1}
    assert torrent_entry(st, h2) == {"info_hash": h2.hex(), "seeders": 0, "leechers": 1,
                                     "completed": 0}
    assert st["announces_per_s"] >= 0 and st["uptime_s"] > 0

    status, hdr, body = http_get(HOST, tracker.http_port, "/metrics")
    assert status == 200 and hdr["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert metric(text, "shoal_tracker_swarms") == 2
    assert metric(text, "shoal_tracker_peers", {"state": "seeder"}) == 2
    assert metric(text, "shoal_tracker_peers", {"state": "leecher"}) == 2
    assert metric(text, "shoal_tracker_announces_total", {"proto": "http"}) == 5
    assert metric(text, "shoal_tracker_announces_total", {"proto": "udp"}) == 0
    assert metric(text, "shoal_tracker_scrapes_total") == 1
    assert metric(text, "shoal_tracker_completed_total") == 1
    assert metric(text, "shoal_tracker_refused_total", {"reason": "rate_limited"}) == 0
    for name in ("swarms", "peers", "announces_total", "scrapes_total", "refused_total",
                 "completed_total"):
        assert f"# HELP shoal_tracker_{name} " in text
        kind = "counter" if name.endswith("_total") else "gauge"
        assert f"# TYPE shoal_tracker_{name} {kind}\n" in text

    status, hdr, body = http_get(HOST, tracker.http_port, "/")
    assert status == 200 and hdr["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "<h1>shoal tracker</h1>" in page
    assert f"<code>{h1.hex()}</code></td><td>2</td><td>1</td><td>1</td>" in page
    assert f"<code>{h2.hex()}</code></td><td>0</td><td>1</td><td>0</td>" in page
    assert "announces/s" in page and "uptime" in page


def test_signals_exit_cleanly(procs, shoal_bin, free_port):
    for sig in (signal.SIGTERM, signal.SIGINT):
        tr = start_tracker(procs, shoal_bin, HOST, free_port)
        http_announce(tr, info_hash_with_nul(11), peer_id(81), 7081, A, left=0)
        tr.proc.popen.send_signal(sig)
        assert tr.proc.wait(10) == 0


def test_usage_errors(run_shoal, tmp_dir, free_port):
    r = run_shoal("tracker", "--help")
    assert r.rc == 0 and "usage: shoal tracker" in r.stdout and "--interval" in r.stdout
    for args, needle in (
        (["-l", "127.0.0.1"], "expected ADDR:PORT"),
        (["-l", "300.0.0.1:80"], "expected ADDR:PORT"),
        (["-l", "127.0.0.1:70000"], "expected ADDR:PORT"),
        (["--udp", "nowhere"], "expected ADDR:PORT"),
        (["--interval", "0"], "--interval"),
        (["--interval", "x"], "--interval"),
        (["--max-peers", "-5"], "--max-peers"),
        (["--private"], "--allow"),
        (["--bogus"], "unknown option"),
        (["extra"], "unexpected argument"),
        (["--allow", str(tmp_dir / "missing")], "No such file"),
    ):
        r = run_shoal("tracker", *args)
        assert r.rc == 2, (args, r)
        assert needle in r.stderr, (args, r.stderr)
        assert r.stdout == ""
    bad = tmp_dir / "allow.txt"
    bad.write_text("# fleet images\n" + "ab" * 20 + "\n\n" + "zz" * 20 + "\n")
    r = run_shoal("tracker", "--allow", bad)
    assert r.rc == 2 and f"{bad}:4:" in r.stderr, r.stderr
    short = tmp_dir / "short.txt"
    short.write_text("ab" * 19 + "\n")
    r = run_shoal("tracker", "--allow", short)
    assert r.rc == 2 and f"{short}:1:" in r.stderr, r.stderr
    # An address already taken: a start-up failure (1), not a usage error.
    s = socket.socket()
    s.bind((HOST, 0))
    s.listen()
    try:
        r = run_shoal("tracker", "-l", f"{HOST}:{s.getsockname()[1]}")
        assert r.rc == 1 and "HTTP" in r.stderr, r
    finally:
        s.close()
