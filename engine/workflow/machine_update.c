/* engine/workflow/machine_update.c — the update machine: a request (a
 * protocol message of the task, or on replay the WORKFLOW_EXECUTION_UPDATE_
 * ACCEPTED event it was recorded as), its validation, acceptance and
 * completion, each sent as a protocol message with the task's answer (the
 * acceptance and the completion also as PROTOCOL_MESSAGE commands, which
 * the server records as events); the handlers workflow code sets
 * (twe_workflow_set_update_handler); and the delivery of requests.
 *
 *   REQUESTED --ACCEPT--> ACCEPT_PENDING      (accept message + command;
 *                                              the handler's coroutine starts)
 *   REQUESTED --REJECT--> REJECTED            (reject message; no event)
 *   ACCEPT_PENDING --UPDATE_ACCEPTED--> ACCEPTED
 *   ACCEPT_PENDING --COMPLETE--> ACCEPT_PENDING_COMPLETE  (handler done in
 *                                              the task that accepted it)
 *   ACCEPT_PENDING_COMPLETE --UPDATE_ACCEPTED--> COMPLETE_PENDING
 *   ACCEPTED --COMPLETE--> COMPLETE_PENDING   (complete message + command)
 *   COMPLETE_PENDING --UPDATE_COMPLETED--> COMPLETED
 *
 * Delivery: requests wait in the run until its coroutines have run as far
 * as they can in the activation (so handlers set at the start of the
 * workflow exist), then each is validated (not on replay: what was
 * accepted is in the history), accepted or rejected, in arrival order. An
 * update id the run already has is not taken twice. On replay the requests
 * of a task are rebuilt from the ACCEPTED events that follow its
 * WORKFLOW_TASK_COMPLETED (twe__updates_lookahead).
 *
 * Replay compares update ids, not message ids: other SDKs name their
 * messages their own way, and the history records only the request's. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/values.h"
#include "engine/watchdog.h"
#include "engine/workflow/machine.h"
#include "engine/workflow/run_internal.h"
#include "proto/codec.h"
#include "temporal/api/protocol/v1/message.pb-c.h"
#include "temporal/api/update/v1/message.pb-c.h"
#include "twe/error.h"
#include "twe/workflow.h"

#define EV(x) TEMPORAL__API__ENUMS__V1__EVENT_TYPE__EVENT_TYPE_##x
#define CATTR(x) TEMPORAL__API__COMMAND__V1__COMMAND__ATTRIBUTES_##x##_COMMAND_ATTRIBUTES
#define HATTR(x) TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_##x##_EVENT_ATTRIBUTES
#define TYPE_URL "type.googleapis.com/"

typedef Temporal__Api__Update__V1__Request request_pb_t;

enum {
  REQUESTED,
  ACCEPT_PENDING,
  ACCEPTED,
  ACCEPT_PENDING_COMPLETE,
  COMPLETE_PENDING,
  COMPLETED,
  REJECTED,
  N_STATES
};
static const char *const state_names[N_STATES] = {
    "REQUESTED",        "ACCEPT_PENDING", "ACCEPTED", "ACCEPT_PENDING_COMPLETE",
    "COMPLETE_PENDING", "COMPLETED",      "REJECTED"};

struct twe__update {
  twe__machine_t m; /* first: the common part */
  twe_update_t pub;
  const char *message_id;  /* of the request */
  int64_t sequencing_event_id;
  request_pb_t *request;   /* run arena */
  twe_update_fn fn;        /* the handler it was given to */
  void *user;
  /* Set by the handler's coroutine before COMPLETE. */
  twe_payload_pb_t *result;
  twe_failure_pb_t *failure;
  /* REJECT: why. */
  const char *reject_message;
  twe__update_t *next; /* run->updates: every update of the run */
};

/* --- messages ------------------------------------------------------------------ */

/* Queues a protocol message for the task's answer: id "<request id>/<what>",
 * body msg packed into an Any. Returns 0 or a fatal status. */
