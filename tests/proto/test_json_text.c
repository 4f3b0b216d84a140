/* tests/proto/test_json_text.c — the one-pass JSON reader (proto/json_text.c)
 * against the tree reader (proto/json.c) it stands in for: on every
 * document it reads, the same message (compared as encoded bytes); on the
 * forms it leaves to the tree reader, a give-up, after which json.c's entry
 * points still answer as the tree reader does; on random edits of real
 * histories, never a message the tree reader would not make. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "proto/codec.h"
#include "proto/json.h"
#include "proto/json_internal.h"
#include "temporal/api/protocol/v1/message.pb-c.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/error.h"

typedef Temporal__Api__History__V1__History history_t;

#define D_HISTORY (&temporal__api__history__v1__history__descriptor)
#define D_EVENT (&temporal__api__history__v1__history_event__descriptor)
#define D_STARTED \
  (&temporal__api__history__v1__workflow_execution_started_event_attributes__descriptor)
#define D_RETRY (&temporal__api__common__v1__retry_policy__descriptor)
#define D_PAYLOAD (&temporal__api__common__v1__payload__descriptor)
#define D_PAYLOADS (&temporal__api__common__v1__payloads__descriptor)
#define D_PRIORITY (&temporal__api__common__v1__priority__descriptor)
#define D_MEMO (&temporal__api__common__v1__memo__descriptor)
#define D_TASK_QUEUE (&temporal__api__taskqueue__v1__task_queue__descriptor)
#define D_PROTOCOL_MSG (&temporal__api__protocol__v1__message__descriptor)
#define D_RESPONSE \
  (&temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor)
#define D_TIMESTAMP (&google__protobuf__timestamp__descriptor)
#define D_DURATION (&google__protobuf__duration__descriptor)
#define D_FIELD_MASK (&google__protobuf__field_mask__descriptor)
#define D_STRUCT (&google__protobuf__struct__descriptor)
#define D_EMPTY (&google__protobuf__empty__descriptor)
#define D_INT64_VALUE (&google__protobuf__int64_value__descriptor)
#define D_UINT64_VALUE (&google__protobuf__uint64_value__descriptor)
#define D_DOUBLE_VALUE (&google__protobuf__double_value__descriptor)
#define D_BYTES_VALUE (&google__protobuf__bytes_value__descriptor)

/* msg encoded, malloc'd; *len set. */
static uint8_t *encode(const ProtobufCMessage *msg, size_t *len) {
  *len = protobuf_c_message_get_packed_size(msg);
  uint8_t *b = malloc(*len ? *len : 1);
  assert_non_null(b);
  assert_int_equal(protobuf_c_message_pack(msg, b), *len);
  return b;
}

/* The tree reader's message for text as desc, or NULL where it fails. */
static ProtobufCMessage *tree_read(const ProtobufCMessageDescriptor *desc, const char *text,
                                   size_t len, twe_arena_t *arena) {
  json_t *j = json_loadb(text, len, JSON_DECODE_ANY, NULL);
  if (!j) return NULL;
  ProtobufCMessage *m = NULL;
  int rc = twe__proto_from_json(desc, j, arena, &m, NULL, 0);
  json_decref(j);
  return rc == 0 ? m : NULL;
}

/* The tree reader's history for text, by twe__history_from_json_text's
 * shapes (a bare array, a response, a History), or NULL. */
static history_t *tree_history(const char *text, size_t len, twe_arena_t *arena) {
  json_t *j = json_loadb(text, len, JSON_DECODE_ANY, NULL);
  if (!j) return NULL;
  if (json_is_array(j)) {
    json_t *wrap = json_object();
    json_object_set_new(wrap, "events", j);
    j = wrap;
  }
  ProtobufCMessage *m = NULL;
  history_t *h = NULL;
  if (json_is_object(j) && json_object_get(j, "history") && !json_object_get(j, "events")) {
    if (twe__proto_from_json(D_RESPONSE, j, arena, &m, NULL, 0) == 0) {
      h = ((Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *)m)->history;
      if (!h) {
        h = twe__arena_alloc(arena, sizeof *h);
        temporal__api__history__v1__history__init(h);
      }
    }
  } else if (twe__proto_from_json(D_HISTORY, j, arena, &m, NULL, 0) == 0) {
    h = (history_t *)m;
  }
  json_decref(j);
  return h;
}

