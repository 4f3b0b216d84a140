/* engine/workflow_local.c — the workflow side of local activities: a task
 * whose code waits on them (twe__run_apply's TWE__RUN_WAITING) hands their
 * requests to the activity side (engine/local_activities.c) and waits
 * (P_LOCAL_WAIT) for their results, each of which resumes it; at 80% of its
 * timeout it is answered early with force_create_new_workflow_task (a
 * heartbeat, as the SDKs do) and the run carries on in the next task.
 *
 * Thread: the shard thread. */
#include <stdio.h>

#include "engine/activity_internal.h"
#include "engine/run_cache.h"
#include "engine/workflow/run.h"
#include "engine/workflow_poller_internal.h"
#include "twe/error.h"

/* Hands the run's local activity requests to the activity side. Results
 * may come back before it returns (twe__wfp_local_result). */
void twe__wfp_dispatch_locals(wf_poller_t *p) {
  twe_local_request_t *rq = twe__run_take_local_requests(p->entry->run);
  if (rq)
    twe__local_dispatch(p->side->s, task_run_id(p->task), task_workflow_id(p->task),
                        task_workflow_type(p->task), rq);
}

/* The answer before the local activities are back: the task's timeout is
 * near (a heartbeat, as the SDKs do at 80% of it). */
static void answer_early(wf_poller_t *p) {
  twe__count(&p->side->s->counters.workflow_task_heartbeats, 1);
  int rc = twe__run_answer_now(p->entry->run, &p->outcome);
  if (rc < 0) {
    char msg[sizeof p->outcome.message];
    snprintf(msg, sizeof msg, "%s", p->outcome.message[0] ? p->outcome.message : twe_strerror(rc));
    twe__wfp_respond_failed(p, p->outcome.cause ? p->outcome.cause : CAUSE_UNHANDLED, msg);
    return;
  }
  p->heartbeat = true;
  twe__wfp_respond_completed(p);
}

void twe__wfp_on_hb_timer(twe_timer_t *t) {
  wf_poller_t *p = t->data;
  if (p->state == P_LOCAL_WAIT) answer_early(p);
  /* Otherwise it is in the ready list: twe__wfp_wait_locals looks again. */
}

/* The task's code waits on local activities: their requests go out, and
 * the task waits (P_LOCAL_WAIT) for a result, or for 80% of its timeout. */
void twe__wfp_wait_locals(wf_poller_t *p) {
  uint64_t timeout = twe__run_task_timeout_ns(p->entry->run);
  if (!timeout) timeout = 10000000000ull;
  int64_t due = p->taken_ns + (int64_t)(timeout / 5 * 4);
  int64_t now = twe__mono_ns();
  p->local_wait = true;
  p->state = P_LOCAL_WAIT;
  if (now >= due) {
    /* Not waiting: a result (or a loss) the dispatch reports at once is
     * kept for the next task rather than ending this one under us. */
    p->local_wait = false;
    p->state = P_READY;
    twe__wfp_dispatch_locals(p);
    answer_early(p);
    return;
  }
  if (!twe__timer_active(&p->hb_timer)) twe__timer_start(&p->hb_timer, (uint64_t)(due - now));
  /* Last: a result that comes back at once finds the task waiting. */
  twe__wfp_dispatch_locals(p);
}

void twe__wfp_local_result(twe_wshard_t *s, const char *run_id, const twe_local_result_t *r) {
  struct twe__wf_side *w = s->wf;
  cached_run_t *e = w ? twe__run_cache_find(&w->cache, run_id) : NULL;
  if (!e || !e->run) return; /* evicted meanwhile: dropped */
  wf_poller_t *p = NULL;
  for (unsigned i = 0; i < w->n_pollers && !p; i++)
    if (w->pollers[i].entry == e && w->pollers[i].task) p = &w->pollers[i];
  bool waiting = p && p->state == P_LOCAL_WAIT;
  if (!r) {
    if (waiting) {
      TWE__TASK_LOG(w, TWE_LOG_WARN, p->task,
                    "a local activity was lost (the worker stops, or out of memory): the task "
                    "is left to time out and be retried");
      twe__wfp_task_finish(p, true);
      twe__wfp_next_poll(p);
    } else if (!e->busy) {
      twe__run_cache_evict(&w->cache, e);
    }
    return;
  }
  int rc = twe__run_local_result(e->run, r);
  if (rc < 0 && !e->busy) {
    twe__run_cache_evict(&w->cache, e);
    return;
  }
  /* A failed run reports itself when the task resumes. */
  if (waiting) twe__wfp_make_ready(p);
}