static int add_message(twe_run_t *run, twe__update_t *u, const char *what,
                       const ProtobufCMessage *msg) {
  twe_arena_t *a = &run->arena;
  Temporal__Api__Protocol__V1__Message *pm = twe__arena_alloc(a, sizeof *pm);
  Google__Protobuf__Any *any = twe__arena_alloc(a, sizeof *any);
  twe__message_t *entry = twe__arena_alloc(a, sizeof *entry);
  char id[512], url[256];
  if (!pm || !any || !entry) return twe__run_oom(run);
  temporal__api__protocol__v1__message__init(pm);
  google__protobuf__any__init(any);
  snprintf(id, sizeof id, "%s/%s", u->message_id, what);
  snprintf(url, sizeof url, TYPE_URL "%s", msg->descriptor->name);
  pm->id = twe__str(a, id);
  pm->protocol_instance_id = (char *)u->pub.id;
  any->type_url = twe__str(a, url);
  if (!pm->id || !any->type_url ||
      twe__proto_encode(msg, a, &any->value.data, &any->value.len) < 0)
    return twe__run_oom(run);
  pm->body = any;
  entry->pb = pm;
  entry->next = NULL;
  if (run->messages_tail)
    run->messages_tail->next = entry;
  else
    run->messages_head = entry;
  run->messages_tail = entry;
  run->n_messages++;
  return 0;
}

/* The PROTOCOL_MESSAGE command for message "<request id>/<what>". */
static int add_command(twe_run_t *run, twe__update_t *u, const char *what) {
  twe_arena_t *a = &run->arena;
  twe_command_pb_t *c = twe__arena_alloc(a, sizeof *c);
  Temporal__Api__Command__V1__ProtocolMessageCommandAttributes *pm =
      twe__arena_alloc(a, sizeof *pm);
  char id[512];
  if (!c || !pm) return twe__run_oom(run);
  temporal__api__command__v1__command__init(c);
  temporal__api__command__v1__protocol_message_command_attributes__init(pm);
  snprintf(id, sizeof id, "%s/%s", u->message_id, what);
  if (!(pm->message_id = twe__str(a, id))) return twe__run_oom(run);
  c->command_type = TEMPORAL__API__ENUMS__V1__COMMAND_TYPE__COMMAND_TYPE_PROTOCOL_MESSAGE;
  c->attributes_case = CATTR(PROTOCOL_MESSAGE);
  c->protocol_message_command_attributes = pm;
  return twe__machine_command(run, &u->m, c) < 0 ? twe__run_oom(run) : 0;
}

/* --- the handler's coroutine ---------------------------------------------------- */

static void handler_body(twe__wfiber_t *w) {
  twe__update_t *u = w->body_arg;
  twe_run_t *run = w->run;
  twe_payload_t result = twe_payload_null();
  twe_error_info_t error;
  memset(&error, 0, sizeof error);
  int rc = u->fn(&run->wf, &u->pub, u->user, &result, &error);
  if (rc == 0) {
    if (twe__value_to_payload(&run->arena, &result, &u->result) < 0) {
      twe__run_oom(run);
      return;
    }
  } else {
    if (!error.message || !*error.message) error.message = "update handler failed";
    if (twe__failure_from_error(&run->arena, &error, &u->failure) < 0) {
      twe__run_oom(run);
      return;
    }
  }
  twe__machine_input(run, &u->m, TWE__IN_COMPLETE, NULL);
}

/* --- actions -------------------------------------------------------------------- */

static int act_accept(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__update_t *u = (twe__update_t *)m;
  Temporal__Api__Update__V1__Acceptance acc = TEMPORAL__API__UPDATE__V1__ACCEPTANCE__INIT;
  acc.accepted_request_message_id = (char *)u->message_id;
  acc.accepted_request_sequencing_event_id = u->sequencing_event_id;
  acc.accepted_request = u->request;
  int rc = add_message(run, u, "accept", &acc.base);
  if (rc == 0) rc = add_command(run, u, "accept");
  if (rc < 0) return rc;
  char label[300];
  snprintf(label, sizeof label, "update handler \"%s\" (id %s)", u->pub.name, u->pub.id);
  const char *kept = twe__str(&run->arena, label);
  if (!kept) return twe__run_oom(run);
  return twe__run_spawn(run, handler_body, u, kept);
}

static int act_reject(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__update_t *u = (twe__update_t *)m;
  Temporal__Api__Update__V1__Rejection rej = TEMPORAL__API__UPDATE__V1__REJECTION__INIT;
  rej.rejected_request_message_id = (char *)u->message_id;
  rej.rejected_request_sequencing_event_id = u->sequencing_event_id;
  rej.rejected_request = u->request;
  if (twe__failure_new(&run->arena, "UpdateRejected", u->reject_message, true, &rej.failure) < 0)
    return twe__run_oom(run);
  return add_message(run, u, "reject", &rej.base);
}

