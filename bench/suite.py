#!/usr/bin/env python3
"""bench/suite.py — the report of bench/run: turns its rows (one JSON object
per line: a "cell" = one workload on one worker in one run, with the
driver's measurements; a "replay" = one history replayed by twe or by the
Go SDK) into the markdown tables and the PNG plots.

    suite.py report ROWS.jsonl --md OUT.md [--png OUT.png] [--note TEXT]...

Every figure is the median over the runs with [min-max] beside it; the
twe/peer columns divide twe's median by the peer's. Errors are summed over
the runs and never dropped: a worker that did not get ready, died, left
workflows unfinished, returned a wrong result, or had workflow tasks fail or
time out counts them, and a cell without measurements counts as an error.
Runs in the bench venv (matplotlib); without --png it needs only the
standard library.
"""

import argparse
import json
import statistics
import sys

WORKER_ORDER = ["twe", "go", "python", "typescript"]
WORKER_LABEL = {"twe": "twe", "go": "Go SDK", "python": "Python SDK", "typescript": "TypeScript SDK",
                "twe:json": "twe, from JSON", "go:json": "Go SDK, from JSON",
                "twe:wire": "twe, from protobuf bytes", "go:wire": "Go SDK, from protobuf bytes",
                "twe:decoded": "twe, decoded history", "go:decoded": "Go SDK, decoded history"}
# The replay ceiling's loops: the key of each in a replayer's result line.
REPLAY_KEY = {"json": "events_per_cpu_s", "wire": "wire_events_per_cpu_s",
              "decoded": "replay_events_per_cpu_s"}
WORKER_COLOR = {"twe": "#d62728", "go": "#1f77b4", "python": "#2ca02c", "typescript": "#9467bd"}
RUN_WORKLOADS = ["OneActivity", "TenSequential", "FanOut100", "FiftyTimers"]
WORKLOAD_TEXT = {
    "OneActivity": "one no-op activity",
    "TenSequential": "10 sequential activities",
    "FanOut100": "fan-out of 100 parallel activities",
    "FiftyTimers": "50 sequential 1 ms timers",
    "Park": "open workflows parked on a 1-hour timer",
}


def fmt(x, digits=3):
    """A number to `digits` significant figures, without exponent noise."""
    if x is None:
        return "—"
    if x == 0:
        return "0"
    if isinstance(x, int):
        return f"{x:,}"
    a = abs(x)
    if a >= 1e6:
        return fmt(x / 1e6, digits) + " M"
    if a >= 10 ** digits:
        return f"{x:,.0f}"
    decimals = max(0, digits - 1 - int(f"{a:e}".split("e")[1]))
    return f"{x:,.{decimals}f}"


