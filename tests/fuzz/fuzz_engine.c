/* tests/fuzz/fuzz_engine.c — fuzz target for the engine: any bytes, read as
 * a History (protobuf, as GetWorkflowExecutionHistory and the poll response
 * carry it), are applied to a run of a registered workflow task by task, as
 * the workflow poller does (a batch ends at each WORKFLOW_TASK_STARTED).
 * The workflow uses most of what a history can answer: an activity, a timer,
 * a signal handler, a condition with a timeout, a side effect, a patch, a
 * child, a cancellation scope. Every batch either answers (commands
 * well-formed) or fails with a message, and the run is destroyed: nothing
 * crashes, reads out of bounds or leaks (under ASan). Built as a libFuzzer
 * target with clang (scripts/fuzz), and replayed over mutated seeds under
 * ctest (tests/fuzz/replay_main.c). Seeds: histories built at start
 * (twe_fuzz_init), encoded as the server sends them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fiber.h"
#include "engine/registry.h"
#include "engine/workflow/run.h"
#include "proto/codec.h"
#include "temporal/api/enums/v1/event_type.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"
#include "twe/workflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define ATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define SEC 1000000000ull

/* --- the workflow ------------------------------------------------------------------ */

static bool signalled(twe_workflow_t *wf, void *arg) {
  (void)wf;
  return *(bool *)arg;
}

static void on_go(twe_workflow_t *wf, const twe_signal_t *sig, void *user) {
  (void)wf, (void)sig;
  *(bool *)user = true;
}

static int side(twe_workflow_t *wf, void *arg, twe_payload_t *value) {
  (void)wf, (void)arg;
  *value = twe_payload_json("7");
  return 0;
}

static void fuzzed(twe_workflow_t *wf, void *user) {
  (void)user;
  bool *go = twe_workflow_alloc(wf, sizeof *go);
  if (!go) return;
  *go = false;
  twe_workflow_set_signal_handler(wf, "go", on_go, go);
  twe_activity_options_t o = {.start_to_close_timeout_ns = 10 * SEC};
  twe_payload_t arg = twe_payload_json("\"x\"");
  twe_future_t *fs[2] = {NULL, NULL};
  twe_workflow_start_activity(wf, "A", &o, &arg, 1, &fs[0]);
  twe_workflow_start_timer(wf, 2 * SEC, &fs[1]);
  if (fs[0] && fs[1]) twe_future_wait_any(wf, fs, 2);
  twe_workflow_wait_condition(wf, signalled, go, 5 * SEC);
  twe_payload_t v;
  twe_workflow_side_effect(wf, side, NULL, &v);
  bool patched = false;
  twe_workflow_patched(wf, "p1", &patched);
  twe_scope_t *scope = NULL;
  if (twe_workflow_scope_open(wf, false, &scope) == 0) {
    twe_future_t *t = NULL;
    twe_workflow_start_timer(wf, SEC, &t);
    twe_workflow_scope_cancel(wf, scope);
    twe_workflow_scope_close(wf, scope);
  }
  twe_child_options_t co = {.workflow_id = "kid"};
  twe_future_t *kid = NULL;
  twe_workflow_start_child(wf, "Kid", &co, &arg, 1, NULL, &kid);
  if (kid) twe_future_wait(wf, kid);
  twe_payload_t out = twe_payload_json("\"done\"");
  twe_workflow_complete(wf, &out);
}

/* --- applying ------------------------------------------------------------------------ */

static twe_registry_t g_reg;
static twe_fiber_pool_t *g_fibers;

