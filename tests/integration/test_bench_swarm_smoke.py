"""bench/swarm in small (N = 10, 1 MiB, no libtorrent), so its orchestration cannot rot.

The benchmark is not a test of shoal's speed; this checks that it starts a
tracker, an origin and 10 `shoal get` through the tracker, caps them, times
them from T0, writes its JSON and PNG, and leaves no process and no data
behind, also when interrupted. And that it refuses bad arguments.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import scaled

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench" / "swarm"
PY = "/usr/bin/python3"

N = 10
SIZE = 1 << 20
RATE = 512 << 10  # T* = F / B = 2 s


def run_bench(shoal_bin, *args, timeout=120):
    return subprocess.run([PY, str(BENCH), "--shoal", shoal_bin] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=scaled(timeout))


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not running; only our (exited) children could be one
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_small_swarm(shoal_bin, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir()
    r = run_bench(shoal_bin, "--peers", N, "--size", "1M", "--rate", "512K", "--no-libtorrent",
                  "--interval", 5, "--out", out, "--work-dir", work)
    assert r.returncode == 0, "bench/swarm failed (%d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr)

    res = json.loads((out / ("swarm-%d.json" % N)).read_text())
    p = res["params"]
    assert (p["peers"], p["size"], p["rate"], p["origin_rate"]) == (N, SIZE, RATE, RATE)
    assert p["t_star_s"] == 2.0
    assert list(res["runs"]) == ["shoal"]
    run = res["runs"]["shoal"]
    s = run["summary"]
    assert s["complete"] == N and not run["failures"]
    assert len(run["hosts"]) == N and len({h["host"] for h in run["hosts"]}) == N
    for h in run["hosts"]:
        # capped at B down, nobody can beat F/B (minus the limiter's burst)
        assert 0.5 * p["t_star_s"] < h["done_s"] < 60, h
        # two clocks (the file's rename, the getter's own JSON) agree
        assert abs(h["done_s"] - h["done_json_s"]) < 0.5, h
        assert h["down_bytes"] >= SIZE and h["rc"] == 0, h
    times = sorted(h["done_s"] for h in run["hosts"])
    assert s["max_s"] == times[-1] and s["p50_s"] == times[N // 2 - 1]
    assert s["origin_up_over_F"] >= 1.0  # every piece leaves the origin at least once
    assert run["origin"]["up_bytes"] == int(s["origin_up_over_F"] * SIZE + 0.5)
    assert s["cpu_total_s"] > 0 and 0 < s["cpu_share"] < 1
    assert s["processes"] == N + 1 and s["rss_max_kib"] > 0 and s["rss_anon_median_kib"] > 0

    # what it printed is what it measured
    assert "= max(2.00, 2.00, 1.82) = 2.00 s" in r.stdout
    assert "%d/%d" % (N, N) in r.stdout and "max (÷T*)" in r.stdout

    png = out / ("swarm-%d.png" % N)
    if any(os.access(os.path.join(d, "gnuplot"), os.X_OK) for d in os.environ["PATH"].split(":")):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # nothing left running, no data left behind
    pids = [h["pid"] for h in run["hosts"]] + [run["origin"]["pid"], run["tracker"]["pid"]]
    assert not [pid for pid in pids if alive(pid)]
    assert list(work.iterdir()) == []


def running_with(text):
    """Pids of processes whose command line mentions text."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if text.encode() in f.read() and alive(int(d)):
                    out.append(int(d))
        except OSError:
            pass
    return out


def test_ctrl_c_ends_everything(shoal_bin, tmp_path):
    """SIGINT while the getters wait for the origin: every child ends, the data goes."""
    work = tmp_path / "work"
    work.mkdir()
    p = subprocess.Popen([PY, str(BENCH), "--shoal", shoal_bin, "--peers", str(N), "--size", "1M",
                          "--rate", "64K", "--no-libtorrent", "--out", str(tmp_path / "out"),
                          "--work-dir", str(work)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + scaled(60)
        while not running_with(str(work)) or len(running_with(str(work))) < N:
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()
            time.sleep(0.1)
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=scaled(30))
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, (out, err)
    assert "interrupted" in err
    assert running_with(str(work)) == []
    assert list(work.iterdir()) == []
    assert not (tmp_path / "out").exists()  # nothing measured, nothing written


def test_bad_arguments(shoal_bin, tmp_path):
    for args in (["--size", "0"], ["--rate", "fast"], ["--peers", "0"], ["--peers", "5000"]):
        r = run_bench(shoal_bin, "--no-libtorrent", "--out", tmp_path, *args, timeout=30)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "error:" in r.stderr, (args, r.stderr)
    r = subprocess.run([PY, str(BENCH), "--shoal", str(tmp_path / "none"), "--no-libtorrent"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "no shoal binary" in r.stderr
    assert list(tmp_path.iterdir()) == []  # refused before writing anything


if __name__ == "__main__":
    sys.exit("run with pytest")