def stats(values):
    """(median, min, max) of the values that exist, or None."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    return statistics.median(v), min(v), max(v)


def show(st, digits=3):
    """'median [min-max]' (just the median when there is one run)."""
    if st is None:
        return "—"
    med, lo, hi = st
    if lo == hi:
        return fmt(med, digits)
    return f"{fmt(med, digits)} [{fmt(lo, digits)}–{fmt(hi, digits)}]"


def ratio(twe, peer):
    """twe's median over the peer's: '2.5×'."""
    if twe is None or peer is None or peer[0] in (0, None) or twe[0] is None:
        return "—"
    r = twe[0] / peer[0]
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def dig(d, *path):
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def per_1000(cpu, n):
    return None if cpu is None or not n else cpu * 1000.0 / n


def cell_errors(c):
    """(count, words) — everything that went wrong in one cell."""
    d = c.get("driver")
    parts = []
    if not c.get("ready"):
        parts.append("not ready")
    if not c.get("alive_at_end"):
        parts.append("worker died")
    if d is None:
        if c.get("ready"):
            parts.append("no driver output")
        return max(1, len(parts)), parts
    n = 0
    for key, word in (("errors", "workflow errors"), ("unfinished", "unfinished")):
        k = d.get(key) or 0
        if k:
            n += k
            parts.append(f"{k} {word}")
    for key, word in (("failed", "WFT failed"), ("timed_out", "WFT timed out")):
        k = dig(d, "wft", key) or 0
        if k:
            n += k
            parts.append(f"{k} {word}")
    if d.get("mode") == "park":
        missing = (d.get("count") or 0) - (dig(d, "park", "parked") or 0)
        if missing > 0 and not d.get("unfinished"):
            n += missing
            parts.append(f"{missing} not parked")
    if not c.get("ready") or not c.get("alive_at_end"):
        n += 1
    return n, parts


def metrics(c):
    """The figures of one cell, None where they are missing."""
    d = c.get("driver") or {}
    mode = d.get("mode")
    done = d.get("completed") if mode == "run" else dig(d, "park", "parked")
    wall = d.get("wall_s")
    wcpu, scpu = dig(d, "worker", "cpu_s"), dig(d, "server", "cpu_s")
    return {
        "wf_per_s": d.get("wf_per_s"),
        "cpu_per_1000": per_1000(wcpu, done),
        "server_cpu_per_1000": per_1000(scpu, done),
        "server_cores": scpu / wall if scpu is not None and wall else None,
        "worker_cores": wcpu / wall if wcpu is not None and wall else None,
        "hwm_mib": dig(d, "worker", "hwm_kb") / 1024 if dig(d, "worker", "hwm_kb") else None,
        "wft_p50": dig(d, "wft", "total_ms", "p50"),
        "wft_p99": dig(d, "wft", "total_ms", "p99"),
        "exec_p99": dig(d, "wft", "exec_ms", "p99"),
        "first_s2s_p50": dig(d, "wft", "first", "schedule_to_start_ms", "p50"),
        "first_exec_p50": dig(d, "wft", "first", "exec_ms", "p50"),
        "later_s2s_p50": dig(d, "wft", "later", "schedule_to_start_ms", "p50"),
        "later_exec_p50": dig(d, "wft", "later", "exec_ms", "p50"),
        "later_total_p50": dig(d, "wft", "later", "total_ms", "p50"),
        "later_total_p99": dig(d, "wft", "later", "total_ms", "p99"),
        "e2e_p50": dig(d, "e2e_ms", "p50"),
        "e2e_p99": dig(d, "e2e_ms", "p99"),
        "rss_before_mib": dig(d, "park", "rss_before_kb") / 1024 if dig(d, "park", "rss_before_kb") is not None else None,
        "rss_parked_mib": dig(d, "park", "rss_parked_kb") / 1024 if dig(d, "park", "rss_parked_kb") is not None else None,
        "rss_per_wf_kib": dig(d, "park", "rss_per_wf_kb"),
        "startup_s": c.get("startup_s") if c.get("ready") else None,
        "stop_s": c.get("stop_s"),
        # bench/run --wire: bench/wire_split.py's reading of the cell's capture.
        "wire_wft_p50": dig(c, "wire", "worker_wft_ms", "p50"),
        "wire_wft_p99": dig(c, "wire", "worker_wft_ms", "p99"),
        "wire_act_p50": dig(c, "wire", "worker_act_ms", "p50"),
        "wire_act_p99": dig(c, "wire", "worker_act_ms", "p99"),
        "wire_server_wft_p50": dig(c, "wire", "server_wft_ms", "p50"),
        "wire_server_act_p50": dig(c, "wire", "server_act_ms", "p50"),
        "wire_share_pct": dig(c, "wire", "worker_share") * 100 if dig(c, "wire", "worker_share") is not None else None,
        "wire_irregular": dig(c, "wire", "irregular"),
        "eager_pct": eager_pct(c),
    }


# Activities each workflow of a workload runs (the share handed out eagerly).
ACTIVITIES_PER_WF = {"OneActivity": 1, "TenSequential": 10, "FanOut100": 100}


def eager_pct(c):
    """Activities the server handed out in completions' answers, % of all."""
    n, done = c.get("server_eager_activities"), dig(c, "driver", "completed")
    per = ACTIVITIES_PER_WF.get(c.get("workload"))
    return n * 100.0 / (done * per) if n is not None and done and per else None