static void assert_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b,
                                const char *what) {
  size_t la, lb;
  uint8_t *ea = encode(a, &la), *eb = encode(b, &lb);
  if (la != lb || memcmp(ea, eb, la) != 0)
    fail_msg("%s: the one-pass reader's message differs from the tree reader's", what);
  free(ea);
  free(eb);
}

/* text read as desc by both readers: the one-pass reader must not give up,
 * and must make the tree reader's message. */
static void same(const ProtobufCMessageDescriptor *desc, const char *text) {
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  ProtobufCMessage *fast = NULL;
  if (twe__json_text_read(desc, text, strlen(text), &arena, &fast) != 0)
    fail_msg("gave up on %s", text);
  ProtobufCMessage *tree = tree_read(desc, text, strlen(text), &arena);
  if (!tree) fail_msg("the tree reader refuses %s", text);
  assert_same_message(fast, tree, text);
  twe__arena_destroy(&arena);
}

/* The one-pass reader gives up on text; json.c's entry point answers rc. */
static void gives_up(const ProtobufCMessageDescriptor *desc, const char *text, int rc) {
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  ProtobufCMessage *m = NULL;
  if (twe__json_text_read(desc, text, strlen(text), &arena, &m) != TWE__JSON_TEXT_GIVE_UP)
    fail_msg("read %s", text);
  twe__arena_reset(&arena);
  char err[256];
  if (twe__proto_from_json_text(desc, text, strlen(text), &arena, &m, err, sizeof err) != rc)
    fail_msg("%s: want rc %d, got: %s", text, rc, err);
  if (rc == 0) {
    ProtobufCMessage *tree = tree_read(desc, text, strlen(text), &arena);
    assert_non_null(tree);
    assert_same_message(m, tree, text);
  }
  twe__arena_destroy(&arena);
}

