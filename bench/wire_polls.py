#!/usr/bin/env python3
"""bench/wire_polls.py — task schedule-to-start as the server reports it,
read beside the worker's polls on the wire: for each task a poll brought,
whether the worker had a poll waiting at the server when the task was
scheduled. If it had, the wait until the task was handed out is the
server's own (history's transfer queue, matching), not the worker's.

    wire_polls.py --pcap F --server-port P --worker-ports "A B ..."
                  [--slow-ms 5] [--lead-ms 1]

Prints one JSON object. It uses wire_split.py's reader (read_connections:
TCP reassembly, HTTP/2 DATA frames, gRPC messages, gzip inflated), so it
serves any worker.

How it reads, per HTTP/2 stream of a worker connection:
  - a poll: a request whose field 1 is text (the namespace), field 3 text
    (the identity) and field 2 a TaskQueue (field 1 its name, field 2 its
    kind, a number: 1 normal, 2 sticky; no field past 3). Workflow and
    activity polls have that shape (and their answers tell them apart); the
    other calls a worker makes do not: the completions and heartbeats begin
    with a binary task token, and a history fetch carries a
    WorkflowExecution (its field 2, the run id, is text) and a page size
    (field 3, a number);
  - its answer: empty (the long poll ended with no task), a workflow task
    (field 13, started_time, is a Timestamp; field 12 scheduled_time) or an
    activity task (field 13 is the attempt, a number; field 11 the current
    attempt's scheduled time, field 12 started_time).
The server's times and the capture's share the host's clock.

Per task kind (workflow tasks on the normal queue, on the sticky queue;
activity tasks), in milliseconds (n, p50, p90, p99, max):
  schedule_to_start  started_time - scheduled time (the server's figure);
  started_to_wire    started_time -> the answer on the wire;
  slow               the tasks whose schedule-to-start went over --slow-ms:
                     how many, and how many of them had a poll of the
                     worker on their queue waiting at the server all along:
                     sent at least --lead-ms before the task was scheduled
                     and not matched to any task (nor answered empty)
                     before this one started (the poll that brought it
                     counts, if it came that early) ("poll_waiting"),
                     with the schedule-to-start of those. A poll that brought
                     no task counts on a sticky queue only (see by_queue).
Polls: how many per queue kind, how many came back empty, and how many
were still open when the capture ended.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire_split import quantiles, read_connections  # noqa: E402


def fields(msg):
    """Top-level fields of a protobuf message: {number: [(wire_type, value)]}
    (value: an int, or bytes for length-delimited). None if it does not
    parse as a message."""
    out = {}
    i, n = 0, len(msg)

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            if i >= n or shift > 63:
                raise ValueError
            b = msg[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    try:
        while i < n:
            key = varint()
            num, wt = key >> 3, key & 7
            if num == 0:
                return None
            if wt == 0:
                val = varint()
            elif wt == 1:
                if i + 8 > n:
                    return None
                val = int.from_bytes(msg[i:i + 8], "little")
                i += 8
            elif wt == 2:
                ln = varint()
                if i + ln > n:
                    return None
                val = msg[i:i + ln]
                i += ln
            elif wt == 5:
                if i + 4 > n:
                    return None
                val = int.from_bytes(msg[i:i + 4], "little")
                i += 4
            else:
                return None
            out.setdefault(num, []).append((wt, val))
    except ValueError:
        return None
    return out


def one(fs, num, wt):
    """The last value of field num if it has wire type wt, else None."""
    v = fs.get(num) if fs else None
    return v[-1][1] if v and v[-1][0] == wt else None


def text(b):
    if b is None:
        return None
    try:
        s = b.decode()
    except UnicodeDecodeError:
        return None
    return s if s and s.isprintable() else None


def timestamp_ns(b):
    fs = fields(b) if b is not None else None
    if fs is None:
        return None
    return (one(fs, 1, 0) or 0) * 1_000_000_000 + (one(fs, 2, 0) or 0)


def poll_queue(msg):
    """(queue name, kind) if msg is a poll request, else None."""
    fs = fields(msg)
    if not fs or text(one(fs, 1, 2)) is None or text(one(fs, 3, 2)) is None:
        return None
    tq = one(fs, 2, 2)
    tfs = fields(tq) if tq is not None else None
    name = text(one(tfs, 1, 2)) if tfs else None
    if name is None or set(tfs) - {1, 2, 3} or any(wt != 0 for wt, _ in tfs.get(2, [])):
        return None
    return name, one(tfs, 2, 0) or 1


def task(msg):
    """(kind, scheduled_ns, started_ns) of a poll's answer, or None if it
    brought no task. kind: "workflow" or "activity"."""
    fs = fields(msg)
    if not fs or one(fs, 1, 2) is None:
        return None
    if one(fs, 13, 2) is not None:
        return "workflow", timestamp_ns(one(fs, 12, 2)), timestamp_ns(one(fs, 13, 2))
    return "activity", timestamp_ns(one(fs, 11, 2)), timestamp_ns(one(fs, 12, 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--server-port", type=int, required=True)
    ap.add_argument("--worker-ports", required=True, help="the worker's local ports, space-separated")
    ap.add_argument("--slow-ms", type=float, default=5.0)
    ap.add_argument("--lead-ms", type=float, default=1.0)
    a = ap.parse_args()
    worker_ports = {int(p) for p in a.worker_ports.split()}
    if not worker_ports:
        raise SystemExit("wire_polls: no worker port")
    polls = {}  # (port, stream) -> {"queue", "kind", "sent", "answered", "task"}

    def handler(port, direction):
        def on_message(t, msg, sid):
            key = (port, sid)
            if direction == "out":
                q = poll_queue(msg)
                if q is not None and key not in polls:
                    polls[key] = {"queue": q[0], "kind": q[1], "sent": t, "answered": None, "task": None}
            else:
                p = polls.get(key)
                if p is not None and p["answered"] is None:
                    p["answered"] = t
                    p["task"] = task(msg)
        return on_message

    connections, counts = read_connections(a.pcap, a.server_port, worker_ports, handler)

    # Polls by queue and by what they poll for. Workflow and activity polls
    # share the normal queue's name, and only an answer with a task says which
    # a poll was: one that ended empty or was still open is taken for a
    # workflow poll on a sticky queue (nothing else polls one), and left out
    # on the normal queue (so "a poll waiting" may miss some there, never
    # finds one that was not).
    by_queue = {}
    for p in polls.values():
        if p["task"] is not None:
            what = p["task"][0]
        elif p["kind"] == 2:
            what = "workflow"
        else:
            continue
        by_queue.setdefault((p["queue"], what), []).append(p)
    slow_ns, lead_ns = a.slow_ms * 1e6, a.lead_ms * 1e6

    def free_until(o):
        """When poll o stopped waiting at the server: its task's started
        time (the match), else its empty answer, else never."""
        if o["task"] is not None and o["task"][2] is not None:
            return o["task"][2]
        return o["answered"] if o["answered"] is not None else float("inf")

    groups = {}
    poll_counts = {}
    for p in polls.values():
        pk = "sticky" if p["kind"] == 2 else "normal"
        c = poll_counts.setdefault(pk, {"polls": 0, "empty": 0, "open_at_end": 0})
        c["polls"] += 1
        if p["answered"] is None:
            c["open_at_end"] += 1
        elif p["task"] is None:
            c["empty"] += 1
        if p["task"] is None:
            continue
        kind, sched, started = p["task"]
        if sched is None or started is None:
            continue
        g = "activity" if kind == "activity" else f"workflow_{pk}"
        r = groups.setdefault(g, {"s2s": [], "to_wire": [], "slow": [], "slow_waiting": []})
        s2s = (started - sched) / 1e6
        r["s2s"].append(s2s)
        r["to_wire"].append((p["answered"] - started) / 1e6)
        if s2s * 1e6 > slow_ns:
            r["slow"].append(s2s)
            waiting = any(o["sent"] <= sched - lead_ns and free_until(o) >= started
                          for o in by_queue[(p["queue"], kind)])
            if waiting:
                r["slow_waiting"].append(s2s)
    out = {"worker_connections": connections, **counts, "polls": poll_counts,
           "slow_ms": a.slow_ms, "lead_ms": a.lead_ms}
    for g, r in sorted(groups.items()):
        out[g] = {"tasks": len(r["s2s"]), "schedule_to_start_ms": quantiles(r["s2s"]),
                  "started_to_wire_ms": quantiles(r["to_wire"]),
                  "slow": len(r["slow"]), "slow_poll_waiting": len(r["slow_waiting"]),
                  "slow_poll_waiting_ms": quantiles(r["slow_waiting"])}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
