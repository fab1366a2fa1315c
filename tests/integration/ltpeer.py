"""ltpeer.py — libtorrent (python3-libtorrent 2.0.x) as a reference peer.

Used by the interop tests and by bench/. Each LtPeer is one libtorrent
session bound to its own loopback address, with everything that would reach
beyond that address turned off (DHT, LSD, UPnP, NAT-PMP, uTP), so a test
sees only the TCP connections it asked for.

Only importable from Debian's /usr/bin/python3 (python3-libtorrent).
"""

import os
import time

import libtorrent as lt

VERSIONS = ("v1", "v2", "hybrid")


def make_torrent(path, version, out, piece_size=0):
    """Let libtorrent make a .torrent of path (file or directory) in the given
    version ("v1", "v2", "hybrid") and write it to out. Returns out."""
    fs = lt.file_storage()
    lt.add_files(fs, path)
    if fs.num_files() == 0:
        raise ValueError("no files under %s" % path)
    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[version]
    ct = lt.create_torrent(fs, piece_size, flags=flags)
    ct.set_creator("libtorrent test")
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    with open(out, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    return out


def session_settings(ip, port=0, extra=None):
    s = {
        "listen_interfaces": "%s:%d" % (ip, port),
        "outgoing_interfaces": ip,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.peer_notification
        | lt.alert.category_t.connect_notification,
        "user_agent": "lt-test",
    }
    if extra:
        s.update(extra)
    return s


class LtPeer:
    """One libtorrent session on one 127.0.0.x address."""

    def __init__(self, ip, port=0, settings=None):
        self.ip = ip
        self.ses = lt.session(session_settings(ip, port, settings))
        self.handles = []
        self.errors = []
        deadline = time.monotonic() + 10
        while self.ses.listen_port() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.port = self.ses.listen_port()
        if not self.port:
            raise RuntimeError("libtorrent did not listen on %s" % ip)

    @property
    def addr(self):
        return "%s:%d" % (self.ip, self.port)

    def add(self, torrent, save_path, seed=False):
        """Adds a torrent; seed=True expects the data to be complete in save_path
        (libtorrent checks it: wait_state(h, seeding) before relying on it)."""
        ti = lt.torrent_info(torrent)
        params = lt.add_torrent_params()
        params.ti = ti
        params.save_path = save_path
        params.flags &= ~lt.torrent_flags.auto_managed
        params.flags &= ~lt.torrent_flags.paused
        h = self.ses.add_torrent(params)
        self.handles.append(h)
        return h

    def connect(self, h, addr):
        ip, port = addr.rsplit(":", 1)
        h.connect_peer((ip, int(port)))

    def drain_alerts(self):
        for a in self.ses.pop_alerts():
            if a.category() & lt.alert.category_t.error_notification:
                self.errors.append(a.message())

    def wait_seeding(self, h, timeout, reconnect=None):
        """Waits until h is a complete seed. reconnect: an address to dial again
        every few seconds while not done (libtorrent gives up on a peer that
        was not yet listening). Raises TimeoutError with libtorrent's state."""
        deadline = time.monotonic() + timeout
        last_dial = 0.0
        while True:
            self.drain_alerts()
            st = h.status()
            if st.is_seeding:
                return st
            if st.errc.value() != 0:
                raise RuntimeError("libtorrent torrent error: %s" % st.errc.message())
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(
                    "libtorrent not seeding after %.0f s: state %s, progress %.3f, peers %d, errors %s"
                    % (timeout, st.state, st.progress, st.num_peers, self.errors[-5:])
                )
            if reconnect and now - last_dial > 3:
                self.connect(h, reconnect)
                last_dial = now
            time.sleep(0.1)

    def close(self):
        for h in self.handles:
            try:
                self.ses.remove_torrent(h)
            except Exception:
                pass
        self.handles = []
        # Dropping the session object joins libtorrent's threads.
        del self.ses
