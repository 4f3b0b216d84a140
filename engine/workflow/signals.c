/* engine/workflow/signals.c — signals sent to a run: handlers by name (and
 * a catch-all) that workflow code sets at any time, signals buffered until
 * a handler takes them, each handler call on a coroutine of its own, and
 * the warning about signals no handler took when the workflow ends.
 *
 * Order: a WORKFLOW_EXECUTION_SIGNALED event is buffered where it stands in
 * the history and given at once to its handler if one is set; a handler set
 * later takes the buffered signals of its name (the catch-all: of any name
 * no named handler has) in the order they arrived. Handler coroutines are
 * queued ready in that order and run once the coroutine that is running
 * waits or returns, so replay sees the same order as the live run.
 *
 * Memory: signals and handlers live in the run arena. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/run_internal.h"
#include "twe/error.h"
#include "twe/workflow.h"

static const twe__signal_handler_t *handler_for(const twe_run_t *run, const char *name) {
  const twe__signal_handler_t *any = NULL;
  for (const twe__signal_handler_t *h = run->signal_handlers; h; h = h->next) {
    if (!h->name)
      any = h;
    else if (strcmp(h->name, name) == 0)
      return h;
  }
  return any;
}

static void handler_body(twe__wfiber_t *w) {
  twe__signal_t *s = w->body_arg;
  s->fn(&w->run->wf, &s->pub, s->user);
}

/* Gives every buffered signal that now has a handler to it, in order. */
static int dispatch(twe_run_t *run) {
  twe__signal_t **p = &run->signals_head, *last = NULL;
  while (*p) {
    twe__signal_t *s = *p;
    const twe__signal_handler_t *h = handler_for(run, s->pub.name);
    if (!h) {
      last = s;
      p = &s->next;
      continue;
    }
    *p = s->next;
    s->next = NULL;
    s->fn = h->fn;
    s->user = h->user;
    char label[200];
    snprintf(label, sizeof label, "signal handler \"%s\" (signal %" PRIu64 ")", s->pub.name,
             s->pub.seq);
    const char *kept = twe__str(&run->arena, label);
    if (!kept) return twe__run_oom(run);
    int rc = twe__run_spawn(run, handler_body, s, kept);
    if (rc < 0) return rc;
  }
  run->signals_tail = last;
  return 0;
}

int twe__signals_on_event(twe_run_t *run, const twe_event_pb_t *e) {
  const Temporal__Api__History__V1__WorkflowExecutionSignaledEventAttributes *a =
      e->workflow_execution_signaled_event_attributes;
  twe_arena_t *arena = &run->arena;
  twe__signal_t *s = twe__arena_alloc(arena, sizeof *s);
  if (!s) return twe__run_oom(run);
  memset(s, 0, sizeof *s);
  s->pub.name = twe__str(arena, a->signal_name ? a->signal_name : "");
  s->pub.identity = twe__str(arena, a->identity ? a->identity : "");
  if (!s->pub.name || !s->pub.identity) return twe__run_oom(run);
  s->pub.seq = ++run->signals_received;
  if (a->input && a->input->n_payloads) {
    twe_payloads_pb_t *input = twe__run_copy_msg(run, &a->input->base);
    twe_payload_t *args =
        input ? twe__arena_alloc(arena, input->n_payloads * sizeof *args) : NULL;
    if (!args) return twe__run_oom(run);
    for (size_t i = 0; i < input->n_payloads; i++) {
      if (twe__value_from_payload(arena, input->payloads[i], &args[i]) < 0)
        return twe__run_oom(run);
      char why[256], msg[512];
      if (!s->pub.input_error && twe__value_check(input->payloads[i], why, sizeof why) < 0) {
        snprintf(msg, sizeof msg, "signal \"%s\" input %zu is not valid JSON: %s", s->pub.name,
                 i + 1, why);
        if (!(s->pub.input_error = twe__str(arena, msg))) return twe__run_oom(run);
      }
    }
    s->pub.args = args;
    s->pub.nargs = input->n_payloads;
  }
  if (run->signals_tail)
    run->signals_tail->next = s;
  else
    run->signals_head = s;
  run->signals_tail = s;
  return dispatch(run);
}

void twe__signals_report_unhandled(twe_run_t *run) {
  if (!run->signals_head || run->replaying) return;
  char names[512];
  size_t used = 0, n = 0;
  names[0] = 0;
  for (const twe__signal_t *s = run->signals_head; s; s = s->next, n++) {
    if (used + 1 >= sizeof names) continue;
    int k = snprintf(names + used, sizeof names - used, "%s\"%s\" (#%" PRIu64 ")",
                     n ? ", " : "", s->pub.name, s->pub.seq);
    if (k > 0) used += (size_t)k < sizeof names - used ? (size_t)k : sizeof names - used - 1;
  }
  twe__run_log(run, TWE_LOG_WARN, "the run ended with %zu signal(s) no handler took: %s", n,
               names);
}

int twe_workflow_set_signal_handler(twe_workflow_t *wf, const char *name, twe_signal_fn fn,
                                    void *user) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (name && !*name) return -EINVAL;
  twe__signal_handler_t **p = &run->signal_handlers;
  for (; *p; p = &(*p)->next)
    if ((!name && !(*p)->name) || (name && (*p)->name && strcmp(name, (*p)->name) == 0)) break;
  if (!fn) {
    if (*p) *p = (*p)->next;
    return 0;
  }
  if (!*p) {
    twe__signal_handler_t *h = twe__arena_alloc(&run->arena, sizeof *h);
    if (!h) return twe__arena_error(&run->arena);
    memset(h, 0, sizeof *h);
    if (name && !(h->name = twe__str(&run->arena, name))) return twe__arena_error(&run->arena);
    *p = h;
  }
  (*p)->fn = fn;
  (*p)->user = user;
  /* A spawn that fails records the run's failure: the task fails. */
  return dispatch(run) < 0 ? run->status : 0;
}
