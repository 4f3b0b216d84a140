#!/usr/bin/env python3
"""bench/fanout_driver.py — the neutral side of bench/run_fanout_bench.sh:
starts Fanout workflows, waits for them, and reads what the server recorded.
The same for every worker under test (twe's examples/fanout, the Python
SDK's bench/peers/python/fanout_worker.py); runs in the bench venv that
bench/bootstrap makes (the temporalio client; matplotlib for `report`).

    fanout_driver.py run --task-queue Q --workflows W --inputs N
                         --block-min-ms A --block-max-ms B --burn-ms C
                         --deadline S [--runaway cpu|block]
                         [--address HOST:PORT] [--namespace NS]
                         [--id-prefix P] [--keep]
    fanout_driver.py report ROWS.jsonl --md OUT.md [--png OUT.png]
                         [--title T] [--note TEXT]...

`run` starts W workflows of type "Fanout" at once with the input
{"inputs":N,"block_min_ms":A,"block_max_ms":B,"burn_ms":C}, waits for their
results until S seconds after the first start (a workflow still open then
means the worker stalled), then fetches every history and prints ONE JSON
line: completion times (first to last event of each closed run; and
completion_span_s, the first run's start to the last closed run's close), workflow
task counts (timed out by type, failed, TMPRL1101 = failed with "TMPRL1101"
or "deadlock" in the message), workflow-task schedule-to-start
(WORKFLOW_TASK_SCHEDULED -> STARTED), execution (STARTED -> COMPLETED) and
scheduled -> completed latencies over every task in the histories. Open
runs are described (their last event; the workflow task the server holds
for them: state, attempt) and terminated (unless --keep) so the next
configuration starts clean. Histories only hold the first failed attempt of
a workflow task: the server's retries of a failing task are transient
(PROTOCOL.md).

--runaway also starts, with the Fanout workflows, one workflow of twe's
examples/fanout that never completes: RunawayCpu (a busy loop) or
RunawayBlock (a blocking read), with the server's default workflow task
timeout. Nothing waits for its result and nothing above counts it. Once the
Fanout workflows are done, and the server has handed its workflow task out
a second time (its first attempt over; or the deadline passed), it is
described (its pending workflow task: state, attempt = how many times the
server has handed the task out), its history read (the first failure of its
task: the watchdog's message) and terminated (unless --keep); the JSON line
gets it as "runaway" (waited_s: how long that second attempt was waited
for after the Fanout workflows).

`report` turns the rows run_fanout_bench.sh collected (the driver's JSON
plus the worker's CPU, RSS and stats) into the markdown tables and the PNG;
rows written before a field existed show "-" for it.
With TWE_BENCH_HISTORY_DUMP set to a directory, `run` also writes every
history it read there, one JSON line per run (the server's JSON form of the
History message) in <id-prefix>.jsonl, for looking at single tasks.
Progress goes to stderr.
"""

import argparse
import asyncio
import json
import math
import os
import sys
import time


def log(msg: str) -> None:
    print(f"fanout_driver: {msg}", file=sys.stderr, flush=True)


def pct(values, q):
    """Nearest-rank percentile (q in 0..1) of a list, None if empty."""
    if not values:
        return None
    v = sorted(values)
    return v[max(0, min(len(v) - 1, math.ceil(q * len(v)) - 1))]


def summary_ms(values_s):
    ms = [x * 1000.0 for x in values_s]
    r = lambda x: None if x is None else round(x, 1)
    return {"n": len(ms), "p50": r(pct(ms, 0.5)), "p99": r(pct(ms, 0.99)),
            "max": r(max(ms) if ms else None)}


# --- run ----------------------------------------------------------------------

def ts(event) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


