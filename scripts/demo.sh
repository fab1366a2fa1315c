#!/usr/bin/env bash
# demo.sh SHOAL — a local swarm: one seeder and N downloaders on loopback.
#
# Every host (its own 127.0.0.x) is capped to the same rate u, up and down,
# chosen so the theoretical best time T* is about 16 s. The run then shows
# how close shoal gets to T*, and how far that is from the origin sending
# the file to each host in turn (N * F / u_seed).
#
#   T* = max( F/u_seed,  F/d,  N*F/(u_seed + N*u) )        (Kumar & Ross)
#
# Nobody is told any peer's address. With DEMO_MODE=tracker (the default)
# peers find each other through a `shoal tracker` on 127.0.0.1; with
# DEMO_MODE=dht there is no tracker at all: a `shoal dht` bootstrap node on
# 127.0.0.1 and the Kademlia DHT (`make demo MODE=dht`).
#
# Environment: DEMO_MODE (tracker), DEMO_SIZE_MB (256), DEMO_PEERS (20),
# DEMO_TSTAR (16 s), DEMO_PORT (6881), DEMO_TRACKER_PORT (6969, also the DHT
# bootstrap node's port), DEMO_DIR (a fresh directory under $TMPDIR; removed
# at the end unless DEMO_KEEP=1).
set -euo pipefail

SHOAL=${1:?usage: demo.sh PATH/TO/shoal}
SHOAL=$(cd "$(dirname "$SHOAL")" && pwd)/$(basename "$SHOAL")
SIZE_MB=${DEMO_SIZE_MB:-256}
N=${DEMO_PEERS:-20}
TSTAR=${DEMO_TSTAR:-16}
PORT=${DEMO_PORT:-6881}
TRACKER_PORT=${DEMO_TRACKER_PORT:-6969}
SEED_IP=127.0.0.2
TRACKER_URL="http://127.0.0.1:$TRACKER_PORT/announce"
MODE=${DEMO_MODE:-tracker}
case $MODE in
tracker) DISCOVERY=() ;;
dht) DISCOVERY=(--dht-bootstrap "127.0.0.1:$TRACKER_PORT") ;;
*) echo "DEMO_MODE must be tracker or dht, not '$MODE'" >&2; exit 2 ;;
esac

F=$((SIZE_MB * 1024 * 1024))
# Equal links everywhere: u_seed = u = d = F / T*. Then F/u_seed = F/d = T*
# and N*F/(u_seed + N*u) = T* * N/(N+1) < T*: T* is set by one host's link.
RATE=$((F / TSTAR))

