#!/usr/bin/env bash
# Formats shoal's C++ sources (every .cpp and .hpp of the project, never a
# build directory) with clang-format and the repository's .clang-format.
#   scripts/format.sh           reformats them in place
#   scripts/format.sh --check   changes nothing; lists the files whose
#                               formatting differs on stdout, one a line, and
#                               exits 1 if there are any
# Installs clang-format (Debian's) if it is missing: CI formats with that one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
check=false
while (($#)); do
  case "$1" in
    --check) check=true; shift ;;
    *) echo "format.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
"$root/scripts/deps.sh" --format
cd "$root"

# The project's sources: what git tracks, plus new files it does not ignore
# (build directories are ignored). Outside a git checkout, every source not
# under a build directory or a hidden one.
files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && files+=("$f")  # tracked files deleted in the work tree are skipped
  done < <(git ls-files -z --cached --others --exclude-standard -- '*.cpp' '*.hpp' | sort -zu)
else
  while IFS= read -r -d '' f; do
    files+=("$f")
  done < <(find . \( -path './build*' -o -path './.*' \) -prune -o \
             -type f \( -name '*.cpp' -o -name '*.hpp' \) -print0 | sort -z)
fi
if ((${#files[@]} == 0)); then
  echo "format.sh: no C++ sources found under $root" >&2
  exit 2
fi

if ! $check; then
  clang-format -i --style=file "${files[@]}"
  exit 0
fi
# One clang-format over every file (a process per file takes ~10x longer);
# it names each file that differs in a "-Wclang-format-violations" error.
status=0
report=$(clang-format --dry-run --Werror --style=file "${files[@]}" 2>&1) || status=$?
mapfile -t differ < <(sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: .*\[-Wclang-format-violations\]$/\1/p' \
                        <<<"$report" | sort -u)
if ((status != 0 || ${#differ[@]})); then
  if ((${#differ[@]} == 0)); then
    echo "format.sh: clang-format failed:" >&2
    echo "$report" >&2
    exit 1
  fi
  echo "format.sh: ${#differ[@]} of ${#files[@]} files are not formatted as .clang-format says" \
       "($(clang-format --version)); scripts/format.sh reformats them in place:" >&2
  printf '%s\n' "${differ[@]}"
  exit 1
fi
echo "format.sh: ${#files[@]} files formatted as .clang-format says" >&2
