"""Transmission downloads through `shoal tracker` from a libtorrent seeder.

Transmission 3.00 does not dial the loopback peers a tracker hands it, but
it accepts incoming connections (INTEROP.md). So the libtorrent seeder
re-announces often, learns Transmission's address from the tracker, and
dials it. transmission-cli never exits by itself: the test watches the
output file and stops it by pid. Hosts 80..89 of 127.0.0.0/8 are this file's.
"""

import json
import shutil
import time

import pytest

lt = pytest.importorskip("libtorrent")

from conftest import free_port, loopback_ip, scaled  # noqa: E402
from tracker_util import start_tracker, stats, torrent_entry  # noqa: E402

HOST = loopback_ip(80)
SEED = loopback_ip(81)

pytestmark = pytest.mark.skipif(shutil.which("transmission-cli") is None,
                                reason="transmission-cli is not installed")


def test_transmission_downloads_via_shoal_tracker(procs, shoal_bin, tmp_dir, make_random_file,
                                                  lt_make_torrent, lt_session):
    tr = start_tracker(procs, shoal_bin, HOST, free_port, "--interval", "1")
    data = tmp_dir / "seed" / "image.bin"
    make_random_file(data, 2 << 20, seed="tracker-transmission")
    raw = lt_make_torrent(data, version="v1", piece=32768, trackers=[tr.announce_url])
    tfile = tmp_dir / "image.torrent"
    tfile.write_bytes(raw)
    ti = lt.torrent_info(lt.bdecode(raw))
    ih = bytes.fromhex(str(ti.info_hashes().v1))

    seeder = lt_session(SEED, min_announce_interval=1, tracker_completion_timeout=5)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(data.parent)
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    atp.flags |= lt.torrent_flags.seed_mode
    sh = seeder.add_torrent(atp)

    # Transmission listens on every address (it announces from 127.0.0.1),
    # on its own port, with its own config and download directories.
    conf, down = tmp_dir / "tr-conf", tmp_dir / "tr-down"
    conf.mkdir()
    down.mkdir()
    port = free_port("0.0.0.0")
    (conf / "settings.json").write_text(json.dumps({
        "dht-enabled": False, "lpd-enabled": False, "utp-enabled": False,
        "pex-enabled": False, "port-forwarding-enabled": False,
        "peer-port": port, "peer-port-random-on-start": False,
        "download-dir": str(down), "incomplete-dir-enabled": False,
        "rename-partial-files": False, "encryption": 1,
    }))
    tp = procs.start(["transmission-cli", "-g", conf, "-w", down, "-p", port, "-M", "-ep",
                      tfile], name="transmission-cli")

    out = down / "image.bin"
    want = data.read_bytes()
    deadline = time.monotonic() + scaled(50)
    next_kick = 0.0
    while True:
        if out.exists() and out.stat().st_size == len(want) and out.read_bytes() == want:
            break
        if not tp.alive():
            pytest.fail(f"transmission-cli exited (rc {tp.popen.returncode}):\n{tp.log()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no complete download: stats {stats(tr)}\n"
                        f"transmission:\n{tp.log()[-2000:]}")
        if time.monotonic() >= next_kick:
            # Ask the tracker for Transmission's address again.
            sh.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
            next_kick = time.monotonic() + 1
        time.sleep(0.2)
    # The tracker saw both: the seeder and Transmission (which announced).
    e = torrent_entry(stats(tr), ih)
    assert e is not None and e["seeders"] >= 1 and e["seeders"] + e["leechers"] == 2, e
    assert stats(tr)["announces"]["http"] >= 2
    procs.stop(tp)
