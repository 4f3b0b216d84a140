#!/usr/bin/env bash
# tests/integration/test_hostile_server.sh SCENARIO_WORKER — the worker
# against a hostile HTTP/2 peer: tests/support/h2_fault_proxy.py (a fault
# injector) stands between it and the dev server, forwarding at first, then
# playing one hostile mode at a time (garbage frames, lying gRPC length
# prefixes, response headers that decode to 48 MB, GOAWAY storms, PING /
# SETTINGS / WINDOW_UPDATE / empty DATA floods, a silent peer, resets) for
# 6-16 s, forwarding again after each. A peer that accepts the connection
# and never answers (no SETTINGS) is given up after the connect timeout,
# 10 s, and not counted as a connection made. In each mode:
#   - the worker stays alive;
#   - it does not spin: its CPU time (utime + stime) grows by less than
#     half the phase's wall time (its reconnect loop, with backoff, takes
#     ~1%); under the WINDOW_UPDATE and empty DATA floods too, which it
#     gives up after 10,000 frames in a row that carry nothing (nghttp2
#     catches PING and SETTINGS floods itself);
#   - its RSS stays under its RSS before the phases + 64 MB;
#   - its log shows it saw the fault (or, for lying prefixes and metadata
#     bombs, which it retries quietly inside a poll's 70 s, the proxy's log
#     shows it reset those streams and asked again);
#   - once the proxy forwards again, a workflow started through the CLI
#     completes within 30 s.
# At the end the worker idles at under 10% CPU, holds no more descriptors
# than before the phases (+4) and stops cleanly; its stats line is printed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sw=${1:?usage: test_hostile_server.sh SCENARIO_WORKER}
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
started=$(date +%s)

ctl=$TWE_IT_TMP/proxy.mode
plog=$TWE_IT_TMP/proxy.log
echo pass >"$ctl"
python3 "$(dirname "$0")/../support/h2_fault_proxy.py" "$TEMPORAL_ADDRESS" "$ctl" \
  "$TWE_IT_TMP/proxy.port" 2>"$plog" &
TWE_IT_PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$TWE_IT_TMP/proxy.port" ] && break; sleep 0.1; done
[ -s "$TWE_IT_TMP/proxy.port" ] || fail "the proxy did not start: $(cat "$plog")"
paddr="127.0.0.1:$(cat "$TWE_IT_TMP/proxy.port")"

q=$(unique hostile)
mport=$(free_port)
TEMPORAL_ADDRESS=$paddr TWE_METRICS_ADDRESS="127.0.0.1:$mport" TWE_KEEPALIVE_INTERVAL=10 \
  TWE_KEEPALIVE_TIMEOUT=3 start_worker w "$sw" worker --task-queue "$q"
pid=$WORKER_PID
err=$TWE_IT_TMP/w.err

tck=$(getconf CLK_TCK)
# CPU ticks, utime + stime (counted from the field after the name's ")").
cpu() { sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}'; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
losses() {
  curl -s --max-time 2 "http://127.0.0.1:$mport/metrics" |
    sed -n 's/^twe_connection_losses_total{.*} \([0-9]*\)$/\1/p' | awk '{s += $1} END {print s + 0}'
}
# proxy_sum WHAT: the sum of the proxy's "WHAT N" notes in the phase's log
# ("answered", "the client reset").
proxy_sum() {
  printf '%s\n' "$phase_plog" | sed -n "s/.*$1 \\([0-9]*\\) .*/\\1/p" | awk '{s += $1} END {print s + 0}'
}

# sequential LABEL: Sequential with 3 activities, started through the CLI
# (straight to the dev server), done within 30 s; sets took (seconds).
sequential() {
  local id s out
  id=$(unique "hostile-$1")
  out=$TWE_IT_TMP/$id.json
  s=$(now)
  "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 30s workflow execute \
    --type Sequential --task-queue "$q" --workflow-id "$id" --input 3 -o json >"$out" 2>&1 ||
    fail "$1: Sequential did not complete: $(tail -5 "$out"; tail -20 "$err")"
  [ "$(json_get "$out" 'd["result"]')" = 3 ] || fail "$1: Sequential's result: $(cat "$out")"
  took=$(calc "round($(now) - $s, 1)")
}

