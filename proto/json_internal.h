/* proto/json_internal.h — what the two proto3 JSON readers share (and the
 * writer, proto/json_write.c, an element size).
 *
 * proto/json.c reads a parsed jansson tree (the reference: every rule of
 * json.h, with error messages that name the bad value's path);
 * proto/json_text.c reads JSON text in one pass straight into messages, for
 * speed, and gives up on anything it is not sure of (an error, or a form it
 * leaves to the tree reader), so that json.c's entry points then run the
 * tree reader from scratch. The helpers below are the mapping rules both
 * apply, on NUL-terminated strings.
 *
 * Thread: the arena's owner thread; nothing here keeps state. */
#ifndef TWE_PROTO_JSON_INTERNAL_H
#define TWE_PROTO_JSON_INTERNAL_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "proto/arena.h"
#include "temporal/api/history/v1/message.pb-c.h"

/* ---- mapping rules (proto/json_rules.c) ------------------------------------- */

/* The field a JSON key names: its lowerCamelCase json_name or its .proto
 * name; NULL when desc has none. */
const ProtobufCFieldDescriptor *twe__json_find_field(const ProtobufCMessageDescriptor *desc,
                                                     const char *key);

/* Does key spell the json_name of the field called name (each '_' dropped,
 * the letter after it upper-cased)? */
bool twe__json_camel_equal(const char *name, const char *key);

/* An enum value by its name, or by Temporal's PascalCase shorthand without
 * the type prefix ("WorkflowExecutionStarted"). false when s names none. */
bool twe__json_enum_by_name(const ProtobufCEnumDescriptor *ed, const char *s, int32_t *out);

/* The prefix of an enum type's value names: "EventType" -> "EVENT_TYPE_" in
 * buf; false when it does not fit. */
bool twe__json_enum_prefix(const char *type, char *buf, size_t size);

/* That prefix of ed's value names in buf, and its length; 0 when it does
 * not fit (value names are then taken whole). */
size_t twe__json_enum_prefix_len(const ProtobufCEnumDescriptor *ed, char *buf, size_t size);

/* A value name without its type's prefix (from twe__json_enum_prefix_len):
 * "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED" -> "WORKFLOW_EXECUTION_STARTED";
 * the name itself when it lacks the prefix. */
static inline const char *twe__json_enum_rest(const char *name, const char *prefix,
                                              size_t plen) {
  return plen && !strncmp(name, prefix, plen) ? name + plen : name;
}

/* Does s spell rest ("WORKFLOW_EXECUTION_STARTED") in PascalCase
 * ("WorkflowExecutionStarted")? */
bool twe__json_pascal_equal(const char *rest, const char *s);

/* rest in that PascalCase into out (room for strlen(rest) + 1); its length. */
size_t twe__json_pascal(const char *rest, char *out);

/* RFC 3339 text into ts; false when s is not one (ts then undefined). */
bool twe__json_timestamp(const char *s, Google__Protobuf__Timestamp *ts);

/* "1.5s" into du; false when s is not a duration. */
bool twe__json_duration(const char *s, Google__Protobuf__Duration *du);

/* n bytes of base64 (either alphabet, padding optional, CR/LF ignored)
 * decoded into the arena. 0, 1 when s is not base64, -1 when the arena
 * cannot give the buffer. */
int twe__json_base64(twe_arena_t *arena, const char *s, size_t n, ProtobufCBinaryData *out);

/* "fooBar,baz.quxQuux" into fm's snake_case paths. 0, or -1 when the arena
 * cannot give them. */
int twe__json_field_mask(twe_arena_t *arena, const char *s, Google__Protobuf__FieldMask *fm);

/* Bytes one element of a repeated field of type t takes in its array. */
size_t twe__json_element_size(ProtobufCType t);

/* Is d a map<K, V> entry (key = 1, value = 2)? */
bool twe__json_is_map_entry(const ProtobufCMessageDescriptor *d);

/* Is d one of the google.protobuf wrappers (Int64Value, StringValue, ...)? */
bool twe__json_is_wrapper(const ProtobufCMessageDescriptor *d);

