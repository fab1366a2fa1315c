"""hostile.py — a misbehaving BitTorrent peer on raw sockets.

It listens on its own loopback address; the shoal under test dials it
(--peer). Each accepted connection is handled in one of these modes:

  garbage        answers the handshake with 68 bytes of noise
  oversized      valid handshake, then a length prefix of ~4 GiB
  bad_request    valid handshake, has-none, interested, then requests
                 outside the torrent (piece index past the end, offset past
                 the piece, a 1 MiB block)
  unrequested    valid handshake and bitfield, then piece messages nobody
                 asked for
  wrong_data     valid handshake, has every piece, unchokes, and answers
                 every request with the right length of the wrong bytes

For every connection it records what it did and how the connection ended:
"eof" (orderly close by shoal), "reset" (RST), or "timeout" (shoal kept the
connection open for `linger` seconds after the offence: a failure).
"""

import os
import socket
import struct
import threading
import time

PSTR = b"\x13BitTorrent protocol"
MODES = ("garbage", "oversized", "bad_request", "unrequested", "wrong_data")

# message ids
CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL = range(9)
HAVE_ALL, HAVE_NONE, REJECT = 0x0E, 0x0F, 0x10


def handshake(info_hash, peer_id, fast=True):
    reserved = bytearray(8)
    if fast:
        reserved[7] |= 0x04
    return PSTR + bytes(reserved) + info_hash + peer_id


def msg(mid, payload=b""):
    return struct.pack(">IB", 1 + len(payload), mid) + payload


class ConnResult:
    def __init__(self, peer):
        self.peer = peer
        self.offence_sent = False
        self.requests = 0          # requests received (wrong_data)
        self.pieces_sent = 0
        self.end = None            # "eof" | "reset" | "timeout" | "error: ..."
        self.ended_after = None    # seconds from the offence to the end


class HostilePeer:
    def __init__(self, ip, torrent, mode, linger=20.0):
        assert mode in MODES, mode
        self.ip = ip
        self.t = torrent
        self.mode = mode
        self.linger = linger
        self.results = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.addr = "%s:%d" % (ip, self.port)
        self.stop_flag = threading.Event()
        self.threads = []
        self.acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.acceptor.start()

    # ------------------------------------------------------------ plumbing
    def _accept_loop(self):
        self.sock.settimeout(0.2)
        while not self.stop_flag.is_set():
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            r = ConnResult(peer)
            with self.lock:
                self.results.append(r)
            th = threading.Thread(target=self._serve, args=(c, r), daemon=True)
            th.start()
            self.threads.append(th)

    def close(self):
        self.stop_flag.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.acceptor.join(2)
        for th in self.threads:
            th.join(self.linger + 2)

    def snapshot(self):
        with self.lock:
            return list(self.results)

    @staticmethod
    def _recv_exact(c, n, deadline):
        buf = b""
        while len(buf) < n:
            c.settimeout(max(0.05, deadline - time.monotonic()))
            d = c.recv(n - len(buf))
            if not d:
                raise EOFError
            buf += d
        return buf

    def _read_msg(self, c, deadline):
        (n,) = struct.unpack(">I", self._recv_exact(c, 4, deadline))
        if n > (1 << 20) + 64:
            raise ValueError("shoal sent a %d-byte message" % n)
        body = self._recv_exact(c, n, deadline) if n else b""
        return body

    def _wait_close(self, c, r, t0):
        """After the offence: read (and discard, or answer) until shoal closes."""
        deadline = t0 + self.linger
        try:
            while time.monotonic() < deadline:
                c.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    r.end = "eof"
                    break
            else:
                r.end = "timeout"
        except ConnectionResetError:
            r.end = "reset"
        except OSError as e:
            r.end = "error: %s" % e
        r.ended_after = time.monotonic() - t0

    def _bitfield_all(self):
        n = self.t.num_pieces
        b = bytearray((n + 7) // 8)
        for i in range(n):
            b[i // 8] |= 0x80 >> (i % 8)
        return bytes(b)

    # ------------------------------------------------------------ modes
    def _serve(self, c, r):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._serve_mode(c, r)
        except (ConnectionResetError, BrokenPipeError):
            r.end = r.end or "reset"
        except EOFError:
            r.end = r.end or "eof"
        except Exception as e:  # noqa: BLE001 - recorded for the test to show
            r.end = r.end or "error: %r" % e
        finally:
            if r.ended_after is None and r.offence_sent:
                r.ended_after = 0.0
            try:
                c.close()
            except OSError:
                pass

    def _serve_mode(self, c, r):
        deadline = time.monotonic() + 10
        theirs = self._recv_exact(c, 68, deadline)
        if theirs[:20] != PSTR:
            raise ValueError("shoal sent a bad handshake: %r" % theirs[:20])
        if theirs[28:48] != self.t.info_hash:
            raise ValueError("shoal sent the wrong info-hash")
        pid = b"-HO0001-" + os.urandom(12)
        fast = bool(theirs[27] & 0x04)

        if self.mode == "garbage":
            r.offence_sent = True
            c.sendall(os.urandom(68))
            return self._wait_close(c, r, time.monotonic())

        c.sendall(handshake(self.t.info_hash, pid, fast=fast))

        if self.mode == "oversized":
            r.offence_sent = True
            c.sendall(struct.pack(">I", 0xFFFFFFF0) + b"\x07" + os.urandom(1000))
            return self._wait_close(c, r, time.monotonic())

        if self.mode == "bad_request":
            c.sendall(msg(HAVE_NONE) if fast else msg(BITFIELD, bytes((self.t.num_pieces + 7) // 8)))
            c.sendall(msg(INTERESTED))
            np, pl = self.t.num_pieces, self.t.piece_length
            bad = [
                (np + 100, 0, 16384),           # piece past the end
                (0xFFFFFFFF, 0, 16384),
                (0, pl + 16384, 16384),         # offset past the piece
                (0, 0, 1 << 20),                # block far too large
            ]
            r.offence_sent = True
            for p, o, n in bad:
                c.sendall(msg(REQUEST, struct.pack(">III", p, o, n)))
            return self._wait_close(c, r, time.monotonic())

        if self.mode == "unrequested":
            c.sendall(msg(BITFIELD, self._bitfield_all()))
            # Stay choking: nobody may request from us, so these are unsolicited.
            block = os.urandom(16384)
            r.offence_sent = True
            for p in range(min(4, self.t.num_pieces)):
                c.sendall(msg(PIECE, struct.pack(">II", p, 0) + block))
            return self._wait_close(c, r, time.monotonic())

        if self.mode == "wrong_data":
            c.sendall(msg(BITFIELD, self._bitfield_all()))
            c.sendall(msg(UNCHOKE))
            r.offence_sent = True
            t0 = time.monotonic()
            deadline = t0 + self.linger + 30
            try:
                while time.monotonic() < deadline:
                    body = self._read_msg(c, deadline)
                    if body and body[0] == REQUEST and len(body) == 13:
                        p, o, n = struct.unpack(">III", body[1:])
                        r.requests += 1
                        if n <= 16384:
                            c.sendall(msg(PIECE, struct.pack(">II", p, o) + os.urandom(n)))
                            r.pieces_sent += 1
                r.end = "timeout"
            except EOFError:
                r.end = "eof"
            except socket.timeout:
                r.end = "timeout"
            except ConnectionResetError:
                r.end = "reset"
            r.ended_after = time.monotonic() - t0
            return
