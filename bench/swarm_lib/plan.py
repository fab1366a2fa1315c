"""plan.py — what one benchmark invocation runs: sizes, rates, addresses, T*.

Pure functions and one small record; no processes, no files.
"""

import math
import random
import socket

PEER_PORT = 6881      # every peer listens on this port, each on its own address
TRACKER_PORT = 6969
SLOTS_PER_RUN = 16 * 250  # hosts one run can address (127.b.r*16+k.2-251)

_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_bytes(text):
    """'32M' -> 33554432 (binary suffixes K, M, G; a bare number is bytes)."""
    t = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in "KMG" else ""
    num = t[: len(t) - len(unit)]
    try:
        value = float(num)
    except ValueError:
        raise ValueError("not a size: %r (use e.g. 512K, 32M, 1G)" % text) from None
    out = int(value * _SUFFIX[unit])
    if out <= 0:
        raise ValueError("must be positive: %r" % text)
    return out


def fmt_bytes(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%.4g %s" % (n / div, unit)
    return "%d B" % n


def t_star(n, size, rate, origin_rate):
    """Kumar-Ross lower bound with every host's up = down = rate."""
    return max(size / origin_rate, size / rate, n * size / (origin_rate + n * rate))


class Addresses:
    """Loopback addresses of one run: slot 0 the tracker, 1 the origin, 2.. the getters.

    Runs of one invocation use disjoint /20s of 127.<base>.0.0/16, so the
    libtorrent run never meets sockets the shoal run left in TIME_WAIT.
    """

    def __init__(self, base, run_index):
        self.base = base
        self.run_index = run_index

    def slot(self, k):
        if not 0 <= k < SLOTS_PER_RUN:
            raise ValueError("host slot %d out of range" % k)
        return "127.%d.%d.%d" % (self.base, self.run_index * 16 + k // 250, k % 250 + 2)

    @property
    def tracker(self):
        return self.slot(0)

    @property
    def origin(self):
        return self.slot(1)

    def getter(self, i):
        return self.slot(2 + i)

    def tracker_url(self):
        return "http://%s:%d/announce" % (self.tracker, TRACKER_PORT)


def _bindable(ip, port):
    s = socket.socket()
    try:
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_base(fixed=None, runs=2):
    """A second octet whose tracker/origin addresses are free in every run."""
    candidates = [fixed] if fixed is not None else random.sample(range(100, 250), 40)
    for b in candidates:
        ok = all(_bindable(Addresses(b, r).tracker, TRACKER_PORT) and
                 _bindable(Addresses(b, r).origin, PEER_PORT) for r in range(runs))
        if ok:
            return b
    raise RuntimeError("no free loopback /16 found for the benchmark")


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]