sequential start
ok "a workflow completes through the proxy in pass mode (${took} s)"
rss0=$(rss)
fds0=$(fds)
rss_bound=$((rss0 + 64 * 1024))
echo "worker before the phases: RSS $rss0 kB, $fds0 descriptors"

# phase MODE SECONDS: plays MODE for SECONDS, checks the worker, goes
# back to pass and checks a workflow completes. Leaves the worker's log of
# the phase in phase_log, the proxy's in phase_plog, and the number of
# connections the proxy took in MODE in conns.
summary=()
phase() {
  local mode=$1 secs=$2
  local l0 p0 n0 r0 c0 t0 c1 t1 r1 pct
  l0=$(wc -l <"$err"); p0=$(wc -l <"$plog"); n0=$(losses); r0=$(rss)
  c0=$(cpu); t0=$(now)
  echo "$mode" >"$ctl"
  sleep "$secs"
  kill -0 "$pid" 2>/dev/null || fail "$mode: the worker died: $(tail -20 "$err")"
  c1=$(cpu); t1=$(now); r1=$(rss)
  echo pass >"$ctl"
  sleep 0.3 # the proxy reads its control file every 0.1 s
  phase_log=$(tail -n +$((l0 + 1)) "$err")
  phase_plog=$(tail -n +$((p0 + 1)) "$plog")
  pct=$(calc "round(100.0 * ($c1 - $c0) / $tck / ($t1 - $t0), 1)")
  conns=$(printf '%s\n' "$phase_plog" | grep -c "^[0-9.]* conn [0-9]* ${mode%%:*}/" || true)
  echo "$mode: CPU $pct% of $secs s, RSS $r0 -> $r1 kB, $conns connection(s) to the proxy," \
    "connection losses +$(($(losses) - n0))"
  printf '%s\n' "$phase_log" | grep -v '^twe: watchdog' | cut -c1-200 | sed 's/^/    log: /' | head -6
  [ "$r1" -lt "$rss_bound" ] || fail "$mode: RSS $r1 kB, over $rss_bound kB"
  python3 -c "import sys; sys.exit(0 if $pct < 50 else 1)" ||
    fail "$mode: the worker spun: CPU $pct% of the phase"
  [ "$conns" -ge 1 ] || fail "$mode: the worker never connected in this mode: $phase_plog"
  sequential "after-${mode/:/-}"
  summary+=("$mode: CPU $pct%, RSS $r1 kB, $conns connection(s), served again after $took s")
  ok "$mode: alive, CPU $pct%, RSS $r1 kB; a workflow completed $took s after the proxy forwarded"
}
# ended_within MODE SECONDS: every connection of MODE in the phase (but the
# one cut when the phase ended) ended within SECONDS of being accepted.
ended_within() {
  printf '%s\n' "$phase_plog" | grep " conn [0-9]* $1/" | grep -v "cut (mode change)" |
    python3 -c '
import re, sys
late = [l for l in sys.stdin if float(re.search(r" after ([0-9.]+) s", l).group(1)) > float(sys.argv[1])]
sys.exit("".join(late) or None)' "$2" || fail "$1: connections that lasted over $2 s"
}
# log_has WHAT PATTERN: the worker's log of the phase has PATTERN.
log_has() {
  printf '%s\n' "$phase_log" | grep -q -- "$2" || fail "$1: no '$2' in the worker's log: $phase_log"
  echo "    found: $(printf '%s\n' "$phase_log" | grep -m1 -- "$2" | cut -c1-240)"
}

phase garbage 8
log_has garbage "lost the connection to $paddr (HTTP/2 protocol error from the server"
# The worker hung up on each at once (the proxy only reads after its garbage).
ended_within garbage 1

# The worker's poll attempts get lies; each is retried inside the poll's 70 s
# (nothing logged yet). It refuses the 2 GiB and the compressed message by
# resetting their streams, and asks again.
phase lying-length 10
asked=$(proxy_sum answered)
resets=$(proxy_sum "the client reset")
echo "    proxy: lied to $asked request(s); the worker reset $resets stream(s)"
[ "$asked" -ge 3 ] || fail "lying-length: only $asked request(s) in 10 s: $phase_plog"
[ "$resets" -ge 1 ] || fail "lying-length: the worker reset no stream: $phase_plog"

