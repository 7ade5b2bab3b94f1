#!/usr/bin/env bash
# Configures and builds shoal into build/ (or build-<sanitizers>/ with
# --sanitize LIST). --areas store,ipc builds the tests of those areas only
# (and the examples only if "examples" is one of them). --target NAME (once
# or more) builds those CMake targets and what they need, nothing else.
# Prints the build directory on its last line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=""
areas=""
targets=()
while (($#)); do
  case "$1" in
    --sanitize) sanitize="$2"; shift 2 ;;
    --areas) areas="$2"; shift 2 ;;
    --target) targets+=(--target "$2"); shift 2 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
"$root/scripts/deps.sh"
build="$root/build"
[ -z "$sanitize" ] || build="$root/build-${sanitize//,/-}"
examples=ON
[ -z "$areas" ] || [[ ",$areas," == *,examples,* ]] || examples=OFF
# ccache, where it is installed, makes a rebuild of unchanged sources free.
launcher=()
! command -v ccache >/dev/null || launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOAL_SANITIZE="$sanitize" \
  -DSHOAL_TEST_AREAS="${areas//,/;}" -DSHOAL_BUILD_EXAMPLES="$examples" "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" "${targets[@]}" >&2
echo "$build"
