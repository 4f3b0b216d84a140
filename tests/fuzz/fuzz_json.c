/* tests/fuzz/fuzz_json.c — fuzz target for the two proto3 JSON readers
 * (proto/json_text.c and the tree reader of proto/json.c), one against the
 * other: any bytes read as a history in one pass are read by the tree
 * reader too, into the same message (compared encoded); the entry point
 * (twe__history_from_json_text) answers 0 or TWE_EJSON with a message;
 * nothing is read past the input and nothing leaks (under ASan). Built as a
 * libFuzzer target with clang (scripts/fuzz), and replayed over mutated
 * seeds under ctest (tests/fuzz/replay_main.c). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json.h"
#include "proto/json_internal.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char seed_history[] =
    "{\"events\":[{\"eventId\":\"1\",\"eventTime\":\"2026-12-06T21:44:47.205678732Z\","
    "\"eventType\":\"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED\",\"taskId\":\"1048587\","
    "\"workflowExecutionStartedEventAttributes\":{\"workflowType\":{\"name\":\"T\"},"
    "\"taskQueue\":{\"name\":\"q\",\"kind\":\"TASK_QUEUE_KIND_NORMAL\"},"
    "\"workflowTaskTimeout\":\"10s\",\"attempt\":1,\"header\":{},\"input\":{\"payloads\":"
    "[{\"metadata\":{\"encoding\":\"anNvbi9wbGFpbg==\"},\"data\":\"eyJhIjoxfQ==\"}]}}},"
    "{\"eventId\":\"2\",\"eventType\":\"WorkflowTaskScheduled\",\"workflowTaskScheduled"
    "EventAttributes\":{\"startToCloseTimeout\":\"10s\",\"attempt\":1}},"
    "{\"eventId\":\"3\",\"eventType\":6,\"workflowTaskCompletedEventAttributes\":"
    "{\"sdkMetadata\":{\"langUsedFlags\":[3,1],\"sdkName\":\"s\\u00e9\\n\"},\"newField\":[1.5e3,"
    "null,true]}}]}";
static const char seed_response[] =
    "{\"history\":{\"events\":[{\"eventId\":\"1\",\"activityTaskScheduledEventAttributes\":"
    "{\"activityId\":\"5\",\"retryPolicy\":{\"initialInterval\":\"1s\",\"backoffCoefficient\":2,"
    "\"maximumAttempts\":0,\"nonRetryableErrorTypes\":[\"x\"]}}}]},\"nextPageToken\":\"\"}";
static const char seed_array[] =
    "[{\"eventId\":\"1\",\"workflowExecutionUpdateAcceptedEventAttributes\":{\"acceptedRequest"
    "\":{\"meta\":{\"updateId\":\"u\"},\"input\":{\"name\":\"n\",\"header\":{\"fields\":{\"k\":"
    "{}}}}}}},{\"eventId\":\"2\",\"userMetadata\":{\"summary\":{\"data\":\"\"}}}]";
const uint8_t *twe_fuzz_seeds[] = {(const uint8_t *)seed_history, (const uint8_t *)seed_response,
                                   (const uint8_t *)seed_array};
size_t twe_fuzz_seed_lens[] = {sizeof seed_history - 1, sizeof seed_response - 1,
                               sizeof seed_array - 1};
const size_t twe_fuzz_n_seeds = 3;

/* The tree reader's history for the text, as twe__history_from_json_text
 * reads it without the one-pass reader, or NULL. */
static Temporal__Api__History__V1__History *tree_history(const char *text, size_t len,
                                                         twe_arena_t *arena) {
  json_t *j = json_loadb(text, len, JSON_DECODE_ANY, NULL);
  if (!j) return NULL;
  if (json_is_array(j)) {
    json_t *wrap = json_object();
    if (!wrap || json_object_set_new(wrap, "events", j)) __builtin_trap();
    j = wrap;
  }
  ProtobufCMessage *m = NULL;
  Temporal__Api__History__V1__History *h = NULL;
  if (json_is_object(j) && json_object_get(j, "history") && !json_object_get(j, "events")) {
    if (twe__proto_from_json(
            &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
            j, arena, &m, NULL, 0) == 0) {
      h = ((Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *)m)->history;
      if (!h && (h = twe__arena_alloc(arena, sizeof *h)))
        temporal__api__history__v1__history__init(h);
    }
  } else if (twe__proto_from_json(&temporal__api__history__v1__history__descriptor, j, arena, &m,
                                  NULL, 0) == 0) {
    h = (Temporal__Api__History__V1__History *)m;
  }
  json_decref(j);
  return h;
}

static uint8_t *encode(const ProtobufCMessage *msg, size_t *len) {
  *len = protobuf_c_message_get_packed_size(msg);
  uint8_t *b = malloc(*len ? *len : 1);
  if (!b) __builtin_trap();
  protobuf_c_message_pack(msg, b);
  return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  Temporal__Api__History__V1__History *fast = NULL;
  int rc = twe__json_text_read_history(text, size, &arena, &fast);
  if (rc == 0) {
    Temporal__Api__History__V1__History *tree = tree_history(text, size, &arena);
    if (!tree) __builtin_trap(); /* read in one pass, refused by the tree reader */
    size_t la, lb;
    uint8_t *a = encode(&fast->base, &la), *b = encode(&tree->base, &lb);
    if (la != lb || memcmp(a, b, la) != 0) __builtin_trap();
    free(a);
    free(b);
  } else if (rc != TWE__JSON_TEXT_GIVE_UP) {
    __builtin_trap();
  }
  twe__arena_reset(&arena);
  char err[256];
  Temporal__Api__History__V1__History *h = NULL;
  rc = twe__history_from_json_text(text, size, &arena, &h, err, sizeof err);
  if (rc == 0 ? !h : (rc != TWE_EJSON || !err[0])) __builtin_trap();
  twe__arena_destroy(&arena);
  return 0;
}
