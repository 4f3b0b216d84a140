/* engine/workflow/queries.c — queries of a run: handlers by name, set from
 * workflow code; answering one (twe__run_answer_query) on a coroutine of
 * its own while nothing else of the run runs; the read-only rule (calls
 * that would change the run are refused and fail the query); and the
 * built-ins __stack_trace and __temporal_workflow_metadata.
 *
 * Memory: a query's arguments and answer live in the caller's arena (the
 * task's), so answering queries does not grow the run's arena; the
 * coroutine's record is the run's own (one query at a time). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "proto/payload.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define STACK_TRACE "__stack_trace"
#define METADATA "__temporal_workflow_metadata"

int twe__run_refuse_in_query(twe_run_t *run, const char *fn) {
  if (!run->in_query) return 0;
  if (!run->query_refused) run->query_refused = fn;
  return -EPERM;
}

static const twe__query_handler_t *handler_for(const twe_run_t *run, const char *name) {
  for (const twe__query_handler_t *h = run->query_handlers; h; h = h->next)
    if (strcmp(h->name, name) == 0) return h;
  return NULL;
}

int twe_workflow_set_query_handler(twe_workflow_t *wf, const char *name, twe_query_fn fn,
                                   void *user) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!name || !*name || strncmp(name, "__", 2) == 0) return -EINVAL;
  twe__query_handler_t **p = &run->query_handlers;
  while (*p && strcmp((*p)->name, name) != 0) p = &(*p)->next;
  if (!fn) {
    if (*p) *p = (*p)->next;
    return 0;
  }
  if (!*p) {
    twe__query_handler_t *h = twe__arena_alloc(&run->arena, sizeof *h);
    if (!h) return twe__arena_error(&run->arena);
    memset(h, 0, sizeof *h);
    if (!(h->name = twe__str(&run->arena, name))) return twe__arena_error(&run->arena);
    *p = h;
  }
  (*p)->fn = fn;
  (*p)->user = user;
  return 0;
}

void *twe_query_alloc(const twe_query_t *q, size_t size) {
  return q && q->twe_private ? twe__arena_alloc(q->twe_private, size) : NULL;
}

/* --- built-ins ------------------------------------------------------------------------ */

/* buf += printf(...), never past len. */
static void append(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *used, const char *fmt, ...) {
  if (*used + 1 >= len) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *used, len - *used, fmt, ap);
  va_end(ap);
  if (n > 0) *used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
}

static void describe_future(const twe_future_t *f, char *buf, size_t len) {
  const twe__machine_t *m = f->machine;
  if (m && m->kind->describe)
    m->kind->describe(m, buf, len);
  else
    snprintf(buf, len, "%s", m ? m->kind->name : "a future");
}