static void test_json_text_read_same_as_tree(void **state) {
  (void)state;
  same(D_STARTED,
       "{\"workflowType\":{\"name\":\"Greet\"},\"task_queue\":{\"name\":\"tq\"},"
       "\"parentWorkflowNamespace\":\"ns\",\"first_execution_run_id\":\"r1\"}");
  same(D_EVENT, "{\"eventId\":\"9007199254740993\",\"taskId\":42,\"version\":\"-7\"}");
  same(D_EVENT, "{\"eventId\":\"-9223372036854775808\",\"taskId\":\"9223372036854775807\"}");
  same(D_EVENT, "{\"eventId\":-9223372036854775808,\"taskId\":9223372036854775807}");
  same(D_RETRY,
       "{\"maximumAttempts\":\"12\",\"backoffCoefficient\":2.5,"
       "\"nonRetryableErrorTypes\":[\"A\",\"B\"]}");
  same(D_RETRY, "{\"maximumAttempts\":-3,\"backoffCoefficient\":\"NaN\"}");
  same(D_RETRY,
       "{\"backoffCoefficient\":\"-Infinity\",\"initialInterval\":\"0.25s\","
       "\"maximumInterval\":\"100s\"}");
  same(D_RETRY, "{\"backoffCoefficient\":1e-320}"); /* underflow: jansson keeps it */
  same(D_UINT64_VALUE, "\"18446744073709551615\"");
  same(D_INT64_VALUE, "\"-9223372036854775808\"");
  same(D_DOUBLE_VALUE, "0.5");
  same(D_BYTES_VALUE, "\"eHk=\"");
  same(D_EMPTY, " { } ");
  same(D_FIELD_MASK, "\"fooBar,baz.quxQuux,a\"");
  same(D_TIMESTAMP, "\"2024-05-01T05:30:00.5-02:30\"");
  same(D_DURATION, "\"-0.000000001s\"");
  same(D_PRIORITY,
       "{\"fairnessWeight\":\"Infinity\",\"priorityKey\":3,"
       "\"fairnessKey\":\"t\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}");
  same(D_PRIORITY, "{\"fairnessKey\":\"raw UTF-8: \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
  same(D_PAYLOAD,
       "{\"data\":\"aGVsbG8_Pz4-\",\"metadata\":{\"encoding\":\"anNvbi9wbGFpbg==\","
       "\"k\\u00e9y\":\"\"}}");
  same(D_PAYLOAD, "{\"metadata\":[{\"key\":\"encoding\",\"value\":\"YmluYXJ5L251bGw=\"}]}");
  same(D_MEMO,
       "{\"fields\":{\"a\":{\"metadata\":{\"encoding\":\"anNvbi9wbGFpbg==\"},"
       "\"data\":\"MQ==\"},\"b\":{}}}");
  same(D_EVENT,
       "{\"eventType\":\"WorkflowExecutionStarted\",\"event_time\":"
       "\"2026-12-06T21:44:47.205678732Z\"}");
  same(D_EVENT, "{\"eventType\":\"EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT\"}");
  same(D_EVENT, "{\"eventType\":10,\"workerMayIgnore\":true,\"links\":[]}");
  same(D_TASK_QUEUE, "{\"name\":\"q\",\"kind\":\"Sticky\"}");
  same(D_HISTORY,
       "{\"events\":[{\"eventId\":\"1\",\"timerFiredEventAttributes\":"
       "{\"timerId\":\"t1\",\"startedEventId\":\"5\"}},"
       "{\"eventId\":\"2\",\"workflowExecutionSignaledEventAttributes\":"
       "{\"signalName\":\"s\",\"input\":null}}]}");
  same(D_PROTOCOL_MSG, "{\"eventId\":\"17\"}");
  /* null is "not set"; unknown keys are skipped, whatever their values. */
  same(D_STARTED,
       "{\"workflowType\":null,\"attempt\":null,\"identity\":null,\"input\":null,"
       "\"newThing\":{\"x\":[1,-2.5e3,\"s\\n\",true,false,null,{}],\"y\":[]},"
       "\"alsoNew\":0,\"workflowTaskTimeout\":null}");
  /* Any, Struct, Value: handed to the tree reader field by field. */
  same(D_PROTOCOL_MSG,
       "{\"id\":\"m1\",\"body\":{"
       "\"@type\":\"type.googleapis.com/temporal.api.common.v1.WorkflowExecution\","
       "\"workflowId\":\"wf\",\"runId\":\"r\"}}");
}

static void test_json_text_read_gives_up(void **state) {
  (void)state;
  /* Errors: the tree reader reports them. */
  gives_up(D_RETRY, "{\"maximumAttempts\":2147483648}", TWE_EJSON);
  gives_up(D_RETRY, "{\"maximumAttempts\":\"12abc\"}", TWE_EJSON);
  gives_up(D_EVENT, "{\"eventType\":\"EVENT_TYPE_NOPE\"}", TWE_EJSON);
  gives_up(D_EVENT, "{\"eventId\":true}", TWE_EJSON);
  gives_up(D_EVENT, "{\"eventTime\":\"yesterday\"}", TWE_EJSON);
  gives_up(D_HISTORY, "{\"events\":[{},null]}", TWE_EJSON);
  gives_up(D_HISTORY, "{\"events\": [1,", TWE_EJSON);
  gives_up(D_HISTORY, "{\"events\":[],}", TWE_EJSON);
  gives_up(D_HISTORY, "{\"events\":[]} x", TWE_EJSON);
  gives_up(D_HISTORY, "null", TWE_EJSON);
  gives_up(D_EVENT, "{\"eventId\":01}", TWE_EJSON);
  gives_up(D_EVENT, "{\"eventId\":9223372036854775808}", TWE_EJSON);
  gives_up(D_PRIORITY, "{\"fairnessKey\":\"\\u0000\"}", TWE_EJSON);
  gives_up(D_PRIORITY, "{\"fairnessKey\":\"\\ud800\"}", TWE_EJSON);
  gives_up(D_PRIORITY, "{\"fairnessKey\":\"\xc0\xaf\"}", TWE_EJSON);     /* overlong */
  gives_up(D_PRIORITY, "{\"fairnessKey\":\"\xed\xa0\x80\"}", TWE_EJSON); /* a surrogate */
  gives_up(D_PRIORITY, "{\"fairnessKey\":\"tab\there\"}", TWE_EJSON);
  gives_up(D_MEMO, "{\"fields\":{\"x\":null}}", TWE_EJSON);
  gives_up(D_EVENT, "{\"timerFiredEventAttributes\":{},\"timerStartedEventAttributes\":{}}",
           TWE_EJSON);
  /* Forms that are valid, left to the tree reader. */
  gives_up(D_EVENT, "{\"eventId\":\"1e3\",\"taskId\":5.0}", 0);
  gives_up(D_EVENT, "{\"eventId\":\"1\",\"eventId\":\"2\"}", 0); /* a key twice */
  gives_up(D_EVENT, "{\"eventId\":\"1\",\"event_id\":\"2\"}", 0);
  gives_up(D_PAYLOAD, "{\"metadata\":{\"a\":\"\",\"a\":\"eA==\"}}", 0);
  gives_up(D_RETRY, "{\"backoffCoefficient\":\"1.25\"}", 0);
  gives_up(D_STRUCT, "{\"n\":1.5,\"l\":[1,\"two\",null]}", 0);
}

/* twe__history_from_json_text's shapes, read in one pass when plain. */
static void test_json_text_read_history_shapes(void **state) {
  (void)state;
  static const struct {
    const char *text;
    bool one_pass;
    size_t n_events;
  } cases[] = {
      {"{\"events\":[{\"eventId\":\"1\"},{\"eventId\":\"2\"}]}", true, 2},
      {"[{\"eventId\":\"1\"},{\"eventId\":\"2\"},{\"eventId\":\"3\"}]", true, 3},
      {"{\"history\":{\"events\":[{\"eventId\":\"1\"}]},\"nextPageToken\":\"\"}", true, 1},
      {"{\"history\":null}", true, 0},
      {"{}", true, 0},
      /* "history" as the first key, then "events": a History after all. */
      {"{\"history\":{\"events\":[{\"eventId\":\"1\"}]},\"events\":[]}", false, 0},
      /* "history" after another key: left to the tree reader. */
      {"{\"archived\":false,\"history\":{\"events\":[{\"eventId\":\"1\"}]}}", false, 1},
      {"{\"events\":[{\"eventId\":\"1\"}],\"history\":{}}", true, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *t = cases[i].text;
    twe_arena_t arena;
    twe__arena_init(&arena, 0);
    history_t *h = NULL;
    int rc = twe__json_text_read_history(t, strlen(t), &arena, &h);
    if (rc != (cases[i].one_pass ? 0 : TWE__JSON_TEXT_GIVE_UP)) fail_msg("%s: rc %d", t, rc);
    char err[128];
    h = NULL;
    assert_int_equal(twe__history_from_json_text(t, strlen(t), &arena, &h, err, sizeof err), 0);
    if (h->n_events != cases[i].n_events)
      fail_msg("%s: %zu events, not %zu", t, h->n_events, cases[i].n_events);
    twe__arena_destroy(&arena);
  }
}

/* ---- real histories ------------------------------------------------------------- */

static char *read_fixture(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", TWE_TEST_DATA_DIR, name);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s: %s", path, strerror(errno));
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  assert_true(size > 0);
  rewind(f);
  char *buf = malloc((size_t)size);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  *len = (size_t)size;
  return buf;
}

static const char *const fixtures[] = {"history_signal_terminate.json",
                                       "history_activity_timer.json",
                                       "history_go_ten_sequential.json"};

static void test_json_text_read_history_fixtures(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
    size_t len;
    char *text = read_fixture(fixtures[i], &len);
    twe_arena_t arena;
    twe__arena_init(&arena, 0);
    history_t *fast = NULL;
    if (twe__json_text_read_history(text, len, &arena, &fast) != 0)
      fail_msg("%s: gave up", fixtures[i]);
    ProtobufCMessage *tree = tree_read(D_HISTORY, text, len, &arena);
    assert_non_null(tree);
    assert_true(fast->n_events > 0);
    assert_same_message(&fast->base, tree, fixtures[i]);
    twe__arena_destroy(&arena);
    free(text);
  }
}

