#!/usr/bin/env bash
# Installs every build and test dependency of shoal from Debian's archive.
# Idempotent: when everything is present it does nothing and touches no network.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # libraries shoal links
  libssl-dev libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev
  # unit tests
  libcmocka-dev
  # integration tests and interop peers
  python3 python3-pytest python3-libtorrent aria2 transmission-cli opentracker mktorrent
  # benchmarks and plots
  gnuplot-nox
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
