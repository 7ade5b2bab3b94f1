#!/usr/bin/env bash
# Builds shoal and runs the demo: the AsyncActor barrier of the seed page, as
# one rank of `shoal launch`. It builds only what it runs (the library, the
# `shoal` command and the example), not the test suite, which is most of a
# full build's time; scripts/test.sh builds everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$("$root/scripts/build.sh" --target shoal_cli --target async_actor_barrier | tail -n 1)
exec "$build/tools/shoal" launch -n 1 -- "$build/examples/async_actor_barrier"