/* Random edits of real exports: whatever the one-pass reader accepts, the
 * tree reader accepts too and makes the same message of; it reads most of
 * the documents jansson can parse (it gives up on the rest). */
static void test_json_text_read_history_mutations(void **state) {
  (void)state;
  static const char alphabet[] = "{}[]\":,0123456789-+.eE tfnul\\aZ=_/sT";
  uint64_t x = 0x2545F4914F6CDD1DULL;
  int read = 0, gave_up = 0, valid_json = 0;
  for (size_t fx = 0; fx < 2; fx++) {
    size_t len;
    char *orig = read_fixture(fixtures[fx], &len);
    char *buf = malloc(len * 2 + 64);
    assert_non_null(buf);
    for (int iter = 0; iter < 1500; iter++) {
      memcpy(buf, orig, len);
      size_t n = len;
      int edits = 1 + (int)(x % 3);
      for (int k = 0; k < edits && n > 0; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        size_t at = (size_t)(x >> 16) % n;
        switch (x % 4) {
          case 0:
            buf[at] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
            break;
          case 1: {
            size_t cut = 1 + (x >> 48) % 6;
            if (at + cut > n) cut = n - at;
            memmove(buf + at, buf + at + cut, n - at - cut);
            n -= cut;
            break;
          }
          case 2:
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
            n++;
            break;
          default:
            buf[at] = (char)(buf[at] ^ (1 << ((x >> 32) % 8)));
            break;
        }
      }
      twe_arena_t arena;
      twe__arena_init(&arena, 0);
      history_t *fast = NULL;
      int rc = twe__json_text_read_history(buf, n, &arena, &fast);
      json_t *j = json_loadb(buf, n, JSON_DECODE_ANY, NULL);
      valid_json += j != NULL;
      json_decref(j);
      if (rc == 0) {
        read++;
        history_t *tree = tree_history(buf, n, &arena);
        if (!tree) fail_msg("read in one pass, refused by the tree reader: %.*s", (int)n, buf);
        assert_same_message(&fast->base, &tree->base, "a mutation");
      } else {
        assert_int_equal(rc, TWE__JSON_TEXT_GIVE_UP);
        gave_up++;
      }
      twe__arena_destroy(&arena);
    }
    free(buf);
    free(orig);
  }
  print_message("mutations: %d read in one pass, %d given up (%d of all were valid JSON)\n", read,
                gave_up, valid_json);
  assert_true(read > 0);
  assert_true(gave_up > 0);
}

