"""ltpeer.py — libtorrent (python3-libtorrent 2.0.x) as a reference peer.

Used by the interop tests. Each LtPeer is one libtorrent
session bound to its own loopback address, with everything that would reach
beyond that address turned off (DHT, LSD, UPnP, NAT-PMP, uTP), so a test
sees only the TCP connections it asked for.

Only importable from Debian's /usr/bin/python3 (python3-libtorrent).
"""

import time

import libtorrent as lt

from conftest import LOOPBACK_LT_SETTINGS, lt_make_torrent

VERSIONS = ("v1", "v2", "hybrid")


def make_torrent(path, version, out, piece_size=32768):
    """Lets libtorrent make a .torrent of path (file or directory) in the given
    version ("v1", "v2", "hybrid") and writes it to out. Returns out."""
    with open(out, "wb") as f:
        f.write(lt_make_torrent(path, version=version, piece=piece_size, creator="libtorrent test"))
    return out


def session_settings(ip, port=0, extra=None):
    s = dict(LOOPBACK_LT_SETTINGS)
    s.update({
        "listen_interfaces": "%s:%d" % (ip, port),
        "outgoing_interfaces": ip,
        "alert_mask": lt.alert.category_t.error_notification,
        "user_agent": "lt-test",
    })
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