def analyse(histories):
    """Counts and latencies over the events of every history."""
    from temporalio.api.enums.v1 import EventType as E, TimeoutType

    out = {"wft_scheduled": 0, "wft_completed": 0, "wft_timed_out": 0,
           "wft_timed_out_start_to_close": 0, "wft_timed_out_schedule_to_start": 0,
           "wft_failed": 0, "tmprl1101": 0, "wft_failed_causes": {},
           "activity_timed_out": 0, "activity_failed": 0}
    s2s, exe, s2c = [], [], []
    # Schedule-to-start by the queue the task was scheduled on (the sticky
    # queue of the worker that has the run cached, or the normal one).
    s2s_kind = {"sticky": [], "normal": []}
    first_failure = None
    last_event = 0.0
    for events in histories:
        when, sticky = {}, set()
        for e in events:
            t = ts(e)
            when[e.event_id] = t
            last_event = max(last_event, t)
            et = e.event_type
            if et == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                out["wft_scheduled"] += 1
                if e.workflow_task_scheduled_event_attributes.task_queue.kind == 2:  # STICKY
                    sticky.add(e.event_id)
            elif et == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                a = e.workflow_task_started_event_attributes
                if a.scheduled_event_id in when:
                    d = t - when[a.scheduled_event_id]
                    s2s.append(d)
                    s2s_kind["sticky" if a.scheduled_event_id in sticky else "normal"].append(d)
            elif et == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                out["wft_completed"] += 1
                a = e.workflow_task_completed_event_attributes
                if a.started_event_id in when:
                    exe.append(t - when[a.started_event_id])
                if a.scheduled_event_id in when:
                    s2c.append(t - when[a.scheduled_event_id])
            elif et == E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                out["wft_timed_out"] += 1
                tt = e.workflow_task_timed_out_event_attributes.timeout_type
                if tt == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START:
                    out["wft_timed_out_schedule_to_start"] += 1
                else:
                    out["wft_timed_out_start_to_close"] += 1
            elif et == E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                out["wft_failed"] += 1
                a = e.workflow_task_failed_event_attributes
                msg = a.failure.message or ""
                cause = str(a.cause)
                try:
                    from temporalio.api.enums.v1 import WorkflowTaskFailedCause
                    cause = WorkflowTaskFailedCause.Name(a.cause)
                except Exception:
                    pass
                out["wft_failed_causes"][cause] = out["wft_failed_causes"].get(cause, 0) + 1
                if "tmprl1101" in msg.lower() or "deadlock" in msg.lower():
                    out["tmprl1101"] += 1
                if first_failure is None:
                    first_failure = msg[:300]
            elif et == E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
                out["activity_timed_out"] += 1
            elif et == E.EVENT_TYPE_ACTIVITY_TASK_FAILED:
                out["activity_failed"] += 1
    out["wft_schedule_to_start_ms"] = summary_ms(s2s)
    out["wft_schedule_to_start_sticky_ms"] = summary_ms(s2s_kind["sticky"])
    out["wft_schedule_to_start_normal_ms"] = summary_ms(s2s_kind["normal"])
    out["wft_execution_ms"] = summary_ms(exe)
    out["wft_scheduled_to_completed_ms"] = summary_ms(s2c)
    out["first_wft_failure"] = first_failure
    return out, last_event


def pending_wft(p, now):
    """The pending workflow task of a DescribeWorkflowExecution answer: its
    state and attempt (a failing task's retries are only counted here)."""
    from temporalio.api.enums.v1 import PendingWorkflowTaskState

    def age(t):
        return round(now - (t.seconds + t.nanos / 1e9), 1)
    return {"state": PendingWorkflowTaskState.Name(p.state).replace("PENDING_WORKFLOW_TASK_STATE_", ""),
            "attempt": p.attempt,
            "scheduled_age_s": age(p.scheduled_time) if p.HasField("scheduled_time") else None,
            "original_scheduled_age_s": age(p.original_scheduled_time)
            if p.HasField("original_scheduled_time") else None}


async def runaway_info(h, wtype, m0, deadline, keep):
    """What the server holds for the runaway workflow, read before it is
    terminated: its pending task, and the counts and first task failure of
    its history. Waits first, until the deadline at most, for the server to
    hand its task out a second time: the first attempt is then over (the
    watchdog's verdict on it is in the history)."""
    from temporalio.client import WorkflowExecutionStatus

    info = {"type": wtype, "id": h.id}
    try:
        w0 = time.monotonic()
        while True:
            d = await h.describe()
            rd = d.raw_description
            if (rd.HasField("pending_workflow_task") and rd.pending_workflow_task.attempt >= 2
                    or time.monotonic() - m0 >= deadline):
                break
            await asyncio.sleep(0.2)
        info["waited_s"] = round(time.monotonic() - w0, 1)
        if rd.HasField("pending_workflow_task"):
            info["pending_wft"] = pending_wft(rd.pending_workflow_task, time.time())
        ev = list((await h.fetch_history()).events)
        counts, _ = analyse([ev])
        info.update(events=len(ev), wft_failed=counts["wft_failed"],
                    wft_timed_out=counts["wft_timed_out"],
                    first_wft_failure=counts["first_wft_failure"])
        if not keep and d.status == WorkflowExecutionStatus.RUNNING:
            await h.terminate(reason="fanout bench: the row is over")
            info["terminated"] = True
    except Exception as e:
        log(f"describe/terminate {h.id}: {e!r}")
    log(f"runaway: {json.dumps(info)}")
    return info


