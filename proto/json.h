/* proto/json.h — read protobuf messages from their proto3 JSON form.
 *
 * Workflow histories are exported as JSON (`temporal workflow show --output
 * json`, the Web UI's download, other SDKs' replay fixtures), and the
 * replayer and the tests load them. protobuf-c has no JSON support, so this
 * walks the generated descriptors instead: one reader for every message
 * type, following the proto3 JSON mapping the way Temporal's Go codec
 * writes it:
 *
 *   - field names in lowerCamelCase; the .proto (snake_case) name also works;
 *   - 64-bit integers as strings or numbers, other integers as numbers or
 *     numeric strings; floats also as "NaN", "Infinity", "-Infinity";
 *   - bytes as base64 (standard or URL-safe, padding optional);
 *   - enums by value name ("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"), by
 *     Temporal's shorthand without the type prefix ("WorkflowExecutionStarted",
 *     "Normal" for TASK_QUEUE_KIND_NORMAL), or by number;
 *   - maps as JSON objects, oneofs by whichever member is present, `null`
 *     for "not set";
 *   - google.protobuf.Timestamp (RFC 3339), Duration ("1.5s"), the wrappers,
 *     Struct/Value/ListValue, FieldMask, Empty, and Any ({"@type": ...},
 *     resolved through proto/registry.h and packed with twe__proto_encode).
 *
 * Fields the descriptor does not know are skipped (a newer server adds
 * fields), unless the caller asks for strictness.
 *
 * The text entry points read in one pass (json_text.c: no tree, the keys
 * found through an index built once, json_index.c) and, when that reader
 * gives up (an error, or a rare form), run the jansson tree reader on the
 * same text, so every result and error is the tree reader's.
 *
 * Errors carry a path to the offending value, e.g.
 *   events[12].activityTaskScheduledEventAttributes.input.payloads[0].data:
 *   invalid base64
 *
 * Thread: the arena's owner thread. Nothing here keeps state between calls
 * (the registry behind Any and the key index initialise themselves once,
 * thread-safely). */
#ifndef TWE_PROTO_JSON_H
#define TWE_PROTO_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto/arena.h"
#include "temporal/api/history/v1/message.pb-c.h"

/* Deepest message nesting accepted (a hostile document cannot exhaust the
 * stack). Struct/Value/ListValue nesting counts too. */
#define TWE_JSON_MAX_DEPTH 100

/* Optional knobs and counters for twe__proto_from_json_opts. */
typedef struct twe__json_opts {
  /* In: fail with TWE_EJSON on a JSON field the descriptor does not have,
   * instead of skipping it. */
  bool reject_unknown;
  /* Out: how many unknown fields were skipped (added to, not reset). */
  size_t unknown_fields;
} twe__json_opts_t;

/* Builds a message of type desc from a parsed JSON value.
 *   desc:    the message type (e.g. &temporal__api__history__v1__history__descriptor).
 *   json:    the value; normally an object, a string or number for the
 *            well-known types that map to one (Timestamp, Duration, ...).
 *            Borrowed; not modified.
 *   arena:   receives the message and everything it points to (strings,
 *            bytes, arrays, nested messages, packed Any bodies).
 *   out:     set on success; owned by the arena.
 *   err:     on failure, a NUL-terminated "<path>: <reason>" (may be NULL
 *            when err_len is 0); truncated to err_len.
 * Returns 0, or
 *   TWE_EJSON   json does not fit desc (wrong JSON type for a field, bad
 *               base64/timestamp/duration, unknown enum name or Any type,
 *               integer out of range, nesting too deep);
 *   TWE_ELIMIT  the arena's budget ran out;
 *   -ENOMEM     malloc failed.
 * On failure *out is untouched; partial allocations stay in the arena. */
int twe__proto_from_json(const ProtobufCMessageDescriptor *desc, const json_t *json,
                         twe_arena_t *arena, ProtobufCMessage **out, char *err, size_t err_len);

/* As twe__proto_from_json, with opts (may be NULL: the defaults). */
int twe__proto_from_json_opts(const ProtobufCMessageDescriptor *desc, const json_t *json,
                              twe_arena_t *arena, twe__json_opts_t *opts, ProtobufCMessage **out,
                              char *err, size_t err_len);

/* As twe__proto_from_json, from len bytes of JSON text (no NUL needed).
 * Text that is not JSON is TWE_EJSON with the line and column in err. */
int twe__proto_from_json_text(const ProtobufCMessageDescriptor *desc, const char *text,
                              size_t len, twe_arena_t *arena, ProtobufCMessage **out, char *err,
                              size_t err_len);

/* Reads a workflow history for replay from len bytes of JSON text. Accepts
 *   - what `temporal workflow show --output json` (CLI v1.5.1) prints: a
 *     temporal.api.history.v1.History object, {"events": [...]} (also its
 *     one-line --output jsonl form);
 *   - a GetWorkflowExecutionHistoryResponse: {"history": {"events": ...}};
 *   - a bare JSON array of HistoryEvent objects.
 * An object with neither "events" nor "history" (e.g. {}) is an empty
 * history: n_events == 0. Does not check event ids or order (the replayer
 * does). Returns and allocates as twe__proto_from_json. */
int twe__history_from_json_text(const char *text, size_t len, twe_arena_t *arena,
                                Temporal__Api__History__V1__History **out, char *err,
                                size_t err_len);

#endif /* TWE_PROTO_JSON_H */
