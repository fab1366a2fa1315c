"""An interrupted `shoal get` resumes: a rerun verifies what the .part
holds and fetches only the rest — after SIGKILL (no chance to clean up) and
after SIGTERM (graceful stop)."""

import os
import re
import signal
import time

from peers import (  # noqa: F401  (procs is a fixture)
    assert_same_data,
    procs,
    shoal_create,
    slow_factor,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

SIZE = 32 * 1024 * 1024
LIMIT = 4 * 1024 * 1024  # bytes/s for the first run: about 8 s for all of it


def setup(tmp_path, procs):
    data = write_random(str(tmp_path / "big.bin"), SIZE)
    torrent = shoal_create(data, str(tmp_path / "big.torrent"), piece_size=256 * 1024)
    seed = start_seed(procs, str(tmp_path), torrent, data)
    return data, torrent, seed


def wait_half(g, timeout=30):
    """Waits until the limited download is about half done: from its stderr
    progress lines when they show a percentage, else by the clock."""
    t0 = time.monotonic()
    deadline = t0 + timeout * slow_factor()
    half_time = 0.5 * SIZE / LIMIT
    while time.monotonic() < deadline:
        pcts = [float(m) for m in re.findall(r"(\d+(?:\.\d+)?)%", g.stderr())]
        if pcts and pcts[-1] >= 45:
            return
        if time.monotonic() - t0 >= half_time * slow_factor():
            return
        assert g.poll() is None, "finished or died before half: " + g.describe()
        time.sleep(0.1)


def rerun(tmp_path, procs, torrent, seed, out, name):
    g2 = start_get(procs, str(tmp_path), torrent, str(out), peers=[seed.addr],
                   extra=["--json", "--timeout", "30"], name=name)
    assert wait_all([g2], 60) == [0], g2.describe()
    return g2.json()


def test_resume_after_sigkill(tmp_path, procs):
    data, torrent, seed = setup(tmp_path, procs)
    out = tmp_path / "out"
    g = start_get(procs, str(tmp_path), torrent, str(out), peers=[seed.addr],
                  extra=["--download-limit", str(LIMIT), "--timeout", "30"], name="first")
    wait_half(g)
    g.kill()
    assert (out / "big.bin.part").exists()
    assert not (out / "big.bin").exists()
    j = rerun(tmp_path, procs, torrent, seed, out, "second")
    assert j["status"] == "complete"
    assert j["down_bytes"] < 0.75 * SIZE, "rerun fetched %d of %d bytes" % (j["down_bytes"], SIZE)
    assert j["down_bytes"] > 0.1 * SIZE  # the first run really was cut short
    assert_same_data(data, str(out / "big.bin"))
    assert not (out / "big.bin.part").exists()


def test_resume_after_sigterm(tmp_path, procs):
    data, torrent, seed = setup(tmp_path, procs)
    out = tmp_path / "out"
    g = start_get(procs, str(tmp_path), torrent, str(out), peers=[seed.addr],
                  extra=["--download-limit", str(LIMIT), "--timeout", "30"], name="first")
    wait_half(g)
    g.signal(signal.SIGTERM)
    assert g.wait(15) == 1, g.describe()
    assert "resume" in g.stderr().lower(), g.stderr()
    assert (out / "big.bin.part").exists()
    j = rerun(tmp_path, procs, torrent, seed, out, "second")
    assert j["down_bytes"] < 0.75 * SIZE, "rerun fetched %d of %d bytes" % (j["down_bytes"], SIZE)
    assert_same_data(data, str(out / "big.bin"))


def test_complete_output_is_not_fetched_again(tmp_path, procs):
    data, torrent, seed = setup(tmp_path, procs)
    out = tmp_path / "out"
    j = rerun(tmp_path, procs, torrent, seed, out, "first")
    assert j["down_bytes"] >= SIZE
    j = rerun(tmp_path, procs, torrent, seed, out, "again")
    assert j["status"] == "complete" and j["down_bytes"] == 0
    assert_same_data(data, str(out / "big.bin"))
