"""One upload-limited shoal seeder and 8 `shoal get` peers that know each
other: all finish with identical data, and the seeder uploads far less than
8 copies — the peers traded among themselves."""


from peers import (  # noqa: F401  (shoals is a fixture)
    assert_same_data,
    new_ip,
    shoals,
    shoal_create,
    start_get,
    start_seed,
    wait_all,
    write_random,
)

N = 8
SIZE = 24 * 1024 * 1024
SEED_UP = 4 * 1024 * 1024  # bytes/s: alone it would need N * SIZE / SEED_UP = 48 s
PORT = 6881                # every peer has its own IP, so one fixed port for all


def test_eight_peers_trade(tmp_path, shoals):
    data = write_random(str(tmp_path / "payload.bin"), SIZE)
    torrent = shoal_create(data, str(tmp_path / "payload.torrent"), piece_size=256 * 1024)
    seed = start_seed(shoals, str(tmp_path), torrent, data, port=PORT,
                      extra=["--json", "--upload-limit", str(SEED_UP)])
    ips = [new_ip() for _ in range(N)]
    addrs = ["%s:%d" % (ip, PORT) for ip in ips]
    gets = []
    for i, ip in enumerate(ips):
        others = [seed.addr] + [a for j, a in enumerate(addrs) if j != i]
        gets.append(start_get(shoals, str(tmp_path), torrent, str(tmp_path / ("out%d" % i)), peers=others,
                              ip=ip, port=PORT, extra=["--json", "--seed-for", "5", "--timeout", "60"],
                              name="get%d" % i))
    codes = wait_all(gets, 120)
    bad = [g.describe() for g, c in zip(gets, codes) if c != 0]
    assert not bad, "\n\n".join(bad)
    for i in range(N):
        assert_same_data(data, str(tmp_path / ("out%d" % i) / "payload.bin"))
    assert seed.stop(10) == 0, seed.describe()
    sj = seed.json()
    got = [g.json() for g in gets]
    assert all(j["status"] == "complete" for j in got)
    print("seeder sent %.2f copies; peers: %s" % (sj["up_bytes"] / SIZE, [
        (round(j["seconds"], 1), round(j["up_bytes"] / SIZE, 2), round(j["down_bytes"] / SIZE, 2), round(j["wire_down"] / SIZE, 2), j["peers"]) for j in got]))
    total_down = sum(j["down_bytes"] for j in got)
    assert total_down >= N * SIZE
    # Without trading the seeder would upload N * SIZE; with it, a few copies.
    assert sj["up_bytes"] < 4 * SIZE, "seeder uploaded %.1f copies" % (sj["up_bytes"] / SIZE)
    # And the peers uploaded the rest to each other.
    assert sum(j["up_bytes"] for j in got) >= N * SIZE - sj["up_bytes"] - SIZE // 10
