"""report.py — the printed comparison of the runs of one invocation."""

from . import cpu
from .plan import fmt_bytes

CPU_WARN = 0.70      # our processes' share of all cores during the run
MACHINE_WARN = 0.90  # everything's share, other work on the machine included


def _secs(v, tstar):
    if v is None:
        return "-"
    return "%.2f s (%.2f)" % (v, v / tstar)


def _num(v, fmt):
    return "-" if v is None else fmt % v


def _pct(v):
    return "-" if v is None else "%.0f%%" % (100 * v)


def _mib(kib):
    return "-" if kib is None else "%.1f MiB" % (kib / 1024)


def header(params):
    p = params
    lines = [
        "N = %d downloaders, F = %s, B = %s/s up and down per host, origin %s/s up" % (
            p["peers"], fmt_bytes(p["size"]), fmt_bytes(p["rate"]), fmt_bytes(p["origin_rate"])),
        "T* = max(F/u_origin, F/d, N·F/(u_origin + N·u)) = max(%.2f, %.2f, %.2f) = %.2f s" % tuple(
            p["t_star_terms"] + [p["t_star_s"]]),
        "torrent: %s, %s pieces of %s; tracker interval %d s, policy %s" % (
            p["torrent_version"], p["pieces"],
            fmt_bytes(p["piece_length"]) if p["piece_length"] else "?", p["tracker_interval_s"],
            p.get("tracker_policy", "fleet")),
        "start: tracker, then the N downloaders (announced, nothing to fetch), "
        "then T0 = origin released; times from T0",
    ]
    return "\n".join(lines)


ROWS = [
    ("complete", lambda s, n, t: "%d/%d" % (s["complete"], n)),
    ("p50 (÷T*)", lambda s, n, t: _secs(s["p50_s"], t)),
    ("p90 (÷T*)", lambda s, n, t: _secs(s["p90_s"], t)),
    ("p99 (÷T*)", lambda s, n, t: _secs(s["p99_s"], t)),
    ("max (÷T*)", lambda s, n, t: _secs(s["max_s"], t)),
    ("origin upload ÷ F", lambda s, n, t: _num(s["origin_up_over_F"], "%.2f")),
    ("CPU s, all processes", lambda s, n, t: _num(s["cpu_total_s"], "%.1f")),
    ("CPU s, during the run", lambda s, n, t: _num(s["cpu_window_s"], "%.1f")),
    ("CPU share (of %d cores)" % cpu.ncpu(), lambda s, n, t: _pct(s["cpu_share"])),
    ("bench's own CPU s, run", lambda s, n, t: _num(s["harness_cpu_window_s"], "%.1f")),
    ("machine busy (all load)", lambda s, n, t: "%s, peak 1 s %s" % (
        _pct(s["machine_busy_share"]), _pct(s["machine_busy_peak_1s"]))),
    ("processes", lambda s, n, t: "%d" % s["processes"]),
    ("peak RSS max", lambda s, n, t: _mib(s["rss_max_kib"])),
    ("peak RSS median", lambda s, n, t: _mib(s["rss_median_kib"])),
    ("private RSS max/median", lambda s, n, t: "%s / %s" % (
        _mib(s["rss_anon_max_kib"]), _mib(s["rss_anon_median_kib"]))),
    ("private RSS, all", lambda s, n, t: _mib(s["rss_anon_total_kib"])),
    ("start-up before T0", lambda s, n, t: "%.1f s" % s["startup_s"]),
]


def table(params, runs):
    n, tstar = params["peers"], params["t_star_s"]
    names = list(runs)
    width = 26
    out = ["%-24s" % "" + "".join("%-*s" % (width, name) for name in names)]
    for label, cell in ROWS:
        out.append("%-24s" % label + "".join("%-*s" % (width, cell(runs[name]["summary"], n, tstar))
                                             for name in names))
    if "shoal" in runs and "libtorrent" in runs:
        a = runs["shoal"]["summary"]["max_s"]
        b = runs["libtorrent"]["summary"]["max_s"]
        ratio = "%.2f" % (a / b) if a and b else "- (a run did not complete)"
        out.append("shoal.max / libtorrent.max = %s" % ratio)
    return "\n".join(out)


def warnings(runs):
    out = []
    for name, r in runs.items():
        s = r["summary"]
        if s["cpu_share"] is not None and s["cpu_share"] > CPU_WARN:
            out.append("WARNING: %s used %.0f%% of the CPU during its run: it may be CPU-bound, "
                       "not bandwidth-bound; lower --rate or --peers" % (name, 100 * s["cpu_share"]))
        if s["machine_busy_share"] > MACHINE_WARN:
            out.append("WARNING: the machine was %.0f%% busy during the %s run (other load "
                       "included): times may be inflated" % (100 * s["machine_busy_share"], name))
        if s["complete"] < r["n"]:
            out.append("WARNING: %s: %d of %d downloaders did not complete" % (
                name, r["n"] - s["complete"], r["n"]))
        if r["failures"]:
            out.append("WARNING: %s: %s" % (name, ", ".join(r["failures"][:10])))
    return out