static int act_complete(twe_run_t *run, twe__machine_t *m, const twe_event_pb_t *e, int *to) {
  (void)e, (void)to;
  twe__update_t *u = (twe__update_t *)m;
  Temporal__Api__Update__V1__Meta meta = TEMPORAL__API__UPDATE__V1__META__INIT;
  Temporal__Api__Update__V1__Outcome outcome = TEMPORAL__API__UPDATE__V1__OUTCOME__INIT;
  Temporal__Api__Update__V1__Response resp = TEMPORAL__API__UPDATE__V1__RESPONSE__INIT;
  meta.update_id = (char *)u->pub.id;
  meta.identity = (char *)u->pub.identity;
  if (u->failure) {
    outcome.value_case = TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_FAILURE;
    outcome.failure = u->failure;
  } else {
    outcome.value_case = TEMPORAL__API__UPDATE__V1__OUTCOME__VALUE_SUCCESS;
    if (twe__payloads_new(&run->arena, &u->result, 1, &outcome.success) < 0)
      return twe__run_oom(run);
  }
  resp.meta = &meta;
  resp.outcome = &outcome;
  int rc = add_message(run, u, "complete", &resp.base);
  return rc < 0 ? rc : add_command(run, u, "complete");
}

static const twe__mrow_t rows[] = {
    {REQUESTED, TWE__IN_ACCEPT, ACCEPT_PENDING, act_accept},
    {REQUESTED, TWE__IN_REJECT, REJECTED, act_reject},
    {ACCEPT_PENDING, EV(WORKFLOW_EXECUTION_UPDATE_ACCEPTED), ACCEPTED, NULL},
    {ACCEPT_PENDING, TWE__IN_COMPLETE, ACCEPT_PENDING_COMPLETE, act_complete},
    {ACCEPT_PENDING_COMPLETE, EV(WORKFLOW_EXECUTION_UPDATE_ACCEPTED), COMPLETE_PENDING, NULL},
    {ACCEPTED, TWE__IN_COMPLETE, COMPLETE_PENDING, act_complete},
    {COMPLETE_PENDING, EV(WORKFLOW_EXECUTION_UPDATE_COMPLETED), COMPLETED, NULL},
};
TWE__MKIND_HITS(hits, rows);

/* The event names the same update (by id; see the header). */
static bool same_key(const twe__machine_t *m, const twe_command_pb_t *c, const twe_event_pb_t *e) {
  (void)c;
  const twe__update_t *u = (const twe__update_t *)m;
  if (e->attributes_case == HATTR(WORKFLOW_EXECUTION_UPDATE_ACCEPTED))
    return twe__str_eq(u->pub.id, e->workflow_execution_update_accepted_event_attributes->protocol_instance_id);
  const Temporal__Api__History__V1__WorkflowExecutionUpdateCompletedEventAttributes *a =
      e->workflow_execution_update_completed_event_attributes;
  return a->meta && twe__str_eq(u->pub.id, a->meta->update_id);
}

static void describe(const twe__machine_t *m, char *buf, size_t len) {
  const twe__update_t *u = (const twe__update_t *)m;
  snprintf(buf, len, "update %s (id %s)", u->pub.name, u->pub.id);
}

const twe__mkind_t twe__mk_update = {
    .name = "update",
    .states = state_names,
    .n_states = N_STATES,
    TWE__MKIND_ROWS(rows),
    .same_key = same_key,
    .describe = describe,
    .hits = hits,
};

/* --- requests and their delivery ------------------------------------------------ */

static twe__update_t *find_update(const twe_run_t *run, const char *id) {
  for (twe__update_t *u = run->updates; u; u = u->next)
    if (strcmp(u->pub.id, id) == 0) return u;
  return NULL;
}

/* A request for delivery (copied into the run arena). */
static int add_request(twe_run_t *run, const char *message_id, int64_t seq_event_id,
                       const request_pb_t *req) {
  twe_arena_t *a = &run->arena;
  twe__update_request_t *r = twe__arena_alloc(a, sizeof *r);
  if (!r) return twe__run_oom(run);
  memset(r, 0, sizeof *r);
  r->request = twe__run_copy_msg(run, &req->base);
  r->message_id = twe__str(a, message_id ? message_id : "");
  if (!r->request || !r->message_id) return twe__run_oom(run);
  r->sequencing_event_id = seq_event_id;
  if (run->requests_tail)
    run->requests_tail->next = r;
  else
    run->requests_head = r;
  run->requests_tail = r;
  return 0;
}