WORK=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/shoal-demo.XXXXXX")}
mkdir -p "$WORK"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    if [[ ${DEMO_KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
rate_mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB/s", b / 1048576 }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
peer_ip() { echo "127.0.0.$((3 + $1))"; }
json_field() { sed -n 's/.*"'"$2"'":\([0-9.e+-]*\).*/\1/p' "$1" | tail -1; }

echo "== shoal demo: 1 seeder + $N peers, a ${SIZE_MB} MiB file, peers found by $MODE, in $WORK"
echo
echo "Every host is capped at u = d = $(rate_mib $RATE) (up and down), u_seed = u:"
awk -v F="$F" -v u="$RATE" -v N="$N" 'BEGIN {
    a = F / u; b = F / u; c = N * F / (u + N * u);
    t = a; if (b > t) t = b; if (c > t) t = c;
    printf "  T* = max(F/u_seed, F/d, N*F/(u_seed + N*u)) = max(%.1f, %.1f, %.1f) = %.1f s\n", a, b, c, t;
    printf "  one by one from the seeder: N*F/u_seed = %.1f s\n", N * F / u }'
echo

# wait_line FILE PATTERN PID WHAT: until FILE has a line matching PATTERN.
wait_line() {
    for _ in $(seq 100); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    echo "$4 did not start:"; cat "${1%.out}.err"; exit 1
}

head -c "$F" /dev/urandom > "$WORK/payload.bin"
if [[ $MODE == tracker ]]; then
    echo "-- making ${SIZE_MB} MiB of random data and its torrent (tracker $TRACKER_URL)"
    "$SHOAL" create -f -t "$TRACKER_URL" -o "$WORK/payload.torrent" "$WORK/payload.bin" > /dev/null
    echo "-- starting the tracker on 127.0.0.1:$TRACKER_PORT"
    "$SHOAL" tracker -l "127.0.0.1:$TRACKER_PORT" --interval 5 \
        > "$WORK/tracker.out" 2> "$WORK/tracker.err" &
    TRACKER_PID=$!
    PIDS+=("$TRACKER_PID")
    wait_line "$WORK/tracker.out" 'listening' "$TRACKER_PID" "the tracker"
else
    echo "-- making ${SIZE_MB} MiB of random data and its torrent (no tracker)"
    "$SHOAL" create -f -o "$WORK/payload.torrent" "$WORK/payload.bin" > /dev/null
    echo "-- starting a DHT bootstrap node on 127.0.0.1:$TRACKER_PORT"
    "$SHOAL" dht -l "127.0.0.1:$TRACKER_PORT" > "$WORK/dht.out" 2> "$WORK/dht.err" &
    DHT_PID=$!
    PIDS+=("$DHT_PID")
    wait_line "$WORK/dht.out" 'listening' "$DHT_PID" "the DHT node"
fi

echo "-- starting the seeder on $SEED_IP:$PORT"
"$SHOAL" seed -l "$SEED_IP:$PORT" "${DISCOVERY[@]}" --upload-limit "$RATE" --json \
    "$WORK/payload.torrent" "$WORK/payload.bin" > "$WORK/seed.out" 2> "$WORK/seed.err" &
SEED_PID=$!
PIDS+=("$SEED_PID")
wait_line "$WORK/seed.out" '^listening on' "$SEED_PID" "the seeder"

# Nobody is given an address: every peer learns the others from the tracker
# or the DHT.
echo "-- starting $N peers on $(peer_ip 0) ... $(peer_ip $((N - 1))), no addresses given"
T0=$(now)
GET_PIDS=()
for ((i = 0; i < N; i++)); do
    dir="$WORK/peer$i"
    mkdir -p "$dir"
    "$SHOAL" get -o "$dir" -l "$(peer_ip $i):$PORT" "${DISCOVERY[@]}" \
        --upload-limit "$RATE" --download-limit "$RATE" --seed-for 600 --timeout 60 --json \
        "$WORK/payload.torrent" > "$dir/get.out" 2> "$dir/get.err" &
    GET_PIDS+=($!)
    PIDS+=($!)
done

# Live view, once a second: peers done, aggregate download rate (bytes
# that reached the peers' disks), and what the seeder has sent so far
# (its write count in /proc, which includes sendfile).
declare -A DONE_AT
last_bytes=0
last_t=$(now)
next_print=1
while :; do
    done_n=0
    for ((i = 0; i < N; i++)); do
        if [[ -z ${DONE_AT[$i]:-} && -f "$WORK/peer$i/payload.bin" ]]; then DONE_AT[$i]=$(elapsed "$T0"); fi
        [[ -n ${DONE_AT[$i]:-} ]] && done_n=$((done_n + 1))
        if ! kill -0 "${GET_PIDS[$i]}" 2>/dev/null && [[ -z ${DONE_AT[$i]:-} ]]; then
            echo "peer $i exited before completing:"; tail -5 "$WORK/peer$i/get.err"; exit 1
        fi
    done
    t=$(elapsed "$T0")
    if ((done_n == N)) || awk -v t="$t" -v n="$next_print" 'BEGIN { exit !(t >= n) }'; then
        bytes=$(du -s -B1 "$WORK"/peer*/ 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
        tn=$(now)
        rate=$(awk -v b="$bytes" -v lb="$last_bytes" -v t="$tn" -v lt="$last_t" \
            'BEGIN { d = t - lt; printf "%.0f", (d > 0 ? (b - lb) / d : 0) }')
        last_bytes=$bytes
        last_t=$tn
        sent=$(awk '/^wchar:/ { print $2 }' "/proc/$SEED_PID/io" 2>/dev/null || echo 0)
        printf "  %5.1f s  done %2d/%d  aggregate %12s  on disk %11s  seeder sent %11s (%.2f copies)\n" \
            "$t" "$done_n" "$N" "$(rate_mib "$rate")" "$(mib "$bytes")" "$(mib "$sent")" \
            "$(awk -v s="$sent" -v f="$F" 'BEGIN { print s / f }')"
        next_print=$((next_print + 1))
    fi
    ((done_n == N)) && break
    if awk -v t="$t" 'BEGIN { exit !(t > 300) }'; then echo "not done after 300 s"; exit 1; fi
    sleep 0.2
done
WALL=$(for ((i = 0; i < N; i++)); do echo "${DONE_AT[$i]}"; done | sort -n | tail -1)

echo "-- stopping everyone"
for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()

echo "-- verifying $N copies byte for byte"
bad=0
for ((i = 0; i < N; i++)); do
    cmp -s "$WORK/payload.bin" "$WORK/peer$i/payload.bin" || { echo "  peer $i: DIFFERS"; bad=1; }
done
((bad == 0)) && echo "  all $N copies identical to the original"

seed_up=$(json_field "$WORK/seed.out" up_bytes)
awk -v w="$WALL" -v F="$F" -v u="$RATE" -v N="$N" -v su="${seed_up:-0}" 'BEGIN {
    t = F / u; c = N * F / (u + N * u); if (c > t) t = c;
    one = N * F / u;
    printf "\n== result\n";
    printf "  wall time (last peer complete)  %7.1f s\n", w;
    printf "  T* (best possible)              %7.1f s   wall / T* = %.2f\n", t, w / t;
    printf "  one by one from the seeder      %7.1f s   %.1fx slower than this run\n", one, one / w;
    printf "  seeder uploaded                 %7.1f MiB = %.2f copies of the file (of %d needed)\n",
           su / 1048576, su / F, N }'
exit $bad
