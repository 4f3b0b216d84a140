#!/usr/bin/env python3
"""bench/firehose/report.py — the firehose bench's table and plot from its
rows (bench/run_firehose_bench.sh writes them, one JSON object a line, as the
firehose prints them plus the runner's fields).

    report.py ROWS.jsonl --md OUT.md --png OUT.png [--note TEXT]

Per workload and worker: the median over the runs, with [min-max] where
there was more than one; twe/Go is twe's median over the Go SDK's. Then
issue 18's targets, each met or not. Needs matplotlib (bench/bootstrap's
venv-bench)."""
import argparse
import json
import statistics
from collections import OrderedDict

ORDER = ["twe1", "twe2", "twe4", "twe8", "go"]


def load(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    groups = OrderedDict()
    for r in rows:
        groups.setdefault(r["workload"], OrderedDict()).setdefault(r["who"], []).append(r)
    for wl in groups:
        groups[wl] = OrderedDict(sorted(groups[wl].items(),
                                        key=lambda kv: ORDER.index(kv[0]) if kv[0] in ORDER else 99))
    return rows, groups


def ok_rows(rs):
    return [r for r in rs if not r.get("problem")]


def med(rs, key):
    v = [r[key] for r in ok_rows(rs) if r.get(key) is not None]
    return statistics.median(v) if v else None


def rng(rs, key):
    v = [r[key] for r in ok_rows(rs) if r.get(key) is not None]
    return (min(v), max(v)) if v else (None, None)


def fmt(x, digits=0):
    if x is None:
        return "—"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def cell(rs, key, digits=0):
    m = med(rs, key)
    lo, hi = rng(rs, key)
    if m is None:
        return "—"
    if len(ok_rows(rs)) > 1:
        return f"{fmt(m, digits)} [{fmt(lo, digits)}–{fmt(hi, digits)}]"
    return fmt(m, digits)


def label(rs):
    return rs[0].get("fields", {}).get("worker", rs[0]["who"])


def firehose_cores(r):
    return r["firehose_cpu_s"] / r["window_s"] if r.get("window_s") else None


def table(groups):
    for by in groups.values():
        for rs in by.values():
            for r in rs:
                r["firehose_cores"] = firehose_cores(r)
                if r.get("worker_cpu_s"):
                    r["wf_per_cpu_s"] = r["workflows"] / r["worker_cpu_s"]
    out = ["| workload | worker | WFT per worker CPU-s | activity tasks per worker CPU-s "
           "| workflows per worker CPU-s | twe/Go (workflows per CPU-s) "
           "| WFT/s | activity tasks/s | worker cores | firehose cores | other load (cores) | WFT p50 ms | WFT p99 ms "
           "| activity p50 ms | activity p99 ms | errors |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for wl, by in groups.items():
        go = med(by["go"], "wf_per_cpu_s") if "go" in by else None
        first = True
        for who, rs in by.items():
            ratio = "—"
            m = med(rs, "wf_per_cpu_s")
            if who != "go" and go and m:
                ratio = f"{m / go:.1f}×"
            errs = sum((r.get("errors") or 0) for r in rs)
            probs = sum(1 for r in rs if r.get("problem"))
            e = str(errs) + (f" ({probs} cell{'s' if probs > 1 else ''} failed)" if probs else "")
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                wl if first else "", label(rs), cell(rs, "wft_per_cpu_s"), cell(rs, "act_per_cpu_s"),
                cell(rs, "wf_per_cpu_s"), ratio,
                cell(rs, "wft_per_s"), cell(rs, "act_per_s"), cell(rs, "worker_cores", 2),
                cell(rs, "firehose_cores", 2), cell(rs, "other_cores", 2), cell(rs, "wft_p50_ms", 2), cell(rs, "wft_p99_ms", 2),
                cell(rs, "act_p50_ms", 2), cell(rs, "act_p99_ms", 2), e))
            first = False
    return "\n".join(out)


def targets(groups):
    lines = ["| target (issue 18) | measured (medians) | met? |", "|---|---|---|"]

    def twe_rows(by):
        return [(who, rs) for who, rs in by.items() if who.startswith("twe")]

    for wl, by in groups.items():
        tw = twe_rows(by)
        if not tw:
            continue
        for key, goal, what in [("wft_per_cpu_s", 20000, "workflow tasks"), ("act_per_cpu_s", 50000, "activity tasks")]:
            vals = [(label(rs), med(rs, key)) for _, rs in tw]
            best = max((v for _, v in vals if v is not None), default=None)
            lines.append("| %s: at least %s %s per worker CPU-second (twe) | %s | %s |" % (
                wl, f"{goal:,}", what, "; ".join(f"{l}: {fmt(v)}" for l, v in vals),
                "—" if best is None else ("yes" if best >= goal else "no")))
        if "go" in by:
            # The same work: workflows per CPU-second (in OneActivity and
            # TenSequential the same ratio as for each kind of task; in
            # FanOut100 how many workflow tasks a workflow takes depends on
            # timing, and differs between workers).
            go = med(by["go"], "wf_per_cpu_s")
            vals = []
            met = []
            for _, rs in tw:
                w = med(rs, "wf_per_cpu_s")
                if w and go:
                    vals.append(f"{label(rs)}: {w / go:.1f}×")
                    met.append(w / go >= 10)
            lines.append("| %s: at least 10× the Go SDK worker (workflows per worker CPU-second) | %s | %s |" % (
                wl, "; ".join(vals), "—" if not met else ("yes" if all(met) else
                                                          ("some" if any(met) else "no"))))
        if "twe1" in by and "twe2" in by:
            t1 = (med(by["twe1"], "wft_per_s") or 0) + (med(by["twe1"], "act_per_s") or 0)
            t2 = (med(by["twe2"], "wft_per_s") or 0) + (med(by["twe2"], "act_per_s") or 0)
            if t1:
                lines.append("| %s: 2 shards on 2 CPUs at least 1.8× one shard (tasks/s) | %s vs %s tasks/s: %.2f× "
                             "(the firehose shares the 2 CPUs) | %s |" % (
                                 wl, fmt(t2), fmt(t1), t2 / t1, "yes" if t2 / t1 >= 1.8 else "no"))
    errs = sum((r.get("errors") or 0) for by in groups.values() for rs in by.values() for r in rs)
    lines.append("| no mismatch or error in any cell | %d | %s |" % (errs, "yes" if errs == 0 else "no"))
    return "\n".join(lines)


