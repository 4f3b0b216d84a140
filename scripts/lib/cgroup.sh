# scripts/lib/cgroup.sh — removing a cgroup (v1) that a bench or a test
# made for a worker, shared by bench/lib.sh and tests/integration/lib.sh.
# Source it.

# twe_cgroup_remove DIR — kills what is left in the cgroup DIR (up to 5 s),
# removes the child groups in it (a twe worker killed before its stop
# leaves its activity CPU group, empty once its threads are gone), then
# DIR. Returns 1 when DIR could not be removed.
twe_cgroup_remove() {
  local dir=$1 i p child
  for ((i = 0; i < 50; i++)); do
    # cgroupfs files report size 0: read it, [ -s ] is always false.
    [ -n "$(cat "$dir/cgroup.procs" 2>/dev/null)" ] || break
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$dir/cgroup.procs"
    sleep 0.1
  done
  for child in "$dir"/*/; do if [ -d "$child" ]; then rmdir "$child" 2>/dev/null || true; fi; done
  rmdir "$dir" 2>/dev/null
}
