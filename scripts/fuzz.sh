#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, ASan+UBSan, in build-fuzz/)
# and runs each on a copy of its seed corpus, tests/fuzz/corpus/<name>/, for a
# bounded time. Fails on the first crash, hang, leak or sanitizer report; the
# input that caused it is left in build-fuzz/artifacts/<name>/.
#   scripts/fuzz.sh                       every target, 60 s in all
#   scripts/fuzz.sh --seconds 600         every target, 600 s in all
#   scripts/fuzz.sh --only codec          one target, the whole time
#   scripts/fuzz.sh --build-only          build, run nothing
# A found input, replayed: build-fuzz/tests/fuzz/<name>_fuzz FILE
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=60
only=""
build_only=0
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
"$root/scripts/deps.sh" --fuzz
build="$root/build-fuzz"
launcher=()
! command -v ccache >/dev/null || launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  "${launcher[@]}" -DSHOAL_FUZZ=ON -DSHOAL_BUILD_TESTS=OFF -DSHOAL_BUILD_EXAMPLES=OFF \
  -DSHOAL_CLUSTER=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target shoal_fuzz
((build_only)) && exit 0

names=()
for dir in "$root"/tests/fuzz/corpus/*/; do
  name=$(basename "$dir")
  [ -z "$only" ] || [ "$name" = "$only" ] || continue
  names+=("$name")
done
((${#names[@]})) || { echo "fuzz.sh: no target named ${only}" >&2; exit 2; }
# Every target gets an equal share of the time, at least a second.
share=$((seconds / ${#names[@]}))
((share >= 1)) || share=1
# abort_on_error: a UBSan report is a crash, as an ASan one is.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for name in "${names[@]}"; do
  exe="$build/tests/fuzz/${name}_fuzz"
  [ -x "$exe" ] || { echo "fuzz.sh: corpus/$name has no target ${name}_fuzz" >&2; exit 1; }
  # New inputs go to a scratch copy: the corpus in the repo stays the small seed set.
  work="$build/corpus/$name"
  artifacts="$build/artifacts/$name/"
  rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  echo "fuzz.sh: $name for ${share} s" >&2
  if ! "$exe" -max_total_time="$share" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$artifacts" "$work" "$root/tests/fuzz/corpus/$name" \
       >"$build/$name.log" 2>&1; then
    tail -n 60 "$build/$name.log" >&2
    echo "fuzz.sh: $name FAILED; the input is in $artifacts" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^#[0-9]+ +DONE' "$build/$name.log" | tail -n 2 >&2 || true
done
echo "fuzz.sh: ${#names[@]} targets, no crash" >&2
