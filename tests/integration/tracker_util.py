"""Hand-made tracker clients for the `shoal tracker` tests.

Nothing here uses shoal's code: HTTP announces are built byte by byte (the
info_hash goes on the wire percent-encoded, %00 and all) and sent with
http.client from a chosen source address; BEP 15 packets are packed with
struct. Answers are decoded with the independent shoal_bencode module.
"""

import http.client
import os
import random
import re
import socket
import struct
import time
import urllib.parse

import shoal_bencode

from conftest import scaled, wait_until

PROTOCOL_ID = 0x41727101980


def qbytes(b):
    """Percent-encodes every byte that is not unreserved (so 0x00 → %00)."""
    return urllib.parse.quote_from_bytes(b, safe="")


def info_hash_with_nul(n):
    """A 20-byte hash with NUL bytes in it, distinct per n."""
    return bytes([0, 0, n & 255, 0]) + os.urandom(15) + b"\x00"


def peer_id(n):
    return b"-XX0001-" + b"%012d" % n


class Tracker:
    """A running `shoal tracker` process and its addresses."""

    def __init__(self, proc, host, http_port, udp_port, banner):
        self.proc = proc
        self.host = host
        self.http_port = http_port
        self.udp_port = udp_port
        self.banner = banner

    @property
    def announce_url(self):
        return f"http://{self.host}:{self.http_port}/announce"

    @property
    def udp_url(self):
        return f"udp://{self.host}:{self.udp_port}/announce"


def start_tracker(procs, shoal_bin, host, free_port, *extra, udp=False, listen=None, name="tracker"):
    """Starts `shoal tracker` on host (HTTP, and UDP on the same port number if asked)."""
    port = free_port(host, "both" if udp else "tcp")
    args = [shoal_bin, "tracker", "-l", f"{host}:{port}"]
    for a in listen or ():
        args += ["-l", a]
    if udp:
        args += ["--udp", f"{host}:{port}"]
    args += list(extra)
    p = procs.start(args, name=name)
    want = 1 + len(listen or ()) + (1 if udp else 0)

    def ready():
        if not p.alive():
            raise AssertionError(f"tracker exited early (rc {p.popen.returncode}):\n{p.log()}")
        lines = [l for l in p.log().splitlines() if l.startswith("tracker listening on ")]
        return lines if len(lines) >= want else None

    lines = wait_until(ready, 10, what="the tracker banner")
    return Tracker(p, host, port, port if udp else None, lines)


# ---------------------------------------------------------------- HTTP