RUNAWAY_TYPES = {"cpu": "RunawayCpu", "block": "RunawayBlock"}


async def run(args) -> int:
    from temporalio.client import Client, WorkflowExecutionStatus

    client = await Client.connect(args.address, namespace=args.namespace)
    arg = {"inputs": args.inputs, "block_min_ms": args.block_min_ms,
           "block_max_ms": args.block_max_ms, "burn_ms": args.burn_ms}
    prefix = args.id_prefix or f"fanout-{args.task_queue}-"
    ids = [f"{prefix}{k}" for k in range(args.workflows)]
    starts = [client.start_workflow("Fanout", arg, id=wid, task_queue=args.task_queue)
              for wid in ids]
    runaway_type = RUNAWAY_TYPES.get(args.runaway)
    if runaway_type:
        starts.append(client.start_workflow(runaway_type, id=f"{prefix}runaway-{args.runaway}",
                                            task_queue=args.task_queue))
    m0 = time.monotonic()
    handles = await asyncio.gather(*starts)
    runaway = handles.pop() if runaway_type else None
    log(f"started {len(handles)} Fanout workflows{' and ' + runaway_type if runaway else ''} "
        f"on {args.task_queue} in {time.monotonic() - m0:.2f} s, input {json.dumps(arg)}, "
        f"deadline {args.deadline} s")

    async def result(h):
        return await h.result()

    tasks = {asyncio.create_task(result(h)): h.id for h in handles}
    results, errors = {}, {}
    pending = set(tasks)
    next_log = 10.0
    while pending:
        left = args.deadline - (time.monotonic() - m0)
        if left <= 0:
            break
        done, pending = await asyncio.wait(pending, timeout=min(left, 1.0))
        for t in done:
            wid = tasks[t]
            if t.exception() is not None:
                errors[wid] = repr(t.exception())[:300]
            else:
                results[wid] = t.result()
        el = time.monotonic() - m0
        if el >= next_log:
            next_log = el + 10.0
            log(f"{el:.0f} s: {len(results)}/{len(handles)} completed, {len(errors)} failed")
    waited = time.monotonic() - m0
    for t in pending:
        t.cancel()
    log(f"{len(results)}/{len(handles)} completed in {waited:.1f} s"
        + (f"; {len(pending)} still open at the deadline" if pending else ""))

    # Histories (open runs too: what happened until now).
    histories, completion_s, closed_s, whole = [], [], [], []
    first_start = None
    for h in handles:
        hist = await h.fetch_history()
        whole.append(hist)
        ev = list(hist.events)
        histories.append(ev)
        if ev:
            first_start = ts(ev[0]) if first_start is None else min(first_start, ts(ev[0]))
        if h.id in results and ev:
            completion_s.append(ts(ev[-1]) - ts(ev[0]))
            closed_s.append(ts(ev[-1]))
    counts, last_event = analyse(histories)
    now = time.time()
    dump = os.environ.get("TWE_BENCH_HISTORY_DUMP")
    if dump:
        os.makedirs(dump, exist_ok=True)
        with open(os.path.join(dump, f"{args.id_prefix or args.task_queue}.jsonl"), "w") as f:
            for hist in whole:
                f.write(json.dumps(hist.to_json_dict()) + "\n")

    ok = sum(1 for r in results.values()
             if isinstance(r, dict) and r.get("inputs") == args.inputs
             and r.get("activities") == 4 * args.inputs + 4)
    out = {
        "task_queue": args.task_queue, "workflows": args.workflows, "input": arg,
        "deadline_s": args.deadline, "completed": len(results), "results_ok": ok,
        "failed": len(errors), "open_at_deadline": len(pending),
        "stalled": len(pending) > 0,
        # How long before the end nothing happened in any history: large with
        # open runs = the worker had stopped making progress.
        "quiet_before_end_s": round(now - last_event, 1) if last_event else None,
        "wall_s": round(waited, 1),
        "completion_s": {"n": len(completion_s),
                         "p50": None if not completion_s else round(pct(completion_s, 0.5), 2),
                         "max": None if not completion_s else round(max(completion_s), 2)},
        # The first workflow's start to the last completed one's close.
        "completion_span_s": round(max(closed_s) - first_start, 2) if closed_s else None,
        "events": sum(len(e) for e in histories),
    }
    out.update(counts)
    if errors:
        out["first_error"] = next(iter(errors.values()))
    # Why an open run is stuck: its last event, and the workflow task the
    # server holds for it (a failing task's retries are not in the history,
    # only here: their attempt count and state).
    from temporalio.api.enums.v1 import EventType
    open_runs = []
    for h, ev in zip(handles, histories):
        if h.id in results or h.id in errors:
            continue
        info = {"id": h.id, "events": len(ev)}
        if ev:
            info["last_event"] = EventType.Name(ev[-1].event_type).replace("EVENT_TYPE_", "")
            info["last_event_age_s"] = round(now - ts(ev[-1]), 1)
        try:
            d = await h.describe()
            if d.raw_description.HasField("pending_workflow_task"):
                info["pending_wft"] = pending_wft(d.raw_description.pending_workflow_task, now)
            info["pending_activities"] = len(d.raw_description.pending_activities)
            if not args.keep and d.status == WorkflowExecutionStatus.RUNNING:
                await h.terminate(reason="fanout bench: deadline passed")
                info["terminated"] = True
        except Exception as e:
            log(f"describe/terminate {h.id}: {e!r}")
        open_runs.append(info)
        log(f"open at the deadline: {json.dumps(info)}")
    if open_runs:
        out["open_runs"] = open_runs
    if runaway:
        out["runaway"] = await runaway_info(runaway, runaway_type, m0, args.deadline, args.keep)
    print(json.dumps(out), flush=True)
    return 0