/* Sets field f of msg from j exactly as the tree reader does inside a
 * message at nesting depth (the number of messages around f, msg's own
 * included), with no error message. 0, or non-zero when the tree reader
 * would fail. */
int twe__json_tree_field(const ProtobufCFieldDescriptor *f, const json_t *j, ProtobufCMessage *msg,
                         twe_arena_t *arena, int depth);

/* ---- keys, by descriptor (proto/json_index.c) -------------------------------- */

/* What a key means in a message or enum type. */
#define TWE__JSON_KEY_TREE 1u /* a field the tree reader sets (Any, Struct, Value, ListValue) */
#define TWE__JSON_KEY_MAP 2u  /* a map field */
typedef struct twe__json_key {
  const void *desc; /* a message or enum descriptor; NULL: a free slot */
  const char *key;  /* not NUL-terminated */
  uint32_t len;
  uint32_t flags;                        /* TWE__JSON_KEY_*, for a field */
  const ProtobufCFieldDescriptor *field; /* a message's field; NULL: it has none */
  int32_t value;                         /* an enum's value */
} twe__json_key_t;

/* What key (len bytes) names in desc, by the rules of twe__json_find_field
 * and twe__json_enum_by_name, for every message type of the registry
 * (proto/registry.h) and every enum their fields use; NULL when the index
 * does not know it (a key desc has no field for, a type outside the
 * registry): then ask those functions. Built on first use, once. Thread:
 * any. */
const twe__json_key_t *twe__json_index_find(const void *desc, const char *key, size_t len);

/* TWE__JSON_KEY_* for field f (NULL: 0). */
uint32_t twe__json_field_flags(const ProtobufCFieldDescriptor *f);

/* The hash of (desc, key) both key tables use. */
static inline uint32_t twe__json_key_hash(const void *desc, const char *k, size_t n) {
  uint64_t a = 0, b = 0;
  if (n >= 8) {
    memcpy(&a, k, 8);
    memcpy(&b, k + n - 8, 8);
  } else {
    for (size_t i = 0; i < n; i++) a = a << 8 | (uint8_t)k[i];
  }
  uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + n) * 0xC2B2AE3D27D4EB4FULL ^ (uintptr_t)desc;
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ULL;
  return (uint32_t)(h >> 32);
}

/* Are the n bytes at a and b the same? For keys: a few words, no call. */
static inline bool twe__json_key_equal(const char *a, const char *b, size_t n) {
  uint64_t x, y;
  if (n < 8) {
    for (size_t i = 0; i < n; i++)
      if (a[i] != b[i]) return false;
    return true;
  }
  for (size_t i = 0; i + 8 < n; i += 8) {
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (x != y) return false;
  }
  memcpy(&x, a + n - 8, 8);
  memcpy(&y, b + n - 8, 8);
  return x == y;
}

/* ---- the one-pass reader (proto/json_text.c) ------------------------------- */

/* Returned when the one-pass reader leaves the text to the tree reader. */
#define TWE__JSON_TEXT_GIVE_UP 1

/* Reads len bytes of JSON text as a message of type desc into arena.
 * Returns 0 with *out set: the message the tree reader would make from the
 * same text (the same values; the arena's layout may differ). Or
 * TWE__JSON_TEXT_GIVE_UP: the text is not valid for desc, or uses a form
 * left to the tree reader (Any, Struct, Value and ListValue are read by it
 * per field; a whole message only for: duplicate keys, non-integral numbers
 * for integer fields, numeric strings for floats, maps with non-string keys
 * or more than 64 entries, nesting deeper than the tree reader's). The
 * arena may then hold partial allocations (rewind it: arena.h). */
int twe__json_text_read(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                        twe_arena_t *arena, ProtobufCMessage **out);

/* As twe__json_text_read, for twe__history_from_json_text's shapes: a
 * History object, a GetWorkflowExecutionHistoryResponse ({"history": ...}),
 * or a bare array of events. Gives up also when the shape is not plain
 * (both "events" and "history" at the top, or "history" after other keys). */
int twe__json_text_read_history(const char *text, size_t len, twe_arena_t *arena,
                                Temporal__Api__History__V1__History **out);

#endif /* TWE_PROTO_JSON_INTERNAL_H */