int twe__updates_take_messages(twe_run_t *run, Temporal__Api__Protocol__V1__Message *const *msgs,
                               size_t n) {
  for (size_t i = 0; i < n; i++) {
    const Temporal__Api__Protocol__V1__Message *m = msgs[i];
    const char *url = m && m->body && m->body->type_url ? m->body->type_url : "";
    const char *slash = strrchr(url, '/');
    const char *type = slash ? slash + 1 : url;
    if (strcmp(type, temporal__api__update__v1__request__descriptor.name) != 0) {
      twe__run_log(run, TWE_LOG_WARN,
                   "ignoring a protocol message of type \"%s\" (only update requests are "
                   "understood)", url);
      continue;
    }
    ProtobufCMessage *req = NULL;
    if (twe__proto_decode(&temporal__api__update__v1__request__descriptor, &run->arena,
                          m->body->value.data, m->body->value.len, &req) < 0)
      return twe__run_fail(run, TWE_EDECODE,
                           TEMPORAL__API__ENUMS__V1__WORKFLOW_TASK_FAILED_CAUSE__WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                           "workflow run %s: protocol message %s: its update request does not "
                           "decode",
                           run->info.run_id, m->id ? m->id : "");
    int64_t seq = m->sequencing_id_case ==
                          TEMPORAL__API__PROTOCOL__V1__MESSAGE__SEQUENCING_ID_EVENT_ID
                      ? m->event_id
                      : 0;
    int rc = add_request(run, m->id, seq, (const request_pb_t *)req);
    if (rc < 0) return rc;
  }
  return 0;
}

int twe__updates_lookahead(twe_run_t *run, twe_event_pb_t *const *events, size_t from,
                           size_t n) {
  for (size_t j = from; j < n; j++) {
    const twe_event_pb_t *e = events[j];
    int type = (int)e->event_type;
    if (type == EV(WORKFLOW_TASK_SCHEDULED) || type == EV(WORKFLOW_TASK_STARTED)) break;
    if (type != EV(WORKFLOW_EXECUTION_UPDATE_ACCEPTED) ||
        e->attributes_case != HATTR(WORKFLOW_EXECUTION_UPDATE_ACCEPTED))
      continue;
    const Temporal__Api__History__V1__WorkflowExecutionUpdateAcceptedEventAttributes *a =
        e->workflow_execution_update_accepted_event_attributes;
    if (!a || !a->accepted_request) continue; /* the pairing reports it */
    int rc = add_request(run, a->accepted_request_message_id,
                         a->accepted_request_sequencing_event_id, a->accepted_request);
    if (rc < 0) return rc;
  }
  return 0;
}

static const twe__update_handler_t *handler_for(const twe_run_t *run, const char *name) {
  for (const twe__update_handler_t *h = run->update_handlers; h; h = h->next)
    if (strcmp(h->name, name) == 0) return h;
  return NULL;
}

typedef struct validate_call {
  const twe__update_handler_t *h;
  twe__update_t *u;
  int rc;
  const char *message; /* copied into the run arena */
} validate_call_t;

static void validate_body(twe__wfiber_t *w) {
  validate_call_t *c = w->body_arg;
  twe_error_info_t error;
  memset(&error, 0, sizeof error);
  c->rc = c->h->validator(&w->run->wf, &c->u->pub, c->h->user, &error);
  if (c->rc != 0)
    c->message = twe__str(&w->run->arena, error.message && *error.message
                                              ? error.message
                                              : "rejected by the update's validator");
}

/* The update's public view from its request: name, id, args, identity. */
static int fill_update(twe_run_t *run, twe__update_t *u, const twe__update_request_t *r) {
  const request_pb_t *req = r->request;
  twe_arena_t *a = &run->arena;
  u->request = r->request;
  u->message_id = r->message_id;
  u->sequencing_event_id = r->sequencing_event_id;
  u->pub.name = req->input && req->input->name ? req->input->name : "";
  u->pub.id = req->meta && req->meta->update_id ? req->meta->update_id : "";
  u->pub.identity = req->meta && req->meta->identity ? req->meta->identity : "";
  const twe_payloads_pb_t *args = req->input ? req->input->args : NULL;
  if (args && args->n_payloads) {
    twe_payload_t *values = twe__arena_alloc(a, args->n_payloads * sizeof *values);
    if (!values) return twe__run_oom(run);
    for (size_t i = 0; i < args->n_payloads; i++) {
      if (twe__value_from_payload(a, args->payloads[i], &values[i]) < 0) return twe__run_oom(run);
      char why[256], msg[512];
      if (!u->pub.input_error && twe__value_check(args->payloads[i], why, sizeof why) < 0) {
        snprintf(msg, sizeof msg, "update \"%s\" input %zu is not valid JSON: %s", u->pub.name,
                 i + 1, why);
        if (!(u->pub.input_error = twe__str(a, msg))) return twe__run_oom(run);
      }
    }
    u->pub.args = values;
    u->pub.nargs = args->n_payloads;
  }
  return 0;
}