# --- report -------------------------------------------------------------------

def fmt(x, nd=0):
    if x is None:
        return "-"
    return f"{x:.{nd}f}"


def stalled_text(d):
    if not d.get("stalled"):
        return "no"
    q = d.get("quiet_before_end_s")
    text = f"yes ({d['open_at_deadline']} open at {d['deadline_s']:.0f} s"
    if q is not None:
        text += f"; no event for the last {q:.0f} s"
    tasks = [o["pending_wft"] for o in d.get("open_runs", []) if o.get("pending_wft")]
    if tasks:
        text += "; pending WFT " + ", ".join(f"{t['state'].lower()} attempt {t['attempt']}" for t in tasks)
    return text + ")"


def worker_activities(st):
    if "activities_total" in st:
        return str(st["activities_total"])
    if "activities_completed" in st:
        return str(st["activities_completed"] + st.get("activities_failed", 0))
    return "-"


def worker_view(r, st):
    """A few counters that explain the row, per kind of worker."""
    parts = []
    if "loop_lag_max_s" in st:  # the Python peer
        parts.append(f"event loop blocked up to {st['loop_lag_max_s']:.1f} s, "
                     f"{st['loop_blocked_over_2s']} times > 2 s, "
                     f"{st['loop_lag_total_s']:.0f} s in all")
    elif "workflow_tasks_completed" in st:  # twe's examples/fanout
        parts.append(f"{st['workflow_tasks_completed']} WFT completed, "
                     f"{st['workflow_tasks_failed']} failed; watchdog warnings "
                     f"{st['watchdog_cpu_warnings']} CPU / {st['watchdog_blocked_warnings']} blocked, "
                     f"{st['watchdog_preemptions']} preemptions")
    else:
        parts.append("no stats line")
    if r.get("worker_log_lines"):
        parts.append(f"{r['worker_log_lines']} log lines beyond start-up")
    if r.get("stop") == "killed":
        parts.append("**did not stop within 30 s of SIGTERM: killed**")
    elif r.get("exit_status"):
        parts.append(f"exit status {r['exit_status']} after SIGTERM")
    return "; ".join(parts)


