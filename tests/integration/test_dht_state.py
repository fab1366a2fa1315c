"""`shoal dht --state FILE`: a restarted node keeps its id and its nodes.

A node with a state file joins a small fleet, is stopped with SIGTERM (state
saved, exit 0), and restarted WITHOUT a bootstrap node: it must come back
with the same id and find the fleet again from the saved table alone. A
corrupt state file is a warning: the node starts fresh and replaces it.
"""

import signal

import shoal_bencode as bc
from dht_util import DhtFleet

FLEET = 12


def _saved(path):
    st = bc.decode(path.read_bytes())
    nodes = st[b"nodes"]
    assert len(nodes) % 26 == 0
    entries = [nodes[i:i + 26] for i in range(0, len(nodes), 26)]
    addrs = {"%d.%d.%d.%d:%d" % (*e[20:24], int.from_bytes(e[24:26], "big")) for e in entries}
    return st[b"id"].hex(), addrs


def test_restart_keeps_id_and_nodes(procs, shoal_bin, free_port, tmp_dir):
    state = tmp_dir / "dht.state"
    port = free_port("127.0.4.1", "udp")
    fleet_port = free_port("127.0.4.11", "udp")
    a = DhtFleet(procs, shoal_bin, f"127.0.4.1:{port}", extra=["--state", state], name="a")
    assert "no state yet" not in a.proc.log()  # an info line: not shown at the default level
    first_id = a.nodes[0][0]
    fleet = DhtFleet(procs, shoal_bin, f"127.0.4.11:{fleet_port}", nodes=FLEET,
                     extra=["--bootstrap", f"127.0.4.1:{port}"], name="fleet")
    a.wait_for(lambda: a.stats(0)["good"] >= 8, 20, "node a to know the fleet")
    assert procs.stop(a.proc, signal.SIGTERM) == 0
    saved_id, saved_nodes = _saved(state)
    assert saved_id == first_id
    fleet_addrs = {addr for _, addr in fleet.nodes.values()}
    assert len(saved_nodes) >= 8
    assert saved_nodes <= fleet_addrs, saved_nodes - fleet_addrs

    # Restart without --bootstrap: same id, and the saved nodes answer again.
    b = DhtFleet(procs, shoal_bin, f"127.0.4.1:{port}", extra=["--state", state], name="b")
    assert b.nodes[0][0] == first_id
    b.wait_for(lambda: b.stats(0)["good"] >= 8, 20, "the restarted node to find its nodes")
    # The fleet still works around it: a lookup finds an announced peer.
    info = "ab" * 20
    fleet.send(f"announce {info} 4242 3")
    fleet.wait_for(lambda: 3 in fleet.dones(info), 20, "the announce")
    fleet.send(f"lookup {info} 7")
    fleet.wait_for(lambda: 7 in fleet.dones(info), 20, "the lookup")
    assert f"127.0.4.14:4242" in fleet.founds(info).get(7, set())
    assert procs.stop(b.proc, signal.SIGINT) == 0
    assert _saved(state)[0] == first_id


def test_corrupt_state_is_a_warning(procs, shoal_bin, free_port, tmp_dir):
    state = tmp_dir / "dht.state"
    state.write_bytes(b"d2:id3:abc5:nodes7:garbagee")
    port = free_port("127.0.4.30", "udp")
    n = DhtFleet(procs, shoal_bin, f"127.0.4.30:{port}", extra=["--state", state])
    assert "not a usable DHT state" in n.proc.log()
    assert n.proc.alive()
    new_id = n.nodes[0][0]
    assert procs.stop(n.proc) == 0
    assert _saved(state) == (new_id, set())  # replaced by a valid (empty) state


def test_unreadable_state_path_is_a_warning(procs, shoal_bin, free_port, tmp_dir):
    state = tmp_dir / "a-directory"
    state.mkdir()
    port = free_port("127.0.4.31", "udp")
    n = DhtFleet(procs, shoal_bin, f"127.0.4.31:{port}", extra=["--state", state])
    assert "cannot read the state" in n.proc.log()
    rc = procs.stop(n.proc)
    assert rc == 0
    assert "cannot save the DHT state" in n.proc.log()
