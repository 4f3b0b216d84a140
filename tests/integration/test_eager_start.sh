#!/usr/bin/env bash
# tests/integration/test_eager_start.sh TEST_EAGER_START — eager workflow
# start (tests/integration/test_eager_start.c) against two dev servers of its
# own: one started with system.enableEagerWorkflowStart=true, where every
# eager start must hand its first task to the local worker, and one with it
# false, where none may and every workflow still completes through a poll.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/common.sh"
source "$root/scripts/lib/devserver.sh"
prog=${1:?usage: test_eager_start.sh TEST_EAGER_START}
state=$(mktemp -d)
trap 'devserver_stop "$state/on" >/dev/null 2>&1; devserver_stop "$state/off" >/dev/null 2>&1; rm -rf "$state"' EXIT

for mode in on off; do
  mkdir -p "$state/$mode"
  flag=true; expect=1
  [ "$mode" = off ] && { flag=false; expect=0; }
  WATCH_PID=$$ devserver_start "$state/$mode" \
    --dynamic-config-value system.enableEagerWorkflowStart=$flag >/dev/null ||
    { echo "FAIL: the dev server did not start: $(tail -5 "$state/$mode/server.log")"; exit 1; }
  echo "== eager workflow start granted: $flag"
  TEMPORAL_ADDRESS=$(cat "$state/$mode/address") TWE_EXPECT_EAGER=$expect "$prog"
  devserver_stop "$state/$mode" >/dev/null 2>&1
done
