"""cpu.py — how busy the machine was: /proc/stat snapshots and their differences."""

import os
import time


def machine_ticks():
    """(busy, total) jiffies of all CPUs since boot; idle and iowait are not busy."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


class MachineSampler:
    """Machine-wide busy share over a window, and its worst one-second slice."""

    def __init__(self):
        self.start = machine_ticks()
        self.last = self.start
        self.last_t = time.monotonic()
        self.peak = 0.0
        self.series = []  # (seconds since start, busy share of that slice)
        self.t0 = self.last_t

    def tick(self):
        """Call often; takes a slice once a second."""
        now = time.monotonic()
        if now - self.last_t < 1.0:
            return
        cur = machine_ticks()
        d_busy, d_total = cur[0] - self.last[0], cur[1] - self.last[1]
        if d_total > 0:
            share = d_busy / d_total
            self.peak = max(self.peak, share)
            self.series.append((round(now - self.t0, 2), round(share, 3)))
        self.last, self.last_t = cur, now

    def share(self):
        cur = machine_ticks()
        d_busy, d_total = cur[0] - self.start[0], cur[1] - self.start[1]
        return d_busy / d_total if d_total > 0 else 0.0


def ncpu():
    return os.cpu_count() or 1


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]
