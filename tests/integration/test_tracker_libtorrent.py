"""libtorrent announces to `shoal tracker` over HTTP and UDP, and two
libtorrent sessions find each other through it and trade.

libtorrent only talks to a loopback tracker whose path starts with
/announce (its SSRF rule), so the URLs end in /announce. Hosts 70..79 of
127.0.0.0/8 are this file's.
"""

import time

import pytest

lt = pytest.importorskip("libtorrent")

from conftest import loopback_ip, scaled, wait_until  # noqa: E402
from tracker_util import http_get, start_tracker, stats, torrent_entry  # noqa: E402

HOST = loopback_ip(70)
SEED, LEECH = loopback_ip(71), loopback_ip(72)

# Re-announce as often as the tracker allows (libtorrent otherwise raises
# short intervals to 5 minutes) and keep everything on loopback.
FAST = {"min_announce_interval": 1, "tracker_completion_timeout": 5,
        "tracker_receive_timeout": 5, "announce_to_all_trackers": True}


def add(ses, ti, save, seed):
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(save)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    if seed:
        atp.flags |= lt.torrent_flags.seed_mode
    return ses.add_torrent(atp)


def make(tmp_dir, make_random_file, lt_make_torrent, url, size=1 << 20):
    data = tmp_dir / "seed" / "blob.bin"
    make_random_file(data, size, seed="tracker-lt")
    raw = lt_make_torrent(data, version="v1", piece=32768, trackers=[url])
    ti = lt.torrent_info(lt.bdecode(raw))
    return data, ti, bytes.fromhex(str(ti.info_hashes().v1))


def tracker_errors(h):
    out = []
    for t in h.trackers():
        for ep in t.get("endpoints", []):
            for ih in ep.get("info_hashes", []):
                if ih.get("message"):
                    out.append(ih["message"])
    return out


@pytest.mark.parametrize("proto", ["http", "udp"])
def test_libtorrent_announces(procs, shoal_bin, free_port, tmp_dir, make_random_file,
                              lt_make_torrent, lt_session, proto):
    tr = start_tracker(procs, shoal_bin, HOST, free_port, "--interval", "2", udp=True)
    url = tr.announce_url if proto == "http" else tr.udp_url
    data, ti, ih = make(tmp_dir, make_random_file, lt_make_torrent, url)
    ses = lt_session(SEED, **FAST)
    h = add(ses, ti, data.parent, seed=True)

    def listed():
        e = torrent_entry(stats(tr), ih)
        return e if e and e["seeders"] == 1 else None

    e = wait_until(listed, 20, what=f"libtorrent's {proto} announce to show up")
    assert e == {"info_hash": ih.hex(), "seeders": 1, "leechers": 0, "completed": 0}
    st = stats(tr)
    assert st["announces"][proto] >= 1
    assert st["announces"]["udp" if proto == "http" else "http"] == 0
    assert not tracker_errors(h), tracker_errors(h)
    first = st["announces"][proto]
    if proto == "http":
        # libtorrent re-announces at our 2 s interval (HTTP carries "min interval").
        wait_until(lambda: stats(tr)["announces"][proto] > first, 10,
                   what="a re-announce at the tracker's interval")
    else:
        # BEP 15 has no min interval field and libtorrent assumes 60 s for
        # UDP trackers, so ask for the re-announce.
        h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        wait_until(lambda: stats(tr)["announces"][proto] > first, 10,
                   what="a forced UDP re-announce")
    # Removing the torrent sends event=stopped: the swarm empties at once.
    ses.remove_torrent(h)
    wait_until(lambda: not torrent_entry(stats(tr), ih), 10, what="the stopped announce")


def test_two_sessions_meet_through_the_tracker(procs, shoal_bin, free_port, tmp_dir,
                                                make_random_file, lt_make_torrent, lt_session):
    tr = start_tracker(procs, shoal_bin, HOST, free_port, "--interval", "2")
    data, ti, ih = make(tmp_dir, make_random_file, lt_make_torrent, tr.announce_url,
                        size=3 << 20)
    seeder = lt_session(SEED, **FAST)
    leecher = lt_session(LEECH, **FAST)
    add(seeder, ti, data.parent, seed=True)
    wait_until(lambda: (torrent_entry(stats(tr), ih) or {}).get("seeders") == 1, 20,
               what="the seeder's announce")
    out = tmp_dir / "leech"
    out.mkdir()
    lh = add(leecher, ti, out, seed=False)
    deadline = time.monotonic() + scaled(40)
    while not lh.status().is_seeding:
        if time.monotonic() > deadline:
            pytest.fail(f"download stalled: {lh.status().progress:.2f}, "
                        f"tracker errors {tracker_errors(lh)}, stats {stats(tr)}")
        time.sleep(0.2)
    assert (out / "blob.bin").read_bytes() == data.read_bytes()
    # The leecher reports completion: two seeders, one completed download.
    e = wait_until(lambda: (lambda x: x if x and x["completed"] == 1 and x["seeders"] == 2
                            else None)(torrent_entry(stats(tr), ih)), 15,
                   what="event=completed to reach the tracker")
    assert e["leechers"] == 0
    # With DHT, LSD and PEX off, the tracker was the only way to meet.
    status, _, body = http_get(HOST, tr.http_port, "/metrics")
    assert b'shoal_tracker_completed_total 1\n' in body