class Cells:
    """The cells grouped by (workload, worker)."""

    def __init__(self, rows):
        self.by = {}
        for r in rows:
            if r.get("kind") == "cell":
                self.by.setdefault((r["workload"], r["worker"]), []).append(r)
        self.workloads = [w for w in RUN_WORKLOADS + ["Park"] if any(k[0] == w for k in self.by)]
        seen = {k[1] for k in self.by}
        self.workers = [w for w in WORKER_ORDER if w in seen] + sorted(seen - set(WORKER_ORDER))

    def get(self, workload, worker, key):
        cells = self.by.get((workload, worker), [])
        return stats([metrics(c)[key] for c in cells])

    def errors(self, workload, worker):
        total, words = 0, []
        for c in self.by.get((workload, worker), []):
            n, parts = cell_errors(c)
            total += n
            words += [f"run {c['run']}: {p}" for p in parts]
        return total, words

    def runs(self, workload, worker):
        return len(self.by.get((workload, worker), []))

    def count(self, workload):
        for (w, _), cells in self.by.items():
            if w == workload:
                for c in cells:
                    if c.get("driver"):
                        return c["driver"].get("count")
        return None


def errors_text(n, words):
    if n == 0:
        return "0"
    shown = "; ".join(words[:3]) + ("; …" if len(words) > 3 else "")
    return f"**{n}** ({shown})"


