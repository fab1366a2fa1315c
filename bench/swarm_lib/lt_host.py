#!/usr/bin/python3
"""lt_host.py — one process hosting one or more libtorrent peers for bench/swarm.

  lt_host.py --role getter|origin --torrent T --tracker URL --down-rate B
             --up-rate U --interval S [--setting KEY=VALUE]... --host IP:PORT:DIR [--host ...]

Each --host is its own libtorrent session: listening and dialing from its own
loopback IP, DHT/LSD/UPnP/NAT-PMP and uTP off, several connections per IP
allowed, capped at U up and B down. libtorrent exempts loopback from rate
limits through its local peer class, so every address is mapped to the
global class (set_peer_class_filter) and the caps apply.

Getters add the torrent with the tracker at once (they announce while
there is nothing to fetch yet). The origin checks its data without a
tracker, prints "ready" and announces only on SIGUSR1 (the benchmark's T0).
Lines on stdout, one JSON object each:
  {"event": "ready"}                          every session listens (origin: and seeds)
  {"event": "done", "host": IP, "t": UNIX}    a getter has every piece, verified
  {"event": "error", "host": IP, "msg": ...}
  {"event": "final", "host": IP, ...}         on SIGTERM: payload and wire byte counts
Needs Debian's /usr/bin/python3 (python3-libtorrent).
"""

import argparse
import json
import os
import signal
import sys
import time

import libtorrent as lt

flags = {"go": False, "stop": False}


def emit(**obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def make_session(ip, port, args):
    pack = {
        "listen_interfaces": "%s:%d" % (ip, port),
        "outgoing_interfaces": ip,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": args.up_rate,
        "download_rate_limit": args.down_rate,
        # the same announce interval as shoal gets from the tracker (libtorrent
        # would otherwise stretch any interval under 300 s to 300 s)
        "min_announce_interval": args.interval,
        "alert_mask": int(lt.alert_category.status | lt.alert_category.error),
    }
    for item in args.setting:
        key, _, value = item.partition("=")
        pack[key] = int(value) if value.lstrip("-").isdigit() else (
            value == "true" if value in ("true", "false") else value)
    ses = lt.session(pack)
    everyone = lt.ip_filter()
    everyone.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
    ses.set_peer_class_filter(everyone)
    return ses


def add_torrent(ses, ti, save, tracker):
    p = lt.add_torrent_params()
    p.ti = ti
    p.save_path = save
    p.flags &= ~lt.torrent_flags.auto_managed
    p.flags &= ~lt.torrent_flags.paused
    if tracker:
        p.trackers = [tracker]
    return ses.add_torrent(p)


class Peer:
    """One hosted libtorrent peer."""

    def __init__(self, ip, ses, handle):
        self.ip = ip
        self.ses = ses
        self.handle = handle
        self.finished = False
        self.errors = 0  # error alerts reported; the first few say enough


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while not pred():
        if flags["stop"] or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=("getter", "origin"), required=True)
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--tracker", required=True)
    ap.add_argument("--down-rate", type=int, required=True)
    ap.add_argument("--up-rate", type=int, required=True)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                    help="a libtorrent setting (int, true/false or string), applied last")
    ap.add_argument("--host", action="append", required=True, help="IP:PORT:DIR")
    args = ap.parse_args()

    signal.signal(signal.SIGUSR1, lambda *_: flags.update(go=True))
    signal.signal(signal.SIGTERM, lambda *_: flags.update(stop=True))
    signal.signal(signal.SIGINT, lambda *_: flags.update(stop=True))

    ti = lt.torrent_info(args.torrent)
    origin = args.role == "origin"
    peers = []
    for spec in args.host:
        ip, port, save = spec.split(":", 2)
        ses = make_session(ip, int(port), args)
        h = add_torrent(ses, ti, save, None if origin else args.tracker)
        peers.append(Peer(ip, ses, h))

    if not wait_for(lambda: all(p.ses.listen_port() for p in peers), 60):
        emit(event="error", host="*", msg="sessions did not listen")
        os._exit(1)
    if origin and not wait_for(lambda: all(p.handle.status().is_seeding for p in peers), 600):
        emit(event="error", host="*", msg="origin data did not check: %s" %
             peers[0].handle.status().errc.message())
        os._exit(1)
    emit(event="ready")

    if origin:
        wait_for(lambda: flags["go"], 1e9)
        for p in peers:
            p.handle.add_tracker({"url": args.tracker, "tier": 0})
            p.handle.force_reannounce()

    while not flags["stop"]:
        time.sleep(0.05)
        for p in peers:
            for a in p.ses.pop_alerts():
                if isinstance(a, lt.torrent_finished_alert) and not origin and not p.finished:
                    p.finished = True
                    emit(event="done", host=p.ip, t=time.time())
                elif a.category() & lt.alert_category.error and p.errors < 5:
                    p.errors += 1
                    emit(event="error", host=p.ip, msg=a.message())

    for p in peers:
        st = p.handle.status()
        emit(event="final", host=p.ip, up_bytes=st.total_payload_upload,
             down_bytes=st.total_payload_download, wire_up=st.total_upload,
             wire_down=st.total_download, peers=st.num_peers)
    # tearing sessions down politely takes seconds each; the benchmark is over
    os._exit(0)


if __name__ == "__main__":
    main()
