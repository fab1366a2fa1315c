"""200 DHT nodes on loopback: one announces, every other one finds it.

`shoal dht --nodes 200` runs 200 real nodes in one process, each with its
own UDP socket on its own address (127.0.1.1 ... 127.0.1.200); nodes 1..199
bootstrap from node 0. After the table settles, one node announces an info
hash and all 200 nodes look it up at the same time; every lookup must find
the announcer's address. Hop counts (lookup rounds) are printed.
"""

import hashlib

from dht_util import DONE_RE, DhtFleet, median

NODES = 200
ANNOUNCER = 137
ANNOUNCE_PORT = 6881


def test_every_node_finds_the_announced_peer(procs, shoal_bin, free_port):
    port = free_port("127.0.1.1", "udp")
    fleet = DhtFleet(procs, shoal_bin, f"127.0.1.1:{port}", nodes=NODES)
    assert len(fleet.nodes) == NODES
    assert fleet.nodes[0][1] == f"127.0.1.1:{port}"
    assert fleet.nodes[NODES - 1][1] == f"127.0.1.{NODES}:{port}"
    assert len({nid for nid, _ in fleet.nodes.values()}) == NODES  # random, distinct ids

    # Joined: every node knows a full bucket's worth of good nodes.
    def settled():
        return all(fleet.stats(i)["good"] >= 8 for i in range(0, NODES, 10))

    fleet.wait_for(settled, 30, "the routing tables to fill")

    info = hashlib.sha1(b"shoal dht cluster test").hexdigest()
    fleet.send(f"announce {info} {ANNOUNCE_PORT} {ANNOUNCER}")
    fleet.wait_for(lambda: ANNOUNCER in fleet.dones(info), 20, "the announce to finish")

    want = f"127.0.1.{ANNOUNCER + 1}:{ANNOUNCE_PORT}"
    fleet.send(f"lookup {info} all")
    fleet.wait_for(lambda: _lookups_done(fleet, info), 60, f"{NODES} lookups to finish")

    founds = fleet.founds(info)
    lookups = _lookup_results(fleet, info)
    missing = [i for i in range(NODES) if i != ANNOUNCER and want not in founds.get(i, set())]
    hops = [lookups[i]["hops"] for i in range(NODES) if i != ANNOUNCER]
    queried = [lookups[i]["queried"] for i in range(NODES) if i != ANNOUNCER]
    print(f"\n{NODES - 1} lookups: hops min/median/max = {min(hops)}/{median(hops)}/{max(hops)}, "
          f"nodes queried min/median/max = {min(queried)}/{median(queried)}/{max(queried)}, "
          f"failed = {len(missing)}")
    assert missing == [], f"lookups that did not find {want}: {missing}"
    # Nobody else announced: no lookup may report any other peer.
    assert all(s == {want} for i, s in founds.items()), founds
    assert max(hops) >= 1
    assert fleet.proc.alive()


def _lookup_results(fleet, info):
    """The 'done' of each node's lookup (the announcer's own is its second search)."""
    out = {}
    started = {}
    for line in fleet.lines:
        if line.startswith(f"started {info} "):
            parts = dict(kv.split("=") for kv in line.split()[2:])
            started.setdefault(int(parts["node"]), []).append(int(parts["search"]))
    for line in fleet.lines:
        m = DONE_RE.match(line)
        if m and m.group(1) == info:
            node, search = int(m.group(2)), int(m.group(3))
            if search == started.get(node, [None])[-1]:
                out[node] = {"hops": int(m.group(4)), "queried": int(m.group(5))}
    return out


def _lookups_done(fleet, info):
    return len(_lookup_results(fleet, info)) == NODES
