#!/usr/bin/env bash
# Installs the Debian packages shoal builds with, if any are missing.
set -euo pipefail
packages=(g++ make cmake libboost-dev libconcurrentqueue-dev libcxxopts-dev
          libmsgpack-cxx-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev
          libopenmpi-dev openmpi-bin)
missing=()
# --format: clang-format too, for scripts/format.sh. Builds do not need it and
# it brings LLVM along (~35 MB to download), so the demo does not wait for it.
[ "${1:-}" != --format ] || packages+=(clang-format)
# --render: python3-matplotlib, for scripts/render_timeline.py only (the
# README's timeline picture); neither the build nor the tests need it.
[ "${1:-}" != --render ] || packages+=(python3-matplotlib)
# --fuzz: clang and its compiler-rt, which holds libFuzzer and the sanitizer
# runtimes (Debian 12: clang 14, libclang-rt-14-dev), for scripts/fuzz.sh.
[ "${1:-}" != --fuzz ] || packages+=(clang libclang-rt-14-dev)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "shoal: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
