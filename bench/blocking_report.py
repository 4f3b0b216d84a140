#!/usr/bin/env python3
"""bench/blocking_report.py — the report of bench/run_blocking_bench.sh: its
rows (one JSON object a line: the driver's JSON from bench/fanout_driver.py
run, the worker's CPU, peak RSS, cgroup cpu.stat deltas and its own stats
line) as a markdown table and a PNG (completion time and worker CPU per
row, bars), and the rows' schedule-to-start readings on the wire when they
have them (run_blocking_bench.sh --wire). Runs in the bench venv
(matplotlib).

    blocking_report.py ROWS.jsonl --md OUT.md [--png OUT.png]
                       [--title T] [--note TEXT]...

The stats columns show a field of the worker's stats line when that worker
reports it and "-" otherwise (twe's activity_threads_peak and
activity_slots_peak, the Python peer's activities_running_peak); any other
field whose name speaks of activity threads, slots or a pool is listed in
the next column, so fields a newer engine adds show without a change here. The table also goes to stdout.
"""

import argparse
import json
import sys
import textwrap

from fanout_driver import cell, fmt, worker_activities

def log(msg: str) -> None:
    print(f"blocking_report: {msg}", file=sys.stderr, flush=True)


# Stats fields with a column of their own.
COLUMNS = ("activity_threads_peak", "activity_slots_peak", "activities_running_peak")


def pool_fields(st):
    """Stats fields about activity threads, slots or pools without a column."""
    keys = [k for k in st if k not in COLUMNS
            and any(w in k for w in ("activity_thread", "slot", "pool", "elastic"))]
    return ", ".join(f"{k}={json.dumps(st[k])}" for k in sorted(keys)) or "-"


def label(r):
    return f"{r['worker']}, {r['config']}"


def row_line(r):
    d, st, cg = r.get("driver") or {}, r.get("worker_stats") or {}, r.get("cgroup") or {}
    w = d.get("workflows", "?")
    size = f"{w} x {r.get('inputs', '?')}"
    if not d:
        done, span, wmax = "driver failed", "-", "-"
    else:
        done = f"{d['completed']}/{d['workflows']}"
        if d.get("stalled"):
            done += f" ({d['open_at_deadline']} open at {d['deadline_s']:.0f} s)"
        span = fmt(d.get("completion_span_s"), 1)
        wmax = fmt((d.get("completion_s") or {}).get("max"), 1)
    throttled = (f"{cg['nr_throttled']}/{cg['nr_periods']}" if "nr_throttled" in cg else "-")
    stop = r.get("stop", "-")
    if r.get("exit_status"):
        stop += f", exit {r['exit_status']}"
    return (f"| {r['worker']} | {r['config']} | {size} | {done} | {span} | {wmax} "
            f"| {fmt(r.get('cpu_s'), 1)} | {fmt(r.get('peak_rss_mib'), 1)} "
            f"| {throttled} | {fmt(cg.get('throttled_s'), 1)} "
            f"| {worker_activities(st)} "
            + "".join(f"| {fmt(st.get(k)) if isinstance(st.get(k), (int, float)) else '-'} "
                      for k in COLUMNS)
            + f"| {cell(pool_fields(st), 160)} | {stop} |")


def wire_lines(rows):
    """The rows' wire readings (run_blocking_bench.sh --wire: bench/wire_polls.py),
    a line per row and task kind; nothing when no row has one."""
    if not any(r.get("wire") for r in rows):
        return []
    first = next(r["wire"] for r in rows if r.get("wire"))
    slow, lead = first.get("slow_ms", 5), first.get("lead_ms", 1)
    lines = [f"Schedule-to-start on the wire (`--wire`: bench/wire_polls.py): the server's "
             f"scheduled and started times of each task a poll brought, and the worker's polls "
             f"on the wire. \"Over {fmt(slow)} ms, a poll waiting\": of the tasks whose "
             f"schedule-to-start went over {fmt(slow)} ms, those for which a poll of the worker "
             f"on that queue had reached the server at least {fmt(lead)} ms before the task was "
             f"scheduled and was matched to no other task before it (that wait is the "
             f"server's). \"Started -> wire\": the server's started time to the answer on the "
             f"wire. On the normal queue, which workflow and activity polls share, a poll that "
             f"brought no task cannot be told apart, so it is not counted there: that column "
             f"may count too few on the normal queue. The capture (tcpdump) costs the machine "
             f"some CPU: the captured rows' times carry it.", "",
             "| worker | config | inputs | tasks | n | schedule-to-start p50 ms | p99 ms | max ms "
             f"| over {fmt(slow)} ms | over {fmt(slow)} ms, a poll waiting | started -> wire p50 ms "
             "| p99 ms |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    names = {"workflow_sticky": "workflow, sticky queue", "workflow_normal": "workflow, normal queue",
             "activity": "activity (polled)"}
    for r in rows:
        w = r.get("wire")
        if not w:
            lines.append(f"| {r['worker']} | {r['config']} | {r.get('inputs', '-')} | no reading "
                         "| | | | | | | | |")
            continue
        for g in ("workflow_sticky", "workflow_normal", "activity"):
            x = w.get(g)
            if not x:
                continue
            q, t = x.get("schedule_to_start_ms") or {}, x.get("started_to_wire_ms") or {}
            lines.append(f"| {r['worker']} | {r['config']} | {r.get('inputs', '-')} | {names[g]} "
                         f"| {x['tasks']} | {fmt(q.get('p50'), 2)} | {fmt(q.get('p99'), 2)} "
                         f"| {fmt(q.get('max'), 2)} | {x['slow']} | {x['slow_poll_waiting']} "
                         f"| {fmt(t.get('p50'), 2)} | {fmt(t.get('p99'), 2)} |")
    return lines + [""]


