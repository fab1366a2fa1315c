"""An interrupted `shoal get` resumes: a rerun verifies what the .part
holds and fetches only the rest — after SIGKILL (no chance to clean up) and
after SIGTERM (graceful stop)."""

import os
import signal
import time

from peers import (  # noqa: F401  (shoals is a fixture)
    assert_same_data,
    shoals,
    shoal_create,
    scaled,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

SIZE = 32 * 1024 * 1024
LIMIT = 4 * 1024 * 1024  # bytes/s for the first run: about 8 s for all of it


def prepare(tmp_path, shoals):
    data = write_random(str(tmp_path / "big.bin"), SIZE)
    torrent = shoal_create(data, str(tmp_path / "big.torrent"), piece_size=256 * 1024)
    seed = start_seed(shoals, str(tmp_path), torrent, data)
    return data, torrent, seed


def wait_half(g, part, timeout=30):
    """Waits until about half the data is on disk. The .part is sparse, so its
    allocated blocks are the verified pieces written so far."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        assert g.poll() is None, "finished or died before half: " + g.describe()
        try:
            if os.stat(part).st_blocks * 512 >= SIZE // 2:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError("not half done after %.0f s: %s" % (scaled(timeout), g.describe()))


def rerun(tmp_path, shoals, torrent, seed, out, name):
    g2 = start_get(shoals, str(tmp_path), torrent, str(out), peers=[seed.addr],
                   extra=["--json", "--timeout", "30"], name=name)
    assert wait_all([g2], 60) == [0], g2.describe()
    return g2.json()


def test_resume_after_sigkill(tmp_path, shoals):
    data, torrent, seed = prepare(tmp_path, shoals)
    out = tmp_path / "out"
    g = start_get(shoals, str(tmp_path), torrent, str(out), peers=[seed.addr],
                  extra=["--download-limit", str(LIMIT), "--timeout", "30"], name="first")
    wait_half(g, str(out / "big.bin.part"))
    g.kill()
    assert (out / "big.bin.part").exists()
    assert not (out / "big.bin").exists()
    j = rerun(tmp_path, shoals, torrent, seed, out, "second")
    assert j["status"] == "complete"
    assert j["down_bytes"] < 0.75 * SIZE, "rerun fetched %d of %d bytes" % (j["down_bytes"], SIZE)
    assert j["down_bytes"] > 0.1 * SIZE  # the first run really was cut short
    assert_same_data(data, str(out / "big.bin"))
    assert not (out / "big.bin.part").exists()


def test_resume_after_sigterm(tmp_path, shoals):
    data, torrent, seed = prepare(tmp_path, shoals)
    out = tmp_path / "out"
    g = start_get(shoals, str(tmp_path), torrent, str(out), peers=[seed.addr],
                  extra=["--download-limit", str(LIMIT), "--timeout", "30"], name="first")
    wait_half(g, str(out / "big.bin.part"))
    g.signal(signal.SIGTERM)
    assert g.wait(15) == 1, g.describe()
    assert "resume" in g.stderr().lower(), g.stderr()
    assert (out / "big.bin.part").exists()
    j = rerun(tmp_path, shoals, torrent, seed, out, "second")
    assert j["down_bytes"] < 0.75 * SIZE, "rerun fetched %d of %d bytes" % (j["down_bytes"], SIZE)
    assert_same_data(data, str(out / "big.bin"))


def test_complete_output_is_not_fetched_again(tmp_path, shoals):
    data, torrent, seed = prepare(tmp_path, shoals)
    out = tmp_path / "out"
    j = rerun(tmp_path, shoals, torrent, seed, out, "first")
    assert j["down_bytes"] >= SIZE
    j = rerun(tmp_path, shoals, torrent, seed, out, "again")
    assert j["status"] == "complete" and j["down_bytes"] == 0
    assert_same_data(data, str(out / "big.bin"))