# Response headers that decode to 48 MB from 12 KiB (HPACK references to
# one 4000-byte field): the worker reads at most 1 MiB of a response's
# metadata, resets the stream and asks again; its RSS stays put.
phase metadata-bomb 8
asked=$(proxy_sum answered)
resets=$(proxy_sum "the client reset")
echo "    proxy: $asked request(s) answered with a bomb; the worker reset $resets stream(s)"
[ "$resets" -ge 1 ] || fail "metadata-bomb: the worker reset no stream: $phase_plog"

phase goaway-storm 8
# Told to go away, it went: a new connection each time (the proxy holds
# none past 1 s).
[ "$conns" -ge 3 ] || fail "goaway-storm: $conns connection(s) in 8 s"
ended_within goaway-storm 2

phase flood:ping 6
log_has flood:ping "Flooding was detected"
phase flood:settings 6
log_has flood:settings "Flooding was detected"

phase silent 16
printf '%s\n' "$phase_plog" | grep -q "silent/silent: sent 0 bytes; client closed after \(9\|1[01]\)\.[0-9]* s" ||
  fail "silent: the worker did not hang up after its 10 s connect timeout: $phase_plog"
# One return only: the forwarding one at the end, never the silent peer.
[ "$(printf '%s\n' "$phase_log" | grep -c "back after")" -le 1 ] ||
  fail "silent: a peer that never answered was counted as the connection back: $phase_log"

# Reset as soon as accepted: never a connection made, so the worker's log
# has the loss (the proxy cut the forwarding one) and no return; it tries
# again with backoff (the failed attempts are summed up after 30 s).
phase reset 8
log_has reset "lost the connection to $paddr"
[ "$(printf '%s\n' "$phase_log" | grep -c "back after")" -le 1 ] ||
  fail "reset: a peer that reset at once was counted as the connection back: $phase_log"
[ "$conns" -ge 2 ] && [ "$conns" -le 40 ] || fail "reset: $conns connection(s) in 8 s"

# Frames nghttp2 must parse and that need no answer, as fast as they come:
# the worker gives each such connection up at once (10,000 in a row), and
# the reconnect backoff keeps it from spending its CPU on the next ones.
for f in window-update empty-data; do
  phase "flood:$f" 6
  log_has "flood:$f" "flood: 10001 frames in a row carrying nothing"
  ended_within flood 2
done

# Idle again: no loop left behind by any of it, no descriptor kept.
c0=$(cpu); s=$(now)
sleep 5
pct=$(calc "round(100.0 * ($(cpu) - $c0) / $tck / ($(now) - $s), 1)")
python3 -c "import sys; sys.exit(0 if $pct < 10 else 1)" ||
  fail "the worker uses $pct% CPU idle after the phases"
fds1=$(fds)
[ "$fds1" -le $((fds0 + 4)) ] ||
  fail "descriptors: $fds0 before the phases, $fds1 after: $(ls -l "/proc/$pid/fd")"
ok "idle after the phases: CPU $pct%, $fds1 descriptors (before: $fds0), RSS $(rss) kB (before: $rss0)"

stop_worker w "$pid"
python3 - "$TWE_IT_TMP/w.stats" <<'PY' || fail "stats: $(cat "$TWE_IT_TMP/w.stats")"
import json, sys
s = json.load(open(sys.argv[1]))
print("stats: " + ", ".join("%s %s" % (k, s[k]) for k in
                            ("connection_losses", "reconnects", "calls_failed", "polls_failed")))
# A loss at least in each hostile phase (the proxy cuts its connections when
# the mode changes), and back each time.
assert s["connection_losses"] >= 10 and s["reconnects"] >= 10, s
PY
printf '  %s\n' "${summary[@]}"
echo "connections per mode/sub-case: $(grep -o "counts so far .*" "$plog" | tail -1)"
ok "hostile server: ${#summary[@]} modes in $(($(date +%s) - started)) s; the worker survived each and served after"