def report(args) -> int:
    rows = [json.loads(line) for line in open(args.rows) if line.strip()]
    lines = []
    if args.title:
        lines += [f"# {args.title}", ""]
    for n in args.note or []:
        lines += [n, ""]
    lines += [
        "| worker | config | workflows x inputs | completed | completion s "
        "| slowest workflow s | worker CPU s | peak RSS MiB | throttled periods "
        "| throttled s | activities run | activity_threads_peak | activity_slots_peak "
        "| activities_running_peak | other slot/pool stats | stop |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    lines += [row_line(r) for r in rows]
    lines += ["", "Per row: the worker's CPU plan and activity slots (twe's start-up lines), "
              "the load average before the row (other work on the machine), the worker's "
              "log lines beyond start-up, and its whole stats line (at SIGTERM):", "",
              "| # | worker | config | inputs | cpu plan | activity slots | load avg before "
              "| worker log lines | stats |",
              "|---:|---|---|---:|---|---|---:|---:|---|"]
    for i, r in enumerate(rows, 1):
        st = r.get("worker_stats")
        stats = f"`{json.dumps(st, separators=(',', ':'))}`" if st else "none"
        lines.append(f"| {i} | {r['worker']} | {r['config']} | {r.get('inputs', '-')} "
                     f"| {cell(r.get('cpu_plan'), 300)} | {cell(r.get('activity_slots'), 200)} "
                     f"| {fmt(r.get('loadavg_before'), 2)} "
                     f"| {r.get('worker_log_lines', '-')} | {stats} |")
    lines.append("")
    lines += wire_lines(rows)
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

    def color(r):
        if r["worker"] == "twe":
            return "#3182bd" if r["config"].startswith("default") else "#9ecae1"
        return "#e6550d"

    def xlabel(r):
        w = r["worker"].replace(" (Python ", "\nPython ").rstrip(")") if "(Python" in r["worker"] else r["worker"]
        config = r["config"]
        if config.startswith("sync def"):
            config = "sync def, 100 threads"
        elif config.startswith("default activity concurrency"):
            config = "default" + config[len("default activity concurrency"):]
        config = "\n".join(textwrap.wrap(config, 22)[:3])
        d = r["driver"]
        return f"{w}\n{config}\n{d['workflows']} x {r.get('inputs', '?')}"

    fig, axes = plt.subplots(2, 1, figsize=(max(7, 1.5 * len(rows) + 1.5), 8.5))
    xs = range(len(rows))
    series = (("completion s (first start -> last close)",
               lambda r: r["driver"].get("completion_span_s")),
              ("worker CPU s (1-CPU quota)", lambda r: r.get("cpu_s")))
    for ax, (name, get) in zip(axes, series):
        ys = [get(r) or 0.0 for r in rows]
        bars = ax.bar(xs, ys, 0.6, color=[color(r) for r in rows])
        for b, r, y in zip(bars, rows, ys):
            d = r["driver"]
            text = f"{y:.1f}"
            if d["completed"] < d["workflows"]:
                text += f"\n{d['completed']}/{d['workflows']} done"
            ax.text(b.get_x() + b.get_width() / 2, y, text, ha="center", va="bottom", fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("s")
        ax.set_ylim(0, max(ys + [1.0]) * 1.18)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([xlabel(r) for r in rows], fontsize=7)
    fig.suptitle(title or "Blocking activities in a 1-CPU cgroup", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    log(f"wrote {path}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("rows")
    p.add_argument("--md", required=True)
    p.add_argument("--png")
    p.add_argument("--title")
    p.add_argument("--note", action="append")
    return report(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
