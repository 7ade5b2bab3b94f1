#!/usr/bin/env bash
# Builds shoal and runs the demo: the AsyncActor barrier of the seed page, as
# one rank of `shoal launch`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$("$root/scripts/build.sh" | tail -n 1)
exec "$build/tools/shoal" launch -n 1 -- "$build/examples/async_actor_barrier"