/* "a, b": the run's update handlers. */
static void known_names(const twe_run_t *run, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  for (const twe__update_handler_t *h = run->update_handlers; h && used + 1 < len; h = h->next) {
    int k = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", h->name);
    if (k > 0) used += (size_t)k < len - used ? (size_t)k : len - used - 1;
  }
  if (!used) snprintf(buf, len, "none");
}

static int deliver_one(twe_run_t *run, twe__update_request_t *r) {
  const char *id = r->request->meta && r->request->meta->update_id ? r->request->meta->update_id
                                                                  : "";
  if (find_update(run, id)) return 0; /* the same update again: taken once */
  twe__update_t *u = twe__machine_new(run, &twe__mk_update, sizeof *u);
  if (!u) return twe__run_oom(run);
  int rc = fill_update(run, u, r);
  if (rc < 0) return rc;
  u->next = run->updates;
  run->updates = u;
  const twe__update_handler_t *h = handler_for(run, u->pub.name);
  char msg[700];
  if (!h) {
    char known[400];
    known_names(run, known, sizeof known);
    snprintf(msg, sizeof msg, "unknown update \"%s\" for workflow \"%s\" (known: %s)",
             u->pub.name, run->info.workflow_type, known);
    if (!(u->reject_message = twe__str(&run->arena, msg))) return twe__run_oom(run);
    return twe__machine_input(run, &u->m, TWE__IN_REJECT, NULL);
  }
  /* What was accepted is in the history: replay does not ask again. */
  if (h->validator && !run->replaying) {
    validate_call_t c = {.h = h, .u = u};
    rc = twe__run_readonly_call(run, validate_body, &c, "update validator");
    if (rc < 0) return rc;
    if (run->query_refused) {
      snprintf(msg, sizeof msg,
               "the validator of update \"%s\" called %s: validators are read-only",
               u->pub.name, run->query_refused);
      c.rc = 1;
      c.message = twe__str(&run->arena, msg);
    }
    if (c.rc != 0) {
      if (!(u->reject_message = c.message)) return twe__run_oom(run);
      return twe__machine_input(run, &u->m, TWE__IN_REJECT, NULL);
    }
  }
  u->fn = h->fn;
  u->user = h->user;
  return twe__machine_input(run, &u->m, TWE__IN_ACCEPT, NULL);
}

int twe__updates_deliver(twe_run_t *run) {
  if (!run->requests_head || run->closed) return 0;
  twe__update_request_t *r = run->requests_head;
  run->requests_head = run->requests_tail = NULL;
  for (; r; r = r->next) {
    int rc = deliver_one(run, r);
    if (rc < 0) return rc;
  }
  return 1;
}

int twe_workflow_set_update_handler(twe_workflow_t *wf, const char *name, twe_update_fn fn,
                                    twe_update_validator_fn validator, void *user) {
  TWE__WATCH_API_GUARD();
  twe_run_t *run = twe__run_of(wf, __func__);
  int rc = twe__run_refuse_in_query(run, __func__);
  if (rc < 0) return rc;
  if (!name || !*name) return -EINVAL;
  twe__update_handler_t **p = &run->update_handlers;
  while (*p && strcmp((*p)->name, name) != 0) p = &(*p)->next;
  if (!fn) {
    if (*p) *p = (*p)->next;
    return 0;
  }
  if (!*p) {
    twe__update_handler_t *h = twe__arena_alloc(&run->arena, sizeof *h);
    if (!h) return twe__arena_error(&run->arena);
    memset(h, 0, sizeof *h);
    if (!(h->name = twe__str(&run->arena, name))) return twe__arena_error(&run->arena);
    *p = h;
  }
  (*p)->fn = fn;
  (*p)->validator = validator;
  (*p)->user = user;
  return 0;
}