def run_table(cells, out):
    """One table for the workloads that complete: a row per workload x worker."""
    out.append("| workload | worker | wf/s | twe/peer | worker CPU s per 1,000 wf | twe/peer | "
               "peak RSS MiB | WFT p50 ms | WFT p99 ms | WFT exec p99 ms | e2e p99 ms | "
               "server CPU s per 1,000 wf | "
               "server busy (cores) | errors |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for wl in cells.workloads:
        if wl == "Park":
            continue
        for wk in cells.workers:
            if not cells.runs(wl, wk):
                continue
            g = lambda k: cells.get(wl, wk, k)
            t = lambda k: cells.get(wl, "twe", k)
            twe_row = wk == "twe"
            n, words = cells.errors(wl, wk)
            out.append("| " + " | ".join([
                f"{wl} ({cells.count(wl)})", WORKER_LABEL.get(wk, wk),
                show(g("wf_per_s")), "—" if twe_row else ratio(t("wf_per_s"), g("wf_per_s")),
                show(g("cpu_per_1000")), "—" if twe_row else ratio(t("cpu_per_1000"), g("cpu_per_1000")),
                show(g("hwm_mib")), show(g("wft_p50")), show(g("wft_p99")), show(g("exec_p99")),
                show(g("e2e_p99")),
                show(g("server_cpu_per_1000")), show(g("server_cores"), 2),
                errors_text(n, words)]) + " |")


def wft_split_table(cells, out):
    """Workflow-task latency split: each run's first task (normal queue) and the later ones."""
    rows = []
    for wl in cells.workloads:
        if wl == "Park":
            continue
        for wk in cells.workers:
            if not cells.runs(wl, wk) or cells.get(wl, wk, "later_total_p50") is None:
                continue
            g = lambda k: cells.get(wl, wk, k)
            rows.append("| " + " | ".join([
                f"{wl} ({cells.count(wl)})", WORKER_LABEL.get(wk, wk), show(g("wf_per_s")),
                show(g("first_s2s_p50")), show(g("first_exec_p50")),
                show(g("later_s2s_p50")), show(g("later_exec_p50")),
                show(g("later_total_p50")), show(g("later_total_p99")), show(g("e2e_p50")),
                show(g("eager_pct"), 2)]) + " |")
    if not rows:
        return False
    out.append("| workload | worker | wf/s | first WFT schedule-to-start p50 ms | first WFT exec p50 ms | "
               "later WFTs schedule-to-start p50 ms | later WFTs exec p50 ms | later WFTs p50 ms | "
               "later WFTs p99 ms | e2e p50 ms | activities eager % |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    out += rows
    return True


def wire_table(cells, out):
    """bench/run --wire: each workflow's time on the wire, the worker's part and the server's."""
    rows = []
    for wl in cells.workloads:
        for wk in cells.workers:
            if not cells.runs(wl, wk) or cells.get(wl, wk, "wire_wft_p50") is None:
                continue
            g = lambda k: cells.get(wl, wk, k)
            irregular = sum(metrics(c)["wire_irregular"] or 0 for c in cells.by.get((wl, wk), []))
            rows.append("| " + " | ".join([
                f"{wl} ({cells.count(wl)})", WORKER_LABEL.get(wk, wk), show(g("wf_per_s")),
                show(g("wire_wft_p50")), show(g("wire_wft_p99")),
                show(g("wire_act_p50")), show(g("wire_act_p99")),
                show(g("wire_server_wft_p50")), show(g("wire_server_act_p50")),
                show(g("wire_share_pct"), 2), str(irregular)]) + " |")
    if not rows:
        return False
    out.append("| workload | worker | wf/s | worker: WFT p50 ms | WFT p99 ms | worker: activity p50 ms | "
               "activity p99 ms | server: WFT answer → next task p50 ms | server: activity result → "
               "next WFT p50 ms | worker's share % | workflows left out |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    out += rows
    return True


def park_table(cells, out):
    out.append("| worker | parked/s | RSS before MiB | RSS parked MiB | KiB per cached wf | twe/peer | "
               "worker CPU s per 1,000 parked | first WFT p50 ms | first WFT p99 ms | "
               "server busy (cores) | start-up s | stop s | errors |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for wk in cells.workers:
        if not cells.runs("Park", wk):
            continue
        g = lambda k: cells.get("Park", wk, k)
        n, words = cells.errors("Park", wk)
        out.append("| " + " | ".join([
            WORKER_LABEL.get(wk, wk), show(g("wf_per_s")), show(g("rss_before_mib")),
            show(g("rss_parked_mib")), show(g("rss_per_wf_kib")),
            "—" if wk == "twe" else ratio(cells.get("Park", "twe", "rss_per_wf_kib"), g("rss_per_wf_kib")),
            show(g("cpu_per_1000")), show(g("wft_p50")), show(g("wft_p99")),
            show(g("server_cores"), 2), show(g("startup_s"), 2), show(g("stop_s"), 2),
            errors_text(n, words)]) + " |")


def replay_groups(rows):
    """{history: {replayer: [results]}} in first-seen order."""
    groups = {}
    for r in rows:
        if r.get("kind") != "replay":
            continue
        res = r.get("result") or {}
        name = res.get("workflow_type") or res.get("file", "?")
        groups.setdefault(name, {}).setdefault(r["replayer"], []).append(res)
    return groups


def replay_table(rows, out):
    """Events per CPU-second, per history: from the JSON text, from the
    wire bytes (protobuf), from the decoded history; twe beside Go."""
    groups = replay_groups(rows)
    if not groups:
        return False
    out.append("| history | events | twe, from JSON | Go SDK, from JSON | twe/Go | "
               "twe, from protobuf bytes | Go SDK, from protobuf bytes | twe/Go | "
               "twe, decoded | Go SDK, decoded | twe/Go |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, by in groups.items():
        ev = next((x.get("events") for lst in by.values() for x in lst if x.get("events")), None)
        cols = [name, fmt(ev)]
        for loop in ("json", "wire", "decoded"):
            twe, go = (stats([x.get(REPLAY_KEY[loop]) for x in by.get(who, [])])
                       for who in ("twe", "go"))
            cols += [show(twe), show(go), ratio(twe, go)]
        out.append("| " + " | ".join(cols) + " |")
    return True


def plot(rows, cells, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    run_wls = [w for w in cells.workloads if w != "Park"]

    def bars(ax, groups, series, getter, title, ylabel, log=False, style=lambda s: {}):
        """Grouped bars: one group per `groups` entry, one bar per series,
        min-max as error bars; a missing figure is a gap marked n/a."""
        width = 0.8 / max(1, len(series))
        for i, s in enumerate(series):
            meds, lo, hi, xs = [], [], [], []
            for j, gname in enumerate(groups):
                st = getter(gname, s)
                x = j + (i - (len(series) - 1) / 2) * width
                if st is None:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
                    continue
                xs.append(x)
                meds.append(st[0])
                lo.append(st[0] - st[1])
                hi.append(st[2] - st[0])
            if xs:
                who = s.split(":")[0]
                ax.bar(xs, meds, width, yerr=[lo, hi], capsize=2,
                       color=WORKER_COLOR.get(who, None), label=WORKER_LABEL.get(s, s), **style(s))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=9)
        if log:
            ax.set_yscale("log")
            # 1-2-5 ticks written as plain numbers: a panel often spans
            # less than a decade, where the default shows one 10^n label.
            ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_minor_locator(ticker.NullLocator())
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: fmt(v, 2)))
        ax.grid(axis="y", alpha=0.3)

    g = lambda key: (lambda wl, wk: cells.get(wl, wk, key))
    bars(axes[0][0], run_wls, cells.workers, g("wf_per_s"), "Workflows completed per second (higher is better)", "wf/s", log=True)
    bars(axes[0][1], run_wls, cells.workers, g("cpu_per_1000"), "Worker CPU per 1,000 workflows (lower is better)", "CPU s", log=True)
    bars(axes[0][2], run_wls, cells.workers, g("wft_p99"), "Workflow task latency p99, scheduled→completed", "ms", log=True)
    bars(axes[1][0], run_wls, cells.workers, g("hwm_mib"), "Worker peak RSS (lower is better)", "MiB", log=True)
    if "Park" in cells.workloads:
        park_n = cells.count("Park")
        bars(axes[1][1], ["RSS per cached workflow"], cells.workers,
             lambda _wl, wk: cells.get("Park", wk, "rss_per_wf_kib"),
             f"Memory per parked workflow ({park_n:,} open; lower is better)", "KiB", log=True)
    else:
        axes[1][1].set_axis_off()
    groups = replay_groups(rows)
    if groups:
        names = list(groups)
        # Six bars per history: each replayer from the JSON text (solid), from
        # the wire bytes (dotted) and from the decoded history (hatched).
        series = ["twe:json", "go:json", "twe:wire", "go:wire", "twe:decoded", "go:decoded"]
        look = {"json": {}, "wire": {"hatch": "..", "alpha": 0.75},
                "decoded": {"hatch": "//", "alpha": 0.55}}
        bars(axes[1][2], names, series,
             lambda name, s: stats([x.get(REPLAY_KEY[s.split(":")[1]])
                                    for x in groups[name].get(s.split(":")[0], [])]),
             "Replay ceiling: history events per CPU-second", "events/s", log=True,
             style=lambda s: look[s.split(":")[1]])
        axes[1][2].legend(fontsize=7, loc="upper left")
    else:
        axes[1][2].set_axis_off()
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=90)


def report(args):
    rows = []
    with open(args.rows) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    cells = Cells(rows)
    replay_only = not cells.workloads
    out = ["# Replay ceiling: twe beside the Go SDK's replayer" if replay_only
           else "# twe beside the official SDK workers", ""]
    for n in args.note:
        out += [n, ""]
    if any(w != "Park" for w in cells.workloads):
        out += ["## Workflows that complete", "",
                "Per workload (workflows per cell in brackets): " +
                "; ".join(f"{w}: {WORKLOAD_TEXT[w]}" for w in cells.workloads if w != "Park") +
                ". Median [min–max] over the runs. twe/peer = twe's median ÷ the peer's: "
                "above 1 twe is ahead on wf/s, below 1 twe is ahead on CPU. wf/s = completed ÷ "
                "(first start → last result); CPU = utime+stime from /proc over that window; "
                "peak RSS = VmHWM; WFT = workflow task, WorkflowTaskScheduled → Completed in the "
                "histories (up to 500 per cell), most of it waiting in the server's queue while the "
                "server is busy; WFT exec = WorkflowTaskStarted → Completed, the part the worker "
                "decides (the round trip of its poll answer included); e2e = start call → result at the driver; server "
                "busy = the server's CPU seconds ÷ wall seconds (the machine has the cores it has: "
                "when server + worker reach them, the server is the limit).", ""]
        run_table(cells, out)
        out.append("")
        split = []
        if wft_split_table(cells, split):
            out += ["### Workflow tasks: the first of each run and the later ones", "",
                    "The same histories, split: each run's first workflow task (from the normal "
                    "task queue, where new workflows wait while the server is saturated) and the "
                    "later ones (from the worker's sticky queue). In a closed loop (a fixed number "
                    "of workflows in flight) the backlog sits in the first tasks' queue, so the "
                    "median over all tasks above falls between the two groups. Activities eager: "
                    "those the server handed out in workflow-task completions' answers (its "
                    "activity_eager_execution metric), of all the cell's activities.", ""]
            out += split
            out.append("")
        wire = []
        if wire_table(cells, wire):
            out += ["### On the wire: the worker's part and the server's (--wire)", "",
                    "Each cell captured with tcpdump on the loopback and read by "
                    "`bench/wire_split.py`: the gRPC messages of the worker's connection, each "
                    "workflow's tasks in and answers out, timed where they cross the wire. Worker: "
                    "a task's last byte in → the answer's last byte out (for an activity, a no-op "
                    "here: the hand-off and back). Server: an answer out → the workflow's next task "
                    "in. Worker's share: the time the worker held each workflow's tasks ÷ its span "
                    "on the wire (first task in → last answer out). Sequential workloads only; "
                    "workflows whose messages do not alternate are left out and counted. The "
                    "capture runs beside every worker alike.", ""]
            out += wire
            out.append("")
    if "Park" in cells.workloads:
        out += [f"## Memory per cached workflow: {cells.count('Park'):,} open workflows parked on a 1-hour timer", "",
                "RSS (VmRSS) before the first start and 3 s after every workflow's first task "
                "completed (its TimerStarted is in the history), all held in the worker's sticky "
                "cache; KiB per cached wf = the difference ÷ the workflows. twe/peer below 1: twe "
                "uses less. Start-up = launch → `ready`; stop = SIGTERM → exit with the workflows cached.", ""]
        park_table(cells, out)
        out.append("")
    replay_out = []
    if replay_table(rows, replay_out):
        out += ["## Replay ceiling (no server)", "",
                ("Histories recorded by an earlier run" if replay_only else "Histories recorded in this run") +
                " (the Go SDK worker's cells: the Go SDK's replayer "
                "compares activity and timer ids, which it numbers its own way), replayed in one process: twe's "
                "`replay_histories` (engine/workflow/run.c through twe_worker_replay_json) beside the Go SDK's "
                "WorkflowReplayer, with the same workflow code. Events per second of process CPU "
                "(user + system, all threads), from the JSON text (decode + replay), from the "
                "protobuf wire bytes of a GetWorkflowExecutionHistoryResponse (decode + replay: "
                "what a worker does with a history it fetched) and from the decoded history "
                "(replay only). Median [min–max] over the runs.", ""]
        out += replay_out
        out.append("")
        for r in rows:
            if r.get("kind") == "replay_error":
                out += [f"**{WORKER_LABEL.get(r['replayer'], r['replayer'])}'s replayer failed** "
                        f"(run {r['run']}): `{r['message']}`", ""]
    text = "\n".join(out)
    with open(args.md, "w") as f:
        f.write(text)
    if args.png:
        plot(rows, cells, args.png)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report")
    r.add_argument("rows")
    r.add_argument("--md", required=True)
    r.add_argument("--png")
    r.add_argument("--note", action="append", default=[])
    args = ap.parse_args()
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
