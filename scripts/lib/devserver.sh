# scripts/lib/devserver.sh — start and stop a local Temporal dev server
# (`temporal server start-dev`, in memory unless given --db-filename,
# loopback only unless told otherwise). Used by scripts/demo, by the ctest
# fixture (tests/support/devserver) and by the fault suite (tests/fault).
# Sourced after common.sh, never run. Bash.

# A TCP port on 127.0.0.1 that nothing listens on right now (the kernel
# picks it). Another process may take it before we bind it; devserver_start
# retries with new ports when the server fails to start.
twe_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# devserver_start STATE_DIR [--ui] [extra start-dev flags...]
# Starts the server in the background and waits until its frontend answers a
# health check. Writes STATE_DIR/{pid,address,server.log} and, with --ui,
# STATE_DIR/ui_url. If WATCH_PID is set, a detached guard stops the server
# when that process is gone (so an interrupted ctest leaves nothing behind).
# TWE_DEVSERVER_LOG_LEVEL (default warn) sets the server log level;
# TWE_DEVSERVER_PORT fixes the frontend port (to restart a server in place);
# TWE_DEVSERVER_IP (default 127.0.0.1) is the address it listens on: the
# fault suite's server, alone in a network namespace, listens on 0.0.0.0
# there to be reached through a veth (with a single other address, the
# server's own services fail to reach each other on 127.0.0.1).
# Returns non-zero, with the log's tail on stderr, if it never became healthy.
devserver_start() {
  local state=$1; shift
  local ui=0
  if [ "${1:-}" = "--ui" ]; then ui=1; shift; fi
  mkdir -p "$state"
  local attempt port ui_port pid ip=${TWE_DEVSERVER_IP:-127.0.0.1}
  for attempt in 1 2 3; do
    port=${TWE_DEVSERVER_PORT:-$(twe_free_port)}
    local ui_flags=(--headless)
    if [ $ui -eq 1 ]; then
      ui_port=$(twe_free_port)
      ui_flags=(--ui-ip 127.0.0.1 --ui-port "$ui_port")
    fi
    # setsid: the server gets its own process group, so stopping it takes
    # every process it started, and Ctrl-C in a terminal reaches only us.
    setsid "$TWE_TEMPORAL_CLI" server start-dev --ip "$ip" --port "$port" \
      "${ui_flags[@]}" --log-level "${TWE_DEVSERVER_LOG_LEVEL:-warn}" "$@" \
      </dev/null >"$state/server.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/pid"
    echo "$ip:$port" >"$state/address"
    [ $ui -eq 1 ] && echo "http://127.0.0.1:$ui_port" >"$state/ui_url"
    if devserver_wait_healthy "$state" 60; then
      if [ -n "${WATCH_PID:-}" ]; then
        # The guard holds no descriptor of ours (ctest waits for its pipes).
        setsid bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
                        kill -TERM -- "-$2" 2>/dev/null' guard "$WATCH_PID" "$pid" \
          </dev/null >/dev/null 2>&1 &
      fi
      return 0
    fi
    devserver_stop "$state" >/dev/null 2>&1 || true
    echo "twe: dev server on port $port did not become healthy (attempt $attempt); log tail:" >&2
    tail -15 "$state/server.log" >&2
  done
  return 1
}

# devserver_wait_healthy STATE_DIR SECONDS — 0 once the frontend reports
# SERVING, 1 if the process died or the time ran out.
devserver_wait_healthy() {
  local state=$1 seconds=$2 pid address i
  pid=$(cat "$state/pid"); address=$(cat "$state/address")
  for ((i = 0; i < seconds * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if "$TWE_TEMPORAL_CLI" operator cluster health --address "$address" \
         --command-timeout 2s 2>/dev/null | grep -q SERVING; then
      return 0
    fi
    sleep 0.25
  done
  return 1
}

# devserver_stop STATE_DIR — SIGTERM to the server's process group, SIGKILL
# after 10 s; removes the pid file. Quiet and successful if nothing runs.
devserver_stop() {
  local state=$1 pid i
  [ -f "$state/pid" ] || return 0
  pid=$(cat "$state/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
  fi
  rm -f "$state/pid"
  return 0
}
