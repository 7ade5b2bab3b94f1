#!/usr/bin/env bash
# Builds shoal and runs the whole test suite (every test has a timeout).
#   scripts/test.sh                              everything, plain build
#   scripts/test.sh --sanitize address,undefined everything under ASan+UBSan
#   scripts/test.sh --sanitize thread --areas store,ipc
#                                                only the tests of those areas
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_args=()
areas=""
while (($#)); do
  case "$1" in
    --sanitize) build_args+=(--sanitize "$2"); shift 2 ;;
    --areas) areas="$2"; build_args+=(--areas "$2"); shift 2 ;;
    *) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
build=$("$root/scripts/build.sh" "${build_args[@]}" | tail -n 1)
ctest_args=(--test-dir "$build" --output-on-failure -j2)
[ -z "$areas" ] || ctest_args+=(-L "^(${areas//,/|})\$")
ctest "${ctest_args[@]}"