/* One line per coroutine: what it is and what it waits on. */
static int stack_trace(const twe_run_t *run, twe_arena_t *out, twe_payload_pb_t **pb) {
  size_t len = 16384, used = 0;
  char *text = malloc(len);
  if (!text) return -ENOMEM;
  text[0] = 0;
  unsigned i = 0;
  for (const twe__wfiber_t *w = run->all_fibers; w; w = w->next_all) {
    char what[256];
    append(text, len, &used, "coroutine %u (%s): ", ++i, w->label ? w->label : "?");
    switch (w->wait_mode) {
      case TWE__WAIT_ALL:
      case TWE__WAIT_ANY: {
        size_t shown = 0;
        append(text, len, &used, "waiting on ");
        for (size_t k = 0; k < w->wait_n; k++) {
          if (w->wait_fs[k]->ready) continue;
          describe_future(w->wait_fs[k], what, sizeof what);
          append(text, len, &used, "%s%s", shown++ ? (w->wait_mode == TWE__WAIT_ANY ? " or " : " and ") : "", what);
        }
        break;
      }
      case TWE__WAIT_CONDITION:
        append(text, len, &used, "waiting for condition");
        if (w->wait_n) {
          describe_future(w->wait_fs[0], what, sizeof what);
          append(text, len, &used, " (timeout: %s)", what);
        }
        break;
      default:
        append(text, len, &used, w->in_ready ? "ready to run" : "running");
        break;
    }
    append(text, len, &used, "\n");
  }
  if (!i) append(text, len, &used, "no coroutines: the workflow function has returned\n");
  json_t *s = json_string(text);
  free(text);
  int rc = s ? twe__payload_new_json_value(out, s, pb) : -ENOMEM;
  json_decref(s);
  return rc;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* [{"name": n}, ...] sorted by name, or NULL when out of memory. */
static json_t *definitions(const char **names, size_t n) {
  qsort(names, n, sizeof *names, by_name);
  json_t *list = json_array();
  for (size_t i = 0; list && i < n; i++)
    if (json_array_append_new(list, json_pack("{s:s}", "name", names[i])) < 0) {
      json_decref(list);
      list = NULL;
    }
  return list;
}

/* The run's handlers as a temporal.api.sdk.v1.WorkflowMetadata, in its
 * proto3 JSON form (json/protobuf, as the SDKs answer it and the CLI's
 * `workflow metadata` reads it). */
static int metadata(const twe_run_t *run, twe_arena_t *out, twe_payload_pb_t **pb) {
  const char *queries[256], *signals[256];
  size_t nq = 0, ns = 0;
  for (const twe__query_handler_t *h = run->query_handlers; h && nq < 256; h = h->next)
    queries[nq++] = h->name;
  for (const twe__signal_handler_t *h = run->signal_handlers; h && ns < 256; h = h->next)
    if (h->name) signals[ns++] = h->name;
  json_t *md = json_pack("{s:{s:s,s:o,s:o,s:[]}}", "definition", "type", run->info.workflow_type,
                         "queryDefinitions", definitions(queries, nq), "signalDefinitions",
                         definitions(signals, ns), "updateDefinitions");
  if (!md) return -ENOMEM;
  int rc = twe__payload_new_json_protobuf(out, md, "temporal.api.sdk.v1.WorkflowMetadata", pb);
  json_decref(md);
  return rc;
}

/* --- answering -------------------------------------------------------------------------- */

typedef struct query_call {
  const twe__query_handler_t *h;
  twe_query_t q;
  twe_arena_t *out;
  int rc;                 /* the handler's return */
  twe_payload_pb_t *pb;   /* its result, copied into out */
  int copy_rc;            /* how the copy went */
  char message[512];      /* its error message, copied */
} query_call_t;

/* The handler's result and message (in twe_query_alloc memory, the
 * workflow's state or static strings) are copied into the answer here. */
static void query_body(twe__wfiber_t *w) {
  query_call_t *c = w->body_arg;
  twe_payload_t result = twe_payload_null();
  twe_error_info_t error;
  memset(&error, 0, sizeof error);
  c->rc = c->h->fn(&w->run->wf, &c->q, c->h->user, &result, &error);
  if (c->rc != 0)
    snprintf(c->message, sizeof c->message, "%s",
             error.message && *error.message ? error.message : "query handler failed");
  else
    c->copy_rc = twe__value_to_payload(c->out, &result, &c->pb);
}

static void fail_answer(twe_run_query_result_t *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_answer(twe_run_query_result_t *res, const char *fmt, ...) {
  res->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->message, sizeof res->message, fmt, ap);
  va_end(ap);
}

/* "a, b, c": the built-ins and the run's handlers. */
static void known_names(const twe_run_t *run, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  append(buf, len, &used, "%s, %s", STACK_TRACE, METADATA);
  for (const twe__query_handler_t *h = run->query_handlers; h; h = h->next)
    append(buf, len, &used, ", %s", h->name);
}

/* Runs body on a coroutine of its own, outside the ready queue, to its
 * end: it cannot wait (the calls that would are refused), so it only comes
 * back early when a time slice ends (resumed at once: a read-only call is
 * one piece) or when the watchdog abandons it. */
int twe__run_readonly_call(twe_run_t *run, void (*body)(twe__wfiber_t *w), void *arg,
                           const char *label) {
  twe__wfiber_t *w = &run->query_fiber;
  int rc = twe__run_fiber_init(run, w, body, arg, label);
  if (rc < 0) return rc;
  run->in_query = true;
  run->query_refused = NULL;
  int more;
  do {
    run->current = w;
    more = twe__fiber_resume(w->fiber);
    run->current = NULL;
    /* Re-read: after a slice's end the fiber resumes on whichever thread
     * runs the shard now. */
    twe__watch_take_sliced(twe__watch_self());
  } while (more == 1);
  run->in_query = false;
  twe__fiber_destroy(w->fiber);
  w->fiber = NULL;
  if (more == TWE_FIBER_ABANDONED) {
    char msg[TWE__RUN_MESSAGE_MAX];
    twe__watch_preempt_message(twe__watch_self(), msg, sizeof msg);
    return twe__run_fail(run, TWE_EPREEMPTED,
                         TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                         "%s", msg);
  }
  return 0;
}

int twe__run_answer_query(twe_run_t *run, const char *name,
                          const Temporal__Api__Common__V1__Payloads *args, twe_arena_t *out,
                          twe_run_query_result_t *res) {
  memset(res, 0, sizeof *res);
  twe__run_unstow(run);
  if (run->status < 0) {
    fail_answer(res, "%s", run->message);
    return run->status;
  }
  twe_payload_pb_t *pb = NULL;
  int rc = 0;
  const twe__query_handler_t *h = NULL;
  if (!name) name = "";
  if (strcmp(name, STACK_TRACE) == 0) {
    rc = stack_trace(run, out, &pb);
  } else if (strcmp(name, METADATA) == 0) {
    rc = metadata(run, out, &pb);
  } else if (!(h = handler_for(run, name))) {
    char known[512];
    known_names(run, known, sizeof known);
    fail_answer(res, "unknown query type \"%s\" for workflow \"%s\" (known: %s)", name,
                run->info.workflow_type, known);
    return 0;
  } else {
    query_call_t c;
    memset(&c, 0, sizeof c);
    c.h = h;
    c.q.name = name;
    c.q.twe_private = out;
    c.out = out;
    if (args && args->n_payloads) {
      twe_payload_t *values = twe__arena_alloc(out, args->n_payloads * sizeof *values);
      if (!values) return twe__run_oom(run);
      for (size_t i = 0; i < args->n_payloads; i++) {
        if (twe__value_from_payload(out, args->payloads[i], &values[i]) < 0)
          return twe__run_oom(run);
        char why[256], msg[512];
        if (!c.q.input_error && twe__value_check(args->payloads[i], why, sizeof why) < 0) {
          snprintf(msg, sizeof msg, "query \"%s\" input %zu is not valid JSON: %s", name, i + 1,
                   why);
          c.q.input_error = twe__str(out, msg);
        }
      }
      c.q.args = values;
      c.q.nargs = args->n_payloads;
    }
    if ((rc = twe__run_readonly_call(run, query_body, &c, "query handler")) < 0) {
      fail_answer(res, "%s", run->message);
      return rc;
    }
    if (run->query_refused) {
      fail_answer(res,
                  "query handler \"%s\" called %s: query handlers are read-only (no activities, "
                  "timers, waits, cancellations, handlers or ending the workflow)",
                  name, run->query_refused);
      return 0;
    }
    if (c.rc != 0) {
      fail_answer(res, "%s", c.message);
      return 0;
    }
    rc = c.copy_rc;
    pb = c.pb;
  }
  if (rc < 0) {
    fail_answer(res, "query \"%s\": cannot encode the answer: %s", name, twe_strerror(rc));
    return 0;
  }
  if (twe__payloads_new(out, &pb, 1, &res->answer) < 0)
    fail_answer(res, "query \"%s\": out of memory for the answer", name);
  return 0;
}