/* A give-up half-way through a long document leaves nothing in the arena:
 * after the entry point, it holds just what the tree reader alone takes
 * (its partial allocations before the error, as ever), and the error is
 * the tree reader's. */
static void test_json_text_rewinds_after_give_up(void **state) {
  (void)state;
  static char doc[64 * 1024];
  size_t n = (size_t)snprintf(doc, sizeof doc, "{\"events\":[");
  for (int i = 0; i < 500; i++)
    n += (size_t)snprintf(doc + n, sizeof doc - n, "%s{\"eventId\":\"%d\",\"taskId\":\"1\"}",
                          i ? "," : "", i + 1);
  snprintf(doc + n, sizeof doc - n, ",{\"eventId\":1.5}]}"); /* an error at the end */
  twe_arena_t both, tree_only;
  twe__arena_init(&both, 0);
  twe__arena_init(&tree_only, 0);
  assert_non_null(twe__arena_alloc(&both, 100));
  assert_non_null(twe__arena_alloc(&tree_only, 100));
  history_t *h = NULL;
  char err[256];
  assert_int_equal(twe__history_from_json_text(doc, strlen(doc), &both, &h, err, sizeof err),
                   TWE_EJSON);
  assert_string_equal(err, "events[500].eventId: not an integer: 1.5");
  assert_null(tree_history(doc, strlen(doc), &tree_only));
  assert_int_equal(both.reserved_bytes, tree_only.reserved_bytes);
  twe__arena_destroy(&both);
  twe__arena_destroy(&tree_only);
}

#define T(f) cmocka_unit_test(f)
int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_json_text_read_same_as_tree),      T(test_json_text_read_gives_up),
      T(test_json_text_read_history_shapes),    T(test_json_text_read_history_fixtures),
      T(test_json_text_read_history_mutations), T(test_json_text_rewinds_after_give_up),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
