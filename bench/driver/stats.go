package main

import (
	"math"
	"sort"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

type pct2 struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

type pct3 struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// percentile is the nearest-rank percentile (q in 0..1) of sorted values.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func summarize2(ms []float64) *pct2 {
	if len(ms) == 0 {
		return nil
	}
	sort.Float64s(ms)
	return &pct2{P50: round3(percentile(ms, 0.5)), P99: round3(percentile(ms, 0.99))}
}

func summarize3(ms []float64) *pct3 {
	if len(ms) == 0 {
		return nil
	}
	sort.Float64s(ms)
	return &pct3{P50: round3(percentile(ms, 0.5)), P99: round3(percentile(ms, 0.99)),
		Max: round3(ms[len(ms)-1])}
}

// wftStats gathers workflow-task latencies from recorded histories: all
// tasks, and split into each run's first task (from the normal task queue,
// where new workflows wait) and the later ones (on a worker with a cache,
// from its sticky queue). At saturation the first tasks hold the backlog
// and the later ones do not, so the median over all tasks falls between
// the two groups and says little about either.
type wftStats struct {
	histories         int
	all, first, later wftGroup
	failed, timedOut  int
}

type wftGroup struct{ total, s2s, exec []float64 } // ms

func (g *wftGroup) add(total, s2s, exec float64) {
	g.total = append(g.total, total)
	g.s2s = append(g.s2s, s2s)
	g.exec = append(g.exec, exec)
}

type wftGroupReport struct {
	Tasks           int   `json:"tasks"`
	TotalMS         *pct2 `json:"total_ms"`
	ScheduleToStart *pct2 `json:"schedule_to_start_ms"`
	ExecMS          *pct2 `json:"exec_ms"`
}

func (g *wftGroup) report() *wftGroupReport {
	return &wftGroupReport{Tasks: len(g.total), TotalMS: summarize2(g.total),
		ScheduleToStart: summarize2(g.s2s), ExecMS: summarize2(g.exec)}
}

type wftReport struct {
	Histories int `json:"histories"`
	wftGroupReport
	First    *wftGroupReport `json:"first"`
	Later    *wftGroupReport `json:"later"`
	Failed   int             `json:"failed"`
	TimedOut int             `json:"timed_out"`
}

// add takes one history: every completed workflow task's scheduled ->
// started -> completed times, and the failed and timed-out tasks.
func (w *wftStats) add(events []*historypb.HistoryEvent) {
	w.histories++
	when := make(map[int64]float64, len(events)) // event id -> Unix ms
	for _, e := range events {
		t := e.GetEventTime().AsTime()
		ms := float64(t.UnixNano()) / 1e6
		when[e.GetEventId()] = ms
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			a := e.GetWorkflowTaskCompletedEventAttributes()
			sched, ok1 := when[a.GetScheduledEventId()]
			start, ok2 := when[a.GetStartedEventId()]
			if ok1 && ok2 {
				w.all.add(ms-sched, start-sched, ms-start)
				// Event 2: the run's first WorkflowTaskScheduled.
				if a.GetScheduledEventId() == 2 {
					w.first.add(ms-sched, start-sched, ms-start)
				} else {
					w.later.add(ms-sched, start-sched, ms-start)
				}
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			w.failed++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			w.timedOut++
		}
	}
}

func (w *wftStats) report() *wftReport {
	return &wftReport{
		Histories:      w.histories,
		wftGroupReport: *w.all.report(),
		First:          w.first.report(),
		Later:          w.later.report(),
		Failed:         w.failed,
		TimedOut:       w.timedOut,
	}
}

// spread picks up to m of n indices, evenly spread, in order.
func spread(n, m int) []int {
	if m <= 0 || n <= 0 {
		return nil
	}
	if m > n {
		m = n
	}
	out := make([]int, m)
	for j := range out {
		out[j] = j * n / m
	}
	return out
}