def cell(text, limit=200):
    """Free text for a table cell: one line, no column breaks, at most limit characters."""
    text = " ".join((text or "-").split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def runaway_table(rows):
    """The runaway rows' own table (none when no row has a runaway)."""
    rows = [r for r in rows if (r.get("driver") or {}).get("runaway")]
    if not rows:
        return []
    lines = ["", "The runaway in the runaway rows (not counted above): how many times the server "
             "had handed its workflow task out (the pending task's attempt, read at the end of the "
             "row, before the runaway was terminated; the row waited after the Fanout workflows "
             "until the first attempt was over), and what the worker counted in the whole row (its "
             "last stats line, after SIGTERM: a task still running at the end may add a preemption):",
             "",
             "| worker | config | runaway | its WFT attempts | pending WFT | waited for it s "
             "| watchdog preemptions | threads retired | WFT held | WFT slices "
             "| its task's first failure (history) | watchdog (the worker's start-up line) |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        ra, st = r["driver"]["runaway"], r.get("worker_stats") or {}
        p = ra.get("pending_wft") or {}
        lines.append(
            f"| {r['worker']} | {r['config']} | {ra['type']} | {fmt(p.get('attempt'))} "
            f"| {p.get('state', 'none').lower()} | {fmt(ra.get('waited_s'), 1)} "
            f"| {fmt(st.get('watchdog_preemptions'))} "
            f"| {fmt(st.get('threads_retired'))} | {fmt(st.get('workflow_tasks_held'))} "
            f"| {fmt(st.get('workflow_task_slices'))} | {cell(ra.get('first_wft_failure'))} "
            f"| {cell(r.get('watchdog'))} |")
    return lines


def report(args) -> int:
    rows = [json.loads(line) for line in open(args.rows) if line.strip()]
    lines = []
    if args.title:
        lines += [f"# {args.title}", ""]
    for n in args.note or []:
        lines += [n, ""]
    lines += [
        "| worker | config | completed | completion p50 s | completion max s "
        "| WFT sched-to-start p50 ms | p99 ms | max ms | WFT execution p50 ms | p99 ms "
        "| WFT sched -> completed max ms "
        "| WFT timed out | WFT failed | TMPRL1101 | stalled? | worker CPU s | peak RSS MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        d = r.get("driver") or {}
        if not d:
            lines.append(f"| {r['worker']} | {r['config']} | driver failed | | | | | | | | | | | | | "
                         f"{fmt(r.get('cpu_s'), 1)} | {fmt(r.get('peak_rss_mib'), 1)} |")
            continue
        s2s, exe, comp = d["wft_schedule_to_start_ms"], d["wft_execution_ms"], d["completion_s"]
        s2c = d.get("wft_scheduled_to_completed_ms") or {}
        to = d["wft_timed_out"]
        to_txt = str(to) if not to else (
            f"{to} ({d['wft_timed_out_start_to_close']} start-to-close, "
            f"{d['wft_timed_out_schedule_to_start']} sched-to-start)")
        lines.append(
            f"| {r['worker']} | {r['config']} | {d['completed']}/{d['workflows']} "
            f"| {fmt(comp['p50'], 1)} | {fmt(comp['max'], 1)} "
            f"| {fmt(s2s['p50'], 1)} | {fmt(s2s['p99'], 1)} | {fmt(s2s['max'], 1)} "
            f"| {fmt(exe['p50'], 1)} | {fmt(exe['p99'], 1)} | {fmt(s2c.get('max'), 1)} "
            f"| {to_txt} | {d['wft_failed']} | {d['tmprl1101']} | {stalled_text(d)} "
            f"| {fmt(r.get('cpu_s'), 1)} | {fmt(r.get('peak_rss_mib'), 1)} |")
    lines += runaway_table(rows)
    lines += ["", "What the workers said (their own counters, at SIGTERM), and how they stopped:", "",
              "| worker | config | load avg before | driver wall s | activities run | worker's view |",
              "|---|---|---:|---:|---:|---|"]
    for r in rows:
        d, st = r.get("driver") or {}, r.get("worker_stats") or {}
        lines.append(f"| {r['worker']} | {r['config']} | {fmt(r.get('loadavg_before'), 2)} "
                     f"| {fmt(d.get('wall_s'), 1)} "
                     f"| {worker_activities(st)} | {worker_view(r, st)} |")
    lines.append("")
    text = "\n".join(lines)
    with open(args.md, "w") as f:
        f.write(text + "\n")
    print(text)
    if args.png:
        plot(rows, args.png, args.title)
    return 0


def plot(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("driver")]
    if not rows:
        return

    def label(r):
        w = r["worker"].replace(" (Python ", "\nPython ").rstrip(")") if "(Python" in r["worker"] else r["worker"]
        config = r["config"].replace(" + ", "\n+ ")
        return f"{w}\n{config}"

    series = [("WFT schedule-to-start p50", "wft_schedule_to_start_ms", "p50", "#9ecae1"),
              ("WFT schedule-to-start p99", "wft_schedule_to_start_ms", "p99", "#3182bd"),
              ("WFT execution p50", "wft_execution_ms", "p50", "#fdae6b"),
              ("WFT execution p99", "wft_execution_ms", "p99", "#e6550d"),
              ("WFT scheduled -> completed max", "wft_scheduled_to_completed_ms", "max", "#756bb1")]
    fig, ax = plt.subplots(figsize=(max(7, 1.7 * len(rows) + 2), 5.8))
    width = 0.8 / len(series)
    top = 0.1
    for k, (name, key, q, color) in enumerate(series):
        # Rows written before a series existed have no bar for it.
        have = [i for i, r in enumerate(rows) if key in r["driver"]]
        if not have:
            continue
        xs = [i + (k - (len(series) - 1) / 2) * width for i in have]
        # Floor at 0.1 ms so that a zero still shows on the log axis.
        ys = [max(0.1, rows[i]["driver"][key][q] or 0.1) for i in have]
        top = max([top, *ys])
        ax.bar(xs, ys, width, label=name, color=color)
    ax.set_yscale("log")
    ax.set_ylim(0.08, max(top, 10000) * 30)
    ax.set_ylabel("ms (log; 0 drawn as 0.1)")
    for y, text, color, style in ((10000, "10 s: workflow task timeout", "red", "--"),
                                  (2000, "2 s: Python SDK deadlock timer (TMPRL1101)", "gray", ":")):
        ax.axhline(y, color=color, linestyle=style, linewidth=1)
        ax.text(-0.45, y * 1.08, text, color=color, fontsize=7, va="bottom")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([label(r) for r in rows], fontsize=7)
    for i, r in enumerate(rows):
        d = r["driver"]
        note = f"{d['completed']}/{d['workflows']} done"
        if d.get("completion_s", {}).get("max") is not None:
            note += f", max {d['completion_s']['max']:.0f} s"
        note += f"\nWFT timed out {d['wft_timed_out']}, failed {d['wft_failed']}"
        if d.get("stalled"):
            note += "\nSTALLED"
        ra = d.get("runaway")
        if ra:
            note += f"\n{ra['type']}: attempt {fmt((ra.get('pending_wft') or {}).get('attempt'))}"
        ax.text(i, max(top, 10000) * 25, note, ha="center", va="top", fontsize=7)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    ax.set_title(title or "Fanout: workflow task latency", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    log(f"wrote {path}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--address", default=None)
    r.add_argument("--namespace", default="default")
    r.add_argument("--task-queue", required=True)
    r.add_argument("--workflows", type=int, required=True)
    r.add_argument("--inputs", type=int, required=True)
    r.add_argument("--block-min-ms", type=int, required=True)
    r.add_argument("--block-max-ms", type=int, required=True)
    r.add_argument("--burn-ms", type=int, required=True)
    r.add_argument("--deadline", type=float, required=True)
    r.add_argument("--runaway", choices=sorted(RUNAWAY_TYPES),
                   help="also start one runaway workflow (twe's examples/fanout)")
    r.add_argument("--id-prefix", default=None)
    r.add_argument("--keep", action="store_true", help="leave open runs open")
    q = sub.add_parser("report")
    q.add_argument("rows")
    q.add_argument("--md", required=True)
    q.add_argument("--png")
    q.add_argument("--title")
    q.add_argument("--note", action="append")
    args = p.parse_args()
    if args.cmd == "run":
        args.address = args.address or os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
        return asyncio.run(run(args))
    return report(args)


if __name__ == "__main__":
    rc = main()
    # No interpreter teardown: the client's Rust threads can call into
    # Python while it finalizes and abort (temporalio/sdk-python#300).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
