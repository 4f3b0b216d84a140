#!/usr/bin/env bash
# tests/integration/test_devserver_namespace.sh — the fixture's dev server is
# real and usable: create a namespace and describe it, start a workflow,
# see it running, terminate it, see it terminated, and get a clear failure
# for a namespace that does not exist. Driven with the Temporal CLI until
# twe's own gRPC client exists.
#
# Needs TEMPORAL_ADDRESS and TEMPORAL_CLI (tests/support/run_integration).
set -euo pipefail
: "${TEMPORAL_ADDRESS:?set by tests/support/run_integration}"
: "${TEMPORAL_CLI:?set by tests/support/run_integration}"

t() { "$TEMPORAL_CLI" --address "$TEMPORAL_ADDRESS" --command-timeout 20s "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# json_get FILE EXPR: a field of a JSON document, by Python expression on `d`.
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ns="twe-it-$$-$RANDOM"

t operator namespace create --namespace "$ns" --retention 24h >"$tmp/create.out" 2>&1 ||
  { cat "$tmp/create.out"; fail "namespace create $ns"; }
# Namespace registration reaches the frontend's cache asynchronously.
for _ in $(seq 1 40); do
  t operator namespace describe --namespace "$ns" -o json >"$tmp/ns.json" 2>/dev/null && break
  sleep 0.25
done
[ "$(json_get "$tmp/ns.json" 'd["namespaceInfo"]["name"]')" = "$ns" ] || fail "describe did not return $ns"
[ "$(json_get "$tmp/ns.json" 'd["namespaceInfo"]["state"]')" = "NAMESPACE_STATE_REGISTERED" ] ||
  fail "namespace $ns is not registered: $(cat "$tmp/ns.json")"
echo "ok: namespace $ns registered"

if t operator namespace describe --namespace "no-such-ns-$$" >"$tmp/missing.out" 2>&1; then
  fail "describing a missing namespace succeeded"
fi
grep -qi "not found\|NotFound" "$tmp/missing.out" || fail "missing namespace error unclear: $(cat "$tmp/missing.out")"
echo "ok: missing namespace reported as not found"

wf="wf-$$"
t workflow start --namespace default --task-queue twe-it --type Hello --workflow-id "$wf" \
  --input '"world"' >"$tmp/start.out" 2>&1 || { cat "$tmp/start.out"; fail "workflow start"; }
t workflow describe --namespace default --workflow-id "$wf" -o json >"$tmp/wf.json"
[ "$(json_get "$tmp/wf.json" 'd["workflowExecutionInfo"]["status"]')" = "WORKFLOW_EXECUTION_STATUS_RUNNING" ] ||
  fail "workflow $wf not running: $(cat "$tmp/wf.json")"
[ "$(json_get "$tmp/wf.json" 'd["workflowExecutionInfo"]["type"]["name"]')" = "Hello" ] || fail "workflow type"
echo "ok: workflow $wf running"

t workflow terminate --namespace default --workflow-id "$wf" --reason "integration test" >/dev/null
t workflow describe --namespace default --workflow-id "$wf" -o json >"$tmp/wf.json"
[ "$(json_get "$tmp/wf.json" 'd["workflowExecutionInfo"]["status"]')" = "WORKFLOW_EXECUTION_STATUS_TERMINATED" ] ||
  fail "workflow $wf not terminated: $(cat "$tmp/wf.json")"
echo "ok: workflow $wf terminated"
