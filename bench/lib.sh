# bench/lib.sh — what the bench scripts (bench/run, run_worker_bench.sh,
# run_fanout_bench.sh) share. Sourced after scripts/lib/common.sh and
# scripts/lib/devserver.sh, never run. Bash.

# bench_server_start STATE_DIR [extra start-dev flags...] — a fresh dev
# server in STATE_DIR (any server there is stopped first), TEMPORAL_ADDRESS
# exported; dies if it does not start. Its frontend rate-limits
# (RESOURCE_EXHAUSTED, retried after 1 s) and so do history and matching per
# host: they are all lifted, or the tables measure the limits (see
# run_grpc_bench.sh). One partition per task queue: with the default 4 and
# one worker's few polls, a task written to a partition no poll waits on is
# forwarded or read back later (measured by run_worker_bench.sh: p50/p99
# 650/2770 ms instead of 420/470 ms at 5 Hello/s). The guard stops the
# server if the calling script dies.
bench_server_start() {
  local state=$1; shift
  devserver_stop "$state"
  WATCH_PID=$$ devserver_start "$state" \
    --dynamic-config-value frontend.rps=1000000 \
    --dynamic-config-value frontend.namespaceRPS=1000000 \
    --dynamic-config-value frontend.globalNamespaceRPS=1000000 \
    --dynamic-config-value history.rps=1000000 \
    --dynamic-config-value matching.rps=1000000 \
    --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
    --dynamic-config-value matching.numTaskqueueWritePartitions=1 "$@" ||
    twe_die "dev server did not start"
  TEMPORAL_ADDRESS=$(cat "$state/address")
  export TEMPORAL_ADDRESS
}
