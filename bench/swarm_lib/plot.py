"""plot.py — completion-time CDFs of the runs against T*, drawn by gnuplot as a PNG."""

import os
import shutil
import subprocess

from .plan import fmt_bytes

COLOURS = {"shoal": "#1f6fb4", "libtorrent": "#d9541e"}


def _cdf_file(path, times, n):
    """Steps of the CDF: the fraction of all n hosts complete at each time."""
    with open(path, "w") as f:
        f.write("0 0\n")
        for k, t in enumerate(sorted(times), 1):
            f.write("%.4f %.6f\n" % (t, k / n))


def _ratio_ticks(span):
    """(step, format) for the T* axis: about 4 to 12 ticks on round multiples."""
    for step in (0.25, 0.5, 1, 2, 5, 10, 20, 50):
        if span / step <= 12:
            return step, "%.2f" if step < 0.5 else "%.1f" if step < 1 else "%.0f"
    return 100, "%.0f"


def draw(png, params, runs, work):
    """Writes png; returns None, or why it could not."""
    if not shutil.which("gnuplot"):
        return "gnuplot not found (scripts/deps.sh installs gnuplot-nox)"
    n, tstar = params["peers"], params["t_star_s"]
    plots = []
    xmax = tstar
    for name, r in runs.items():
        times = [h["done_s"] for h in r["hosts"] if h["done_s"] is not None]
        if not times:
            continue
        xmax = max(xmax, max(times))
        dat = os.path.join(work, "cdf-%s.dat" % name)
        _cdf_file(dat, times, n)
        last = "max" if len(times) == n else "last done at"
        plots.append("'%s' using 1:2 with steps lw 2 lc rgb '%s' title '%s (%d/%d done, %s %.2f T*)'"
                     % (dat, COLOURS.get(name, "black"), name, len(times), n, last,
                        max(times) / tstar))
    if not plots:
        return "no host completed: nothing to draw"
    title = "%d hosts, F = %s, every link %s/s (origin up %s/s); T* = %.1f s" % (
        n, fmt_bytes(params["size"]), fmt_bytes(params["rate"]),
        fmt_bytes(params["origin_rate"]), tstar)
    script = "\n".join([
        "set terminal pngcairo size 1000,640 font 'sans,11'",
        "set output '%s'" % png,
        "set title '%s'" % title,
        "set xlabel 'completion time since the origin started (s)'",
        "set x2label 'multiples of T*'",
        "set ylabel 'fraction of hosts complete'",
        "set xrange [0:%g]" % (xmax * 1.08),
        "set yrange [0:1.02]",
        "set link x2 via x/%g inverse x*%g" % (tstar, tstar),
        "set x2tics %s format '%s'" % _ratio_ticks(xmax * 1.08 / tstar),
        "set xtics nomirror",
        "set grid xtics ytics",
        "set key below height 1.5",
        "set bmargin 6",
        "set arrow from %g, graph 0 to %g, graph 1 nohead lw 2 dt 2 lc rgb 'black'" % (tstar, tstar),
        "set label 'T* = %.1f s' at %g, graph 0.05 offset 0.5,0" % (tstar, tstar),
        "plot " + ", \\\n     ".join(plots),
    ])
    gp = os.path.join(work, "cdf.gp")
    with open(gp, "w") as f:
        f.write(script + "\n")
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return "gnuplot failed: " + r.stderr[-500:]
    return None
