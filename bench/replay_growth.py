#!/usr/bin/env python3
"""bench/replay_growth.py — the report of bench/run_replay_growth.sh: its rows
(one JSON object a line from `replay_bench --growth`, with "run" added) as a
markdown table and a PNG of CPU ns per history event against the history's
length, one curve per starting point (decoded messages, protobuf wire bytes
in one message, protobuf wire bytes in pages of 1,000 events, JSON text),
log-scaled lengths. Runs in the bench venv (matplotlib).

    replay_growth.py ROWS.jsonl --md OUT.md [--png OUT.png] [--note TEXT]...

Each point is the median over the runs of each run's figure (the median
of its rounds, a round's figure being the median replay of its batch); the
table's brackets and the plot's dashed lines give the fastest round of any
run (on a shared machine, the least disturbed), the brackets also the
slowest. "Flat" is read off the second table: each length's figure over
the figure at the shortest length, and the largest over the smallest.
"""

import argparse
import json
import statistics
import sys

PATHS = [("decoded", "from decoded messages"),
         ("pages", "from protobuf bytes, pages of 1,000 events (a worker's cache miss)"),
         ("wire", "from protobuf bytes, one message"),
         ("json", "from JSON text (twe_worker_replay_json)")]
COLOR = {"decoded": "#d62728", "pages": "#1f77b4", "wire": "#9467bd", "json": "#2ca02c"}


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def series(rows):
    """{path: [(events, median, min, max, bytes, decoded bytes)]} in length order."""
    out = {}
    for p, _ in PATHS:
        by = {}
        for r in rows:
            if r["path"] == p:
                by.setdefault(r["events"], []).append(r)
        pts = []
        for ev in sorted(by):
            rs = by[ev]
            pts.append((ev, statistics.median(r["ns_per_event"] for r in rs),
                        min(r["ns_per_event_min"] for r in rs),
                        max(r["ns_per_event_max"] for r in rs), rs[0].get("bytes", 0),
                        rs[0].get("decoded_bytes", 0)))
        if pts:
            out[p] = pts
    return out


def table(ser, runs):
    lines = ["| events | activities | " + " | ".join(f"{label}, ns/event" for _, label in PATHS) +
             " | decoded MB | wire KB | JSON KB |",
             "|---:|---:|" + "---:|" * len(PATHS) + "---:|---:|---:|"]
    lengths = sorted({pt[0] for pts in ser.values() for pt in pts})
    for ev in lengths:
        cells = [f"{ev:,}", f"{(ev - 5) // 6:,}"]
        size, decoded = {}, 0
        for p, _ in PATHS:
            pt = next((x for x in ser.get(p, []) if x[0] == ev), None)
            cells.append("—" if pt is None else f"{pt[1]:,.0f} [{pt[2]:,.0f}–{pt[3]:,.0f}]")
            if pt:
                size[p] = pt[4]
                decoded = pt[5]
        cells.append(f"{decoded / 1e6:,.2f}")
        cells.append(f"{size.get('wire', 0) / 1000:,.1f}")
        cells.append(f"{size.get('json', 0) / 1000:,.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Growth: each length's figure over the figure at the shortest length "
                 "(1.00 = flat), and the largest over the smallest across lengths:")
    lines.append("")
    lines.append("| starting point | " + " | ".join(f"{ev:,}" for ev in lengths) + " | max/min |")
    lines.append("|---|" + "---:|" * (len(lengths) + 1))
    for which, idx in (("median round", 1), ("fastest round", 2)):
        for p, label in PATHS:
            pts = ser.get(p)
            if not pts:
                continue
            v = [pt[idx] for pt in pts]
            lines.append(f"| {label}, {which} | " + " | ".join(f"{m / v[0]:.2f}" for m in v) +
                         f" | {max(v) / min(v):.2f} |")
    return lines


def plot(ser, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for p, label in PATHS:
        pts = ser.get(p)
        if not pts:
            continue
        xs = [pt[0] for pt in pts]
        ax.plot(xs, [pt[1] for pt in pts], marker="o", color=COLOR[p], label=label)
        # The fastest round: on a shared machine, the least disturbed.
        ax.plot(xs, [pt[2] for pt in pts], linestyle="--", linewidth=1, color=COLOR[p], alpha=0.7)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_xlabel("history length (events)")
    ax.set_ylabel("CPU ns per event (lower is better)")
    ax.set_ylim(bottom=0)
    ax.set_title(title + "\n(solid: median round; dashed: fastest round)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows")
    ap.add_argument("--md", required=True)
    ap.add_argument("--png")
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args()
    rows = load(args.rows)
    if not rows:
        print("replay_growth: no rows", file=sys.stderr)
        return 1
    ser = series(rows)
    runs = len({r.get("run", 1) for r in rows})
    out = ["# Replay cost per event as the history grows", ""]
    for n in args.note:
        out += [n, ""]
    out += ["The sequential history of `bench/replay_bench.c` (one activity after another: 6 events "
            "each, a 16-byte result), replayed on one thread pinned to one CPU, timed on the "
            "thread's CPU clock: create the run, apply every event (the code re-run, its commands "
            "matched), check, destroy. From decoded messages; from the protobuf wire bytes in pages "
            "of 1,000 events (GetWorkflowExecutionHistoryResponses, as the dev server pages a "
            "history), decoded and applied a part at a time into two arenas in turn, as a worker "
            "replays a long history on a cache miss (`engine/workflow_history.c`); from the same "
            "bytes in one message, decoded whole first; from the JSON text `proto/json_write.c` "
            "writes, read whole with `twe__history_from_json_text` first (what "
            "`twe_worker_replay_json` does with an exported history). Every length and starting "
            "point in turn, 7 rounds per run, each round a batch of replays covering about 200,000 "
            f"events (3 to 101 replays). Median [fastest–slowest round] over {runs} run(s).", ""]
    out += table(ser, runs)
    out.append("")
    text = "\n".join(out)
    with open(args.md, "w") as f:
        f.write(text)
    if args.png:
        plot(ser, args.png, "twe: replay CPU per history event against history length")
    return 0


if __name__ == "__main__":
    sys.exit(main())