def http_get(host, port, target, source=None, timeout=5, headers=None):
    """GET target (a raw path and query, sent as is); returns (status, headers, body)."""
    c = http.client.HTTPConnection(host, port, timeout=scaled(timeout),
                                   source_address=(source, 0) if source else None)
    try:
        c.putrequest("GET", target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        body = r.read()
        return r.status, dict(r.getheaders()), body
    finally:
        c.close()


def announce_query(info_hash, pid, port, left=1000, event=None, compact=1, numwant=None,
                   extra=""):
    q = (f"info_hash={qbytes(info_hash)}&peer_id={qbytes(pid)}&port={port}"
         f"&uploaded=0&downloaded=0&left={left}&compact={compact}")
    if event:
        q += f"&event={event}"
    if numwant is not None:
        q += f"&numwant={numwant}"
    return q + extra


def http_announce(tr, info_hash, pid, port, source, host=None, http_port=None, **kw):
    """An announce from source; returns the decoded answer (a dict with bytes keys)."""
    q = announce_query(info_hash, pid, port, **kw)
    status, _, body = http_get(host or tr.host, http_port or tr.http_port, "/announce?" + q,
                               source=source)
    assert status == 200, (status, body)
    return shoal_bencode.decode(body)


def http_scrape(tr, hashes, source=None):
    q = "&".join("info_hash=" + qbytes(h) for h in hashes)
    status, _, body = http_get(tr.host, tr.http_port, "/scrape?" + q, source=source)
    assert status == 200, (status, body)
    return shoal_bencode.decode(body)


def compact4(blob):
    assert len(blob) % 6 == 0, len(blob)
    return [(socket.inet_ntop(socket.AF_INET, blob[i:i + 4]),
             struct.unpack("!H", blob[i + 4:i + 6])[0]) for i in range(0, len(blob), 6)]


def compact6(blob):
    assert len(blob) % 18 == 0, len(blob)
    return [(socket.inet_ntop(socket.AF_INET6, blob[i:i + 16]),
             struct.unpack("!H", blob[i + 16:i + 18])[0]) for i in range(0, len(blob), 18)]


def peers_of(answer):
    """The (ip, port) list of a compact or dictionary answer, v4 and v6 together."""
    p = answer.get(b"peers", b"")
    out = compact4(p) if isinstance(p, bytes) else [(d[b"ip"].decode(), d[b"port"]) for d in p]
    return out + compact6(answer.get(b"peers6", b""))


def metric(text, name, labels=None):
    """The value of one sample in a Prometheus text exposition."""
    lab = "" if not labels else "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    m = re.search(r"^" + re.escape(name + lab) + r" (\S+)$", text, re.M)
    assert m, f"no sample {name}{lab} in:\n{text}"
    return float(m.group(1))


# ---------------------------------------------------------------- UDP (BEP 15)


class UdpClient:
    def __init__(self, tr, source, timeout=2):
        self.addr = (tr.host, tr.udp_port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((source, 0))
        self.s.settimeout(scaled(timeout))
        self.conn_id = None

    def close(self):
        self.s.close()

    def send(self, pkt):
        self.s.sendto(pkt, self.addr)

    def recv(self):
        """The next datagram, or None on timeout."""
        try:
            data, _ = self.s.recvfrom(65536)
            return data
        except socket.timeout:
            return None

    def request(self, pkt):
        self.send(pkt)
        return self.recv()

    def connect(self):
        tx = random.getrandbits(32)
        r = self.request(struct.pack("!QII", PROTOCOL_ID, 0, tx))
        assert r is not None and len(r) == 16, r
        action, rtx, cid = struct.unpack("!IIQ", r)
        assert (action, rtx) == (0, tx)
        self.conn_id = cid
        return cid

    def announce_packet(self, info_hash, pid, port, left=1000, event=0, numwant=-1, conn_id=None,
                        tx=None, key=0):
        tx = random.getrandbits(32) if tx is None else tx
        cid = self.conn_id if conn_id is None else conn_id
        return tx, struct.pack("!QII20s20sQQQIIIiH", cid, 1, tx, info_hash, pid, 0, left, 0,
                               event, 0, key, numwant, port)

    def announce(self, info_hash, pid, port, **kw):
        """Returns (interval, leechers, seeders, [(ip, port)]) or raises on an error answer."""
        tx, pkt = self.announce_packet(info_hash, pid, port, **kw)
        r = self.request(pkt)
        assert r is not None, "no answer to announce"
        action, rtx = struct.unpack("!II", r[:8])
        assert rtx == tx
        if action == 3:
            raise UdpError(r[8:].decode("utf-8", "replace"))
        assert action == 1, action
        interval, leechers, seeders = struct.unpack("!III", r[8:20])
        return interval, leechers, seeders, compact4(r[20:])

    def scrape(self, hashes):
        tx = random.getrandbits(32)
        r = self.request(struct.pack("!QII", self.conn_id, 2, tx) + b"".join(hashes))
        assert r is not None, "no answer to scrape"
        action, rtx = struct.unpack("!II", r[:8])
        assert (action, rtx) == (2, tx), (action, r)
        body = r[8:]
        assert len(body) == 12 * len(hashes), len(body)
        return [struct.unpack("!III", body[i:i + 12]) for i in range(0, len(body), 12)]


class UdpError(Exception):
    pass


def stats(tr):
    import json

    status, _, body = http_get(tr.host, tr.http_port, "/stats.json")
    assert status == 200
    return json.loads(body)


def torrent_entry(st, info_hash):
    for t in st["torrents"]:
        if t["info_hash"] == info_hash.hex():
            return t
    return None


def sleep_scaled(s):
    time.sleep(scaled(s))