def extras(rows):
    out = []
    unimpl = {}
    for r in rows:
        for k, v in (r.get("unimplemented") or {}).items():
            unimpl[k] = unimpl.get(k, 0) + v
    out.append("Calls answered UNIMPLEMENTED: " + (
        ", ".join(f"`{k.rsplit('/', 1)[-1]}` ×{v}" for k, v in sorted(unimpl.items())) if unimpl else "none") + ".")
    samples = [s for r in rows for s in (r.get("error_samples") or [])]
    if samples:
        out.append("First errors: " + "; ".join(f"`{s}`" for s in samples[:5]) + ".")
    probs = [(r["workload"], r["who"], r["problem"]) for r in rows if r.get("problem")]
    for p in probs:
        out.append(f"Cell {p[0]} / {p[1]} failed: {p[2]}.")
    logs = [(r["workload"], r["who"], l) for r in rows for l in (r.get("worker_log") or [])]
    if logs:
        out.append("Worker log lines beyond start-up (first 5): " +
                   "; ".join(f"{w}/{who}: `{l[:200]}`" for w, who, l in logs[:5]) + ".")
    stuck = {}
    for r in rows:
        for k in ("wft_full_history", "sticky_timeouts", "history_fetches", "not_found"):
            stuck[k] = stuck.get(k, 0) + (r.get(k) or 0)
    out.append("Over all cells: %d later workflow tasks with the whole history (the rest sticky), %d sticky "
               "time-outs, %d history fetches, %d completions of unknown tasks." % (
                   stuck["wft_full_history"], stuck["sticky_timeouts"], stuck["history_fetches"], stuck["not_found"]))
    return "\n\n".join(out)


def plot(groups, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(groups)
    fig, axes = plt.subplots(n, 3, figsize=(15, 3.6 * n), squeeze=False)
    for i, (wl, by) in enumerate(groups.items()):
        names = [label(rs) for rs in by.values()]
        xs = range(len(names))
        for j, (keys, title, ylabel) in enumerate([
            (("wft_per_cpu_s", "act_per_cpu_s"), "tasks per worker CPU-second", "tasks / CPU-s"),
            (("wft_per_s", "act_per_s"), "tasks per second (firehose on the same CPUs)", "tasks / s"),
            (("wft_p99_ms", "act_p99_ms"), "p99 latency, handed out -> completed", "ms"),
        ]):
            ax = axes[i][j]
            w = 0.38
            for k, key in enumerate(keys):
                m = [med(rs, key) or 0 for rs in by.values()]
                lo = [m[q] - (rng(rs, key)[0] or 0) for q, rs in enumerate(by.values())]
                hi = [(rng(rs, key)[1] or 0) - m[q] for q, rs in enumerate(by.values())]
                ax.bar([x + (k - 0.5) * w for x in xs], m, w, yerr=[lo, hi], capsize=3,
                       label="workflow tasks" if k == 0 else "activity tasks")
            if j == 1:
                for x, rs in zip(xs, by.values()):
                    c = med(rs, "worker_cores")
                    if c is not None:
                        ax.annotate(f"{c:.2f} cores", (x, 0), textcoords="offset points", xytext=(0, 3),
                                    ha="center", fontsize=7)
            ax.set_xticks(list(xs))
            ax.set_xticklabels(names, fontsize=8)
            ax.set_title(f"{wl}: {title}", fontsize=9)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    fig.suptitle("bench/firehose (a benchmark stand-in for the server): medians, bars min–max", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("--md", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    rows, groups = load(a.rows)
    md = ["# bench/firehose: the worker's own ceiling", "",
          "The firehose is a benchmark stand-in for the server (bench/firehose), never a correctness claim: it "
          "serves tasks built from histories recorded on the real dev server as fast as the worker takes them, "
          "and checks every completion against the recording.", ""]
    if a.note:
        md += [a.note, ""]
    md += [table(groups), "", "Targets:", "", targets(groups), "", extras(rows), ""]
    open(a.md, "w").write("\n".join(md))
    plot(groups, a.png)


if __name__ == "__main__":
    main()
