#!/usr/bin/python3
"""lt_peer.py — libtorrent as one side of bench/throughput.

  lt_peer.py seed TORRENT DATA_DIR IP     check the data, print "listening on IP:PORT",
                                          serve until SIGTERM, then print a JSON summary
  lt_peer.py get TORRENT OUT_DIR IP PEER  download from PEER (IP:PORT), print a JSON
                                          summary when complete and exit

One libtorrent session per process, bound to its own loopback address, with
DHT/LSD/UPnP/NAT-PMP/uTP off, so the measurement is one TCP connection. Set
LT_HIGH_PERF=1 to start from libtorrent's high_performance_seed() settings.
Needs Debian's /usr/bin/python3 (python3-libtorrent).
"""

import json
import os
import signal
import sys
import time

import libtorrent as lt


def session(ip):
    s = lt.high_performance_seed() if os.environ.get("LT_HIGH_PERF") == "1" else {}
    s.update({
        "listen_interfaces": "%s:0" % ip,
        "outgoing_interfaces": ip,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
    })
    ses = lt.session(s)
    for _ in range(200):
        if ses.listen_port():
            break
        time.sleep(0.02)
    return ses


def add(ses, torrent, save):
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(torrent)
    p.save_path = save
    p.flags &= ~lt.torrent_flags.auto_managed
    p.flags &= ~lt.torrent_flags.paused
    return ses.add_torrent(p)


def seed(torrent, data_dir, ip):
    ses = session(ip)
    h = add(ses, torrent, data_dir)
    while not h.status().is_seeding:
        if h.status().errc.value():
            sys.exit("libtorrent: " + h.status().errc.message())
        time.sleep(0.05)
    print("listening on %s:%d" % (ip, ses.listen_port()), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    while not stop:
        time.sleep(0.1)
    st = h.status()
    print(json.dumps({"status": "stopped", "up_bytes": st.total_payload_upload,
                      "wire_up": st.total_upload}), flush=True)


def get(torrent, out_dir, ip, peer):
    ses = session(ip)
    t0 = time.monotonic()
    h = add(ses, torrent, out_dir)
    pip, pport = peer.rsplit(":", 1)
    h.connect_peer((pip, int(pport)))
    last_dial = time.monotonic()
    while True:
        st = h.status()
        if st.is_seeding:
            break
        if st.errc.value():
            sys.exit("libtorrent: " + st.errc.message())
        if st.num_peers == 0 and time.monotonic() - last_dial > 2:
            h.connect_peer((pip, int(pport)))
            last_dial = time.monotonic()
        if time.monotonic() - t0 > 600:
            sys.exit("libtorrent: not complete after 600 s")
        time.sleep(0.01)
    secs = time.monotonic() - t0
    print(json.dumps({"status": "complete", "seconds": secs, "bytes": h.torrent_file().total_size(),
                      "down_bytes": st.total_payload_download, "wire_down": st.total_download}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "seed":
        seed(*sys.argv[2:])
    elif len(sys.argv) == 6 and sys.argv[1] == "get":
        get(*sys.argv[2:])
    else:
        sys.exit(__doc__)