static void setup(void) {
  if (g_fibers) return;
  twe__registry_init(&g_reg);
  twe__registry_add_workflow(&g_reg, "Fuzzed", fuzzed, NULL);
  if (twe__fiber_pool_create(0, &g_fibers) < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  twe_arena_t arena;
  twe__arena_init(&arena, 16u << 20);
  ProtobufCMessage *msg = NULL;
  if (twe__proto_decode(&temporal__api__history__v1__history__descriptor, &arena, data, size,
                        &msg) < 0 ||
      !msg) {
    twe__arena_destroy(&arena);
    return 0;
  }
  Temporal__Api__History__V1__History *h = (void *)msg;
  twe_run_env_t env = {.namespace_name = "default",
                       .task_queue = "q",
                       .registry = &g_reg,
                       .fibers = g_fibers,
                       .log_level = TWE_LOG_ERROR + 1, /* the code's lines: none */
                       .shard = -1};
  twe_run_t *run = NULL;
  if (twe__run_create(&env, "wf", "run", &run) < 0) abort();
  twe_arena_t out_arena;
  twe__arena_init(&out_arena, 16u << 20);
  size_t from = 0;
  for (size_t i = 0; i < h->n_events; i++) {
    bool last = i + 1 == h->n_events;
    if (!h->events[i]) break;
    if ((int)h->events[i]->event_type != EV(WORKFLOW_TASK_STARTED) && !last) continue;
    twe_run_outcome_t out;
    memset(&out, 0, sizeof out);
    int rc = twe__run_apply(run, h->events + from, i + 1 - from, &out_arena, &out);
    from = i + 1;
    if (rc < 0) {
      if (!out.message[0]) __builtin_trap(); /* a failure always says why */
      break;
    }
    if (rc != 0) break; /* waiting on local activities, or sliced: not here */
    for (size_t k = 0; k < out.n_commands; k++)
      if (!out.commands[k] || !out.commands[k]->command_type) __builtin_trap();
    if (out.closes_workflow) break;
  }
  twe__run_destroy(run);
  twe__arena_destroy(&out_arena);
  twe__arena_destroy(&arena);
  return 0;
}

/* --- seeds ---------------------------------------------------------------------------- */

static uint8_t g_seed[3][1024];
const uint8_t *twe_fuzz_seeds[] = {g_seed[0], g_seed[1], g_seed[2]};
size_t twe_fuzz_seed_lens[] = {0, 0, 0};
const size_t twe_fuzz_n_seeds = 3;

typedef struct seed {
  Temporal__Api__History__V1__HistoryEvent ev[16];
  Temporal__Api__History__V1__HistoryEvent *ptr[16];
  size_t n;
} seed_t;

static Temporal__Api__History__V1__HistoryEvent *ev(seed_t *s, int type) {
  Temporal__Api__History__V1__HistoryEvent *e = &s->ev[s->n];
  temporal__api__history__v1__history_event__init(e);
  e->event_id = (int64_t)s->n + 1;
  e->event_type = (Temporal__Api__Enums__V1__EventType)type;
  s->ptr[s->n++] = e;
  return e;
}

static void encode(seed_t *s, int i) {
  Temporal__Api__History__V1__History h = TEMPORAL__API__HISTORY__V1__HISTORY__INIT;
  h.events = s->ptr;
  h.n_events = s->n;
  size_t len = protobuf_c_message_get_packed_size(&h.base);
  if (len > sizeof g_seed[i]) abort();
  twe_fuzz_seed_lens[i] = protobuf_c_message_pack(&h.base, g_seed[i]);
}

void twe_fuzz_init(void);
void twe_fuzz_init(void) {
  static Temporal__Api__Common__V1__WorkflowType type = TEMPORAL__API__COMMON__V1__WORKFLOW_TYPE__INIT;
  static Temporal__Api__History__V1__WorkflowExecutionStartedEventAttributes st =
      TEMPORAL__API__HISTORY__V1__WORKFLOW_EXECUTION_STARTED_EVENT_ATTRIBUTES__INIT;
  static Temporal__Api__Common__V1__ActivityType atype = TEMPORAL__API__COMMON__V1__ACTIVITY_TYPE__INIT;
  static Temporal__Api__History__V1__ActivityTaskScheduledEventAttributes sched =
      TEMPORAL__API__HISTORY__V1__ACTIVITY_TASK_SCHEDULED_EVENT_ATTRIBUTES__INIT;
  static Temporal__Api__History__V1__ActivityTaskCompletedEventAttributes done =
      TEMPORAL__API__HISTORY__V1__ACTIVITY_TASK_COMPLETED_EVENT_ATTRIBUTES__INIT;
  static Temporal__Api__History__V1__TimerStartedEventAttributes timer =
      TEMPORAL__API__HISTORY__V1__TIMER_STARTED_EVENT_ATTRIBUTES__INIT;
  static Temporal__Api__History__V1__WorkflowExecutionSignaledEventAttributes sig =
      TEMPORAL__API__HISTORY__V1__WORKFLOW_EXECUTION_SIGNALED_EVENT_ATTRIBUTES__INIT;
  type.name = "Fuzzed";
  st.workflow_type = &type;
  atype.name = "A";
  sched.activity_id = "1";
  sched.activity_type = &atype;
  timer.timer_id = "2";
  sig.signal_name = "go";
  static seed_t s[3];
  /* 0: the first task. */
  Temporal__Api__History__V1__HistoryEvent *e;
  for (int i = 0; i < 3; i++) {
    e = ev(&s[i], EV(WORKFLOW_EXECUTION_STARTED));
    e->attributes_case = ATTR(WORKFLOW_EXECUTION_STARTED);
    e->workflow_execution_started_event_attributes = &st;
    ev(&s[i], EV(WORKFLOW_TASK_SCHEDULED));
    ev(&s[i], EV(WORKFLOW_TASK_STARTED));
  }
  encode(&s[0], 0);
  /* 1 and 2: the activity and the timer scheduled; the activity done (1),
   * or a signal (2); the next task. */
  for (int i = 1; i < 3; i++) {
    ev(&s[i], EV(WORKFLOW_TASK_COMPLETED));
    e = ev(&s[i], EV(ACTIVITY_TASK_SCHEDULED));
    e->attributes_case = ATTR(ACTIVITY_TASK_SCHEDULED);
    e->activity_task_scheduled_event_attributes = &sched;
    e = ev(&s[i], EV(TIMER_STARTED));
    e->attributes_case = ATTR(TIMER_STARTED);
    e->timer_started_event_attributes = &timer;
    if (i == 1) {
      done.scheduled_event_id = 5;
      e = ev(&s[i], EV(ACTIVITY_TASK_COMPLETED));
      e->attributes_case = ATTR(ACTIVITY_TASK_COMPLETED);
      e->activity_task_completed_event_attributes = &done;
    } else {
      e = ev(&s[i], EV(WORKFLOW_EXECUTION_SIGNALED));
      e->attributes_case = ATTR(WORKFLOW_EXECUTION_SIGNALED);
      e->workflow_execution_signaled_event_attributes = &sig;
    }
    ev(&s[i], EV(WORKFLOW_TASK_SCHEDULED));
    ev(&s[i], EV(WORKFLOW_TASK_STARTED));
    encode(&s[i], i);
  }
}

#ifdef TWE_FUZZ_LIBFUZZER
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  twe_fuzz_init();
  return 0;
}
#endif
