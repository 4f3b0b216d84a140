/* engine/workflow_graves.c — what a shard thread the watchdog retired
 * leaves on the workflow side: the task it was stuck in fails, and the
 * run's memory waits in a grave until that thread is gone (it may still wake
 * up on the run's fiber); twe__wf_side_run buries them.
 *
 * Thread: the shard thread (the replacement, for the takeover). */
#include <stdatomic.h>
#include <stdlib.h>

#include "engine/offenders.h"
#include "engine/workflow/run.h"
#include "engine/workflow_poller_internal.h"

/* Frees runs whose retired thread is gone. */
size_t twe__wfp_bury(struct twe__wf_side *w) {
  size_t n = 0;
  for (grave_t **gp = &w->graves; *gp;) {
    grave_t *g = *gp;
    if (!atomic_load_explicit(&g->retired->gone, memory_order_acquire)) {
      gp = &g->next;
      continue;
    }
    *gp = g->next;
    twe__run_destroy(g->run);
    free(g);
    n++;
  }
  return n;
}

void twe__wf_side_takeover(twe_wshard_t *s, twe__watched_t *retired) {
  struct twe__wf_side *w = s->wf;
  wf_poller_t *p = w ? w->applying : NULL;
  if (!p) return;
  w->applying = NULL;
  /* The run's memory stays in a grave while the retired thread may still
   * run on its fiber; the cache entry goes now. */
  grave_t *g = calloc(1, sizeof *g);
  twe_run_t *stuck = p->qrun ? p->qrun : p->entry ? p->entry->run : NULL;
  if (g && stuck) {
    g->run = stuck;
    g->retired = retired;
    g->next = w->graves;
    w->graves = g;
  } else {
    free(g);
    /* Out of memory for a grave: leak the run rather than free memory a
     * thread may still use. */
  }
  p->qrun = NULL;
  if (p->entry) p->entry->run = NULL;
  memset(&p->outcome, 0, sizeof p->outcome);
  p->sliced = false;
  twe__offenders_record(w->s->worker->offenders, task_run_id(p->task), task_workflow_type(p->task),
                        TWE__OFFENCE_RETIRED, retired, twe__mono_ns());
  if (p->task->query) {
    if (p->entry) twe__run_cache_evict(&w->cache, p->entry), p->entry = NULL;
    twe__wfp_query_respond(p, NULL, retired->message);
    return;
  }
  twe__wfp_respond_failed(p, CAUSE_UNHANDLED, retired->message);
}
