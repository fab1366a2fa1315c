"""shoal-sim: the simulator runs the real core in virtual time, reproducibly.

The binary is $SHOAL_SIM_BIN, else shoal-sim next to $SHOAL_BIN, else in
$SHOAL_BUILD_DIR, else <repo>/build. Scenarios are small (tens of hosts, tens
of MiB) so the suite stays fast, also under the sanitizers.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, _sanitizer_env, check_sanitizer, scaled

SMALL = ["--hosts", "20", "--size", "32M", "--rate", "100M"]
JSON_KEYS = {"t_star_s", "p50_s", "p90_s", "p99_s", "max_s", "origin_upload_bytes", "one_by_one_s",
             "hosts", "size", "events", "wall_s", "trace_digest"}


def _find_sim():
    if os.environ.get("SHOAL_SIM_BIN"):
        return Path(os.environ["SHOAL_SIM_BIN"])
    if os.environ.get("SHOAL_BIN"):
        return Path(os.environ["SHOAL_BIN"]).parent / "shoal-sim"
    if os.environ.get("SHOAL_BUILD_DIR"):
        return Path(os.environ["SHOAL_BUILD_DIR"]) / "shoal-sim"
    return REPO / "build" / "shoal-sim"


@pytest.fixture(scope="module")
def sim_bin():
    path = _find_sim()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"shoal-sim not found at {path}: build it or set SHOAL_SIM_BIN", pytrace=False)
    return str(path.resolve())


@pytest.fixture
def sim(sim_bin):
    def run(*args, timeout=60):
        argv = [sim_bin, "--quiet"] + [str(a) for a in args]
        try:
            cp = subprocess.run(argv, env=_sanitizer_env(None), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            pytest.fail(f"timed out: {' '.join(argv)}", pytrace=False)
        err = cp.stderr.decode("utf-8", "replace")
        check_sanitizer(err, " ".join(argv))
        return cp.returncode, cp.stdout.decode("utf-8", "replace"), err

    return run


def run_json(sim, *args):
    rc, out, err = sim(*args, "--json")
    assert rc == 0, err
    return json.loads(out)


def test_same_seed_same_run_other_seed_other_run(sim):
    a = run_json(sim, *SMALL, "--seed", "7")
    b = run_json(sim, *SMALL, "--seed", "7")
    c = run_json(sim, *SMALL, "--seed", "8")
    assert re.fullmatch(r"[0-9a-f]{16}", a["trace_digest"])
    assert a["trace_digest"] == b["trace_digest"]
    for k in ("p50_s", "p90_s", "p99_s", "max_s", "events", "origin_upload_bytes"):
        assert a[k] == b[k], k
    assert c["trace_digest"] != a["trace_digest"]


def test_determinism_survives_loss_jitter_and_crashes(sim):
    args = SMALL + ["--loss", "0.02", "--jitter", "0.3", "--crash", "3@0.05", "--seed", "3"]
    a = run_json(sim, *args)
    b = run_json(sim, *args)
    assert a["trace_digest"] == b["trace_digest"]
    assert a["max_s"] == b["max_s"]
    assert a["crashed"] == 3
    assert a["completed"] == 17 and a["incomplete"] == 0


def test_small_scenario_text(sim):
    rc, out, err = sim(*SMALL)
    assert rc == 0, err
    t_star = float(re.search(r"T\* = ([0-9.]+) s", out).group(1))
    assert t_star == pytest.approx(32 / 100)  # F / u: 32 MiB at 100 MiB/s
    one = float(re.search(r"one by one \(N x F / u_origin\) = ([0-9.]+) s", out).group(1))
    assert one == pytest.approx(20 * 32 / 100)
    for name in ("p50", "p90", "p99", "max"):
        m = re.search(rf"^  {name} +([0-9.]+) s +([0-9.]+) x T\* +([0-9.]+) x one by one$", out, re.M)
        assert m, f"{name} line missing:\n{out}"
        secs, ratio, serial = float(m.group(1)), float(m.group(2)), float(m.group(3))
        assert secs >= t_star  # nobody beats the lower bound
        assert ratio == pytest.approx(secs / t_star, rel=1e-3)
        assert serial == pytest.approx(secs / one, rel=1e-3)
        assert serial < 1  # the receivers traded: better than one by one
    assert "completion of 20 receivers (0 crashed, 0 incomplete)" in out
    assert re.search(r"origin upload = [0-9.]+ F", out)
    assert re.search(r"trace digest [0-9a-f]{16}", out)


def test_json_keys_and_values(sim):
    d = run_json(sim, *SMALL)
    assert JSON_KEYS <= d.keys()
    assert d["hosts"] == 20 and d["size"] == 32 << 20
    assert d["t_star_s"] == pytest.approx(0.32)
    assert d["one_by_one_s"] == pytest.approx(6.4)
    assert d["t_star_s"] <= d["p50_s"] <= d["p90_s"] <= d["p99_s"] <= d["max_s"]
    assert d["max_s"] < d["one_by_one_s"]  # the receivers traded: better than one by one
    assert d["origin_upload_bytes"] >= d["size"]  # every byte left the origin at least once
    assert d["events"] > 0 and d["wall_s"] > 0
    by = d["events_by_type"]
    assert sum(by.values()) == d["events"]
    assert by["deliver"] >= by["arrive"] > 0  # every data chunk arrives, then is delivered
    assert by["syn"] >= by["synack"] > 0


def test_one_receiver_is_one_transfer(sim):
    d = run_json(sim, "--hosts", "1", "--size", "16M", "--rate", "100M")
    assert d["origin_upload_bytes"] == 16 << 20
    assert d["t_star_s"] <= d["max_s"] <= 1.1 * d["t_star_s"]


def test_slow_origin_bounds_t_star(sim):
    d = run_json(sim, "--hosts", "4", "--size", "8M", "--rate", "100M", "--origin-rate", "10M")
    assert d["t_star_s"] == pytest.approx(0.8)  # F / u_origin dominates
    assert d["max_s"] >= d["t_star_s"]


def test_origin_killed_once_every_piece_exists(sim):
    d = run_json(sim, *SMALL, "--origin-crash-when-all-exist")
    assert d["origin_crashed_s"] is not None
    assert d["origin_crashed_s"] < d["max_s"]  # some finished after the origin was gone
    assert d["completed"] == 20 and d["incomplete"] == 0


def test_incomplete_run_exits_1(sim):
    rc, out, err = sim(*SMALL, "--time-limit", "0.05", "--json")
    assert rc == 1
    d = json.loads(out)
    assert d["incomplete"] > 0 and d["max_s"] is None


def test_per_host_csv(sim, tmp_path):
    p = tmp_path / "hosts.csv"
    rc, out, err = sim(*SMALL, "--per-host", p)
    assert rc == 0, err
    lines = p.read_text().splitlines()
    assert lines[0].startswith("host,role,state,complete_s")
    assert len(lines) == 1 + 21
    assert lines[1].startswith("0,origin,")
    assert all(",receiver,complete," in ln for ln in lines[2:])


@pytest.mark.parametrize("args", [
    [],
    ["--hosts", "10", "--size", "1M"],
    ["--hosts", "0", "--size", "1M", "--rate", "1M"],
    ["--hosts", "x", "--size", "1M", "--rate", "1M"],
    ["--hosts", "2", "--size", "1Q", "--rate", "1M"],
    ["--hosts", "2", "--size", "1M", "--rate", "-5"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--block", "20K"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--block", "8M"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--loss", "1.5"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--latency", "nan"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--crash", "3@1"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--crash", "1"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--log-level", "loud"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--bogus"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "extra"],
    ["--hosts", "2", "--size", "1T", "--rate", "1M", "--piece-size", "16K"],  # too many pieces
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--uplink", "fifo"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--have-batch", "-1"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--lead", "1000"],
    ["--hosts", "2", "--size", "1M", "--rate", "1M", "--interval", "0"],
])
def test_bad_usage_exits_2(sim, args):
    rc, out, err = sim(*args)
    assert rc == 2, (args, out, err)
    assert out == ""
    assert "shoal-sim" in err or "usage" in err or "unrecognized" in err


def test_help(sim):
    rc, out, err = sim("--help")
    assert rc == 0
    assert "--hosts N" in out and "--origin-crash-when-all-exist" in out


def test_hash_rate_bounds_completion(sim):
    # 32 MiB hashed at 8 MiB/s takes 4 s whatever the network does
    d = run_json(sim, "--hosts", "3", "--size", "32M", "--rate", "100M", "--hash-rate", "8M")
    assert d["max_s"] >= 4.0
    assert d["t_star_s"] == pytest.approx(0.32)


def test_model_options_are_deterministic(sim):
    args = SMALL + ["--uplink", "first", "--have-batch", "2", "--lead", "0.5", "--interval", "5",
                    "--quantum", "64K", "--seed", "4"]
    a = run_json(sim, *args)
    b = run_json(sim, *args)
    assert a["trace_digest"] == b["trace_digest"]
    assert a["max_s"] == b["max_s"] and a["events"] == b["events"]
    assert a["completed"] == 20
    assert a["uplink"] == "first" and a["have_batch_ms"] == 2 and a["lead_s"] == 0.5


def test_have_batch_zero_is_the_default_run(sim):
    a = run_json(sim, *SMALL)
    b = run_json(sim, *SMALL, "--have-batch", "0")
    assert a["trace_digest"] == b["trace_digest"]
    assert b["batched"] == 0


def test_have_batch_holds_haves_and_cuts_reads(sim):
    a = run_json(sim, *SMALL)
    b = run_json(sim, *SMALL, "--have-batch", "5")
    assert b["trace_digest"] != a["trace_digest"]
    assert b["batched"] > 0
    assert b["control_chunks"] < a["control_chunks"]  # HAVEs shared a chunk
    assert b["completed"] == 20
    assert b["t_star_s"] <= b["p50_s"]


def test_uplink_first_changes_the_run(sim):
    a = run_json(sim, *SMALL)
    b = run_json(sim, *SMALL, "--uplink", "first")
    assert a["uplink"] == "rr" and b["uplink"] == "first"
    assert a["trace_digest"] != b["trace_digest"]
    assert b["completed"] == 20


def test_lead_times_count_from_the_origin(sim):
    # Receivers that start early only meet each other: nothing can move before
    # the origin starts, so completion (from the origin's start) is still >= T*.
    d = run_json(sim, *SMALL, "--lead", "2")
    assert d["completed"] == 20
    assert d["t_star_s"] <= d["p50_s"] <= d["max_s"] < 2 + d["t_star_s"]
    rc, out, err = sim(*SMALL, "--lead", "2")
    assert "receivers start 2 s before the origin" in out
