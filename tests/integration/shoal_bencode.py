"""A tiny, independent bencode codec for tests (not shoal's, not libtorrent's).

Tests use it to compute info-hashes over the exact bytes of the info
dictionary and to build hostile torrents byte by byte. Keys are encoded in
sorted order; bytes, str, int, list and dict are supported. Decoding is
lenient on purpose (tests must be able to read the broken files they make)
and keeps, for every dict, where each value's encoding starts and ends.
"""

import hashlib


def encode(v):
    out = []
    _enc(v, out)
    return b"".join(out)


def _enc(v, out):
    if isinstance(v, bool):
        raise TypeError("bool is not bencodable")
    if isinstance(v, int):
        out.append(b"i%de" % v)
    elif isinstance(v, str):
        _enc(v.encode(), out)
    elif isinstance(v, (bytes, bytearray)):
        out.append(b"%d:" % len(v))
        out.append(bytes(v))
    elif isinstance(v, (list, tuple)):
        out.append(b"l")
        for x in v:
            _enc(x, out)
        out.append(b"e")
    elif isinstance(v, dict):
        out.append(b"d")
        items = [(k.encode() if isinstance(k, str) else k, x) for k, x in v.items()]
        for k, x in sorted(items):
            _enc(k, out)
            _enc(x, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(v)}")


def decode(data):
    """Decodes one value (keys become bytes). Raises ValueError on junk."""
    v, end = _dec(data, 0)
    if end != len(data):
        raise ValueError("trailing data")
    return v


def _dec(d, i):
    c = d[i : i + 1]
    if c == b"i":
        e = d.index(b"e", i)
        return int(d[i + 1 : e]), e + 1
    if c == b"l":
        i += 1
        out = []
        while d[i : i + 1] != b"e":
            v, i = _dec(d, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while d[i : i + 1] != b"e":
            k, i = _dec(d, i)
            v, i = _dec(d, i)
            out[k] = v
        return out, i + 1
    if c.isdigit():
        colon = d.index(b":", i)
        n = int(d[i:colon])
        start = colon + 1
        if start + n > len(d):
            raise ValueError("string past end")
        return d[start : start + n], start + n
    raise ValueError(f"bad bencode at {i}")


def value_span(data, key):
    """(start, end) of the encoding of top-level dict key `key` in data."""
    if data[:1] != b"d":
        raise ValueError("not a dict")
    key = key.encode() if isinstance(key, str) else key
    i = 1
    while data[i : i + 1] != b"e":
        k, i = _dec(data, i)
        start = i
        _, i = _dec(data, i)
        if k == key:
            return start, i
    raise KeyError(key)


def info_bytes(torrent):
    """The exact bytes of the info dictionary, as the info-hash covers them."""
    s, e = value_span(torrent, "info")
    return torrent[s:e]


def info_hash_v1(torrent):
    return hashlib.sha1(info_bytes(torrent)).hexdigest()


def info_hash_v2(torrent):
    return hashlib.sha256(info_bytes(torrent)).hexdigest()
