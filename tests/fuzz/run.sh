#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS each, starting from its
# seed corpus (tests/fuzz/corpus/<target>/). A crash fails the run and leaves
# the reproducer in build-fuzz/artifacts/.
set -euo pipefail
build="$1"; secs="${2:-15}"
here="$(cd "$(dirname "$0")" && pwd)"
art="$build/artifacts"; mkdir -p "$art"
status=0; n=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seed="$here/corpus/$name"
  work="$build/corpus/$name"; mkdir -p "$work"
  dict=(); [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
  n=$((n+1))
  if "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$art/$name-" -print_final_stats=0 "${dict[@]}" "$work" \
       $( [ -d "$seed" ] && echo "$seed" ) >"$build/$name.log" 2>&1; then
    echo "fuzz: $name ok ($(grep -Eo 'stat::number_of_executed_runs: *[0-9]+|#[0-9]+' "$build/$name.log" | tail -1))"
  else
    echo "fuzz: $name FAILED; log: $build/$name.log" >&2
    tail -40 "$build/$name.log" >&2
    status=1
  fi
done
[ "$n" -gt 0 ] || { echo "fuzz: no targets built" >&2; exit 1; }
if [ $status -eq 0 ]; then echo "$n passed, 0 failed"; else echo "fuzz: failures" >&2; fi
exit $status
