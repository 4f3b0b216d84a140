/* proto/payload.c — standard Temporal payload encodings, built in an arena. */
#include "proto/payload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "twe/error.h"

#define META_ENCODING "encoding"
#define META_MESSAGE_TYPE "messageType"

static const char *const encoding_names[] = {
  [TWE_PAYLOAD_NULL] = "binary/null",
  [TWE_PAYLOAD_BINARY] = "binary/plain",
  [TWE_PAYLOAD_JSON] = "json/plain",
  [TWE_PAYLOAD_JSON_PROTOBUF] = "json/protobuf",
  [TWE_PAYLOAD_BINARY_PROTOBUF] = "binary/protobuf",
};
#define ENCODING_COUNT (sizeof encoding_names / sizeof encoding_names[0])

const char *twe__payload_encoding_name(twe_payload_encoding_t e) {
  if ((size_t)e >= ENCODING_COUNT || !encoding_names[e]) return NULL;
  return encoding_names[e];
}

/* A Payload with room for n_meta metadata entries and a copy of data. */
static int payload_alloc(twe_arena_t *arena, size_t n_meta, const void *data, size_t len,
                         twe_payload_pb_t **out) {
  arena->limit_hit = false;
  twe_payload_pb_t *p = twe__arena_alloc(arena, sizeof *p);
  Temporal__Api__Common__V1__Payload__MetadataEntry **slots =
      twe__arena_alloc(arena, n_meta * sizeof *slots);
  Temporal__Api__Common__V1__Payload__MetadataEntry *entries =
      twe__arena_alloc(arena, n_meta * sizeof *entries);
  uint8_t *copy = twe__arena_alloc(arena, len);
  if (!p || !slots || !entries || !copy) return twe__arena_error(arena);
  temporal__api__common__v1__payload__init(p);
  for (size_t i = 0; i < n_meta; i++) {
    temporal__api__common__v1__payload__metadata_entry__init(&entries[i]);
    slots[i] = &entries[i];
  }
  p->n_metadata = n_meta;
  p->metadata = slots;
  if (len) memcpy(copy, data, len);
  p->data.data = len ? copy : NULL;
  p->data.len = len;
  *out = p;
  return 0;
}

/* Points entry at key and value; the strings must outlive the payload
 * (string literals, or copies in the arena). */
static void set_meta(Temporal__Api__Common__V1__Payload__MetadataEntry *entry, const char *key,
                     const char *value) {
  entry->key = (char *)key;
  entry->value.data = (uint8_t *)value;
  entry->value.len = strlen(value);
}

static int payload_new(twe_arena_t *arena, twe_payload_encoding_t e, const void *data, size_t len,
                       twe_payload_pb_t **out) {
  int rc = payload_alloc(arena, 1, data, len, out);
  if (rc < 0) return rc;
  set_meta((*out)->metadata[0], META_ENCODING, twe__payload_encoding_name(e));
  return 0;
}

int twe__payload_new_null(twe_arena_t *arena, twe_payload_pb_t **out) {
  return payload_new(arena, TWE_PAYLOAD_NULL, NULL, 0, out);
}

int twe__payload_new_binary(twe_arena_t *arena, const void *data, size_t len,
                            twe_payload_pb_t **out) {
  return payload_new(arena, TWE_PAYLOAD_BINARY, data, len, out);
}

int twe__payload_new_json(twe_arena_t *arena, const char *json, size_t len,
                          twe_payload_pb_t **out) {
  json_error_t error;
  json_t *parsed = json_loadb(json, len, JSON_DECODE_ANY, &error);
  if (!parsed) return TWE_EJSON;
  json_decref(parsed);
  return payload_new(arena, TWE_PAYLOAD_JSON, json, len, out);
}

int twe__payload_new_json_value(twe_arena_t *arena, const json_t *value, twe_payload_pb_t **out) {
  const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
  size_t len = json_dumpb(value, NULL, 0, flags);
  if (len == 0) return TWE_EJSON;
  int rc = payload_new(arena, TWE_PAYLOAD_JSON, NULL, 0, out);
  if (rc < 0) return rc;
  uint8_t *buf = twe__arena_alloc(arena, len);
  if (!buf) return twe__arena_error(arena);
  if (json_dumpb(value, (char *)buf, len, flags) != len) return TWE_EJSON;
  (*out)->data.data = buf;
  (*out)->data.len = len;
  return 0;
}

int twe__payload_new_json_protobuf(twe_arena_t *arena, const json_t *value,
                                   const char *message_type, twe_payload_pb_t **out) {
  const size_t flags = JSON_COMPACT;
  size_t len = json_dumpb(value, NULL, 0, flags);
  if (len == 0) return TWE_EJSON;
  char *type = twe__arena_alloc(arena, strlen(message_type) + 1);
  uint8_t *buf = twe__arena_alloc(arena, len);
  if (!type || !buf) return twe__arena_error(arena);
  strcpy(type, message_type);
  if (json_dumpb(value, (char *)buf, len, flags) != len) return TWE_EJSON;
  int rc = payload_alloc(arena, 2, NULL, 0, out);
  if (rc < 0) return rc;
  set_meta((*out)->metadata[0], META_ENCODING,
           twe__payload_encoding_name(TWE_PAYLOAD_JSON_PROTOBUF));
  set_meta((*out)->metadata[1], META_MESSAGE_TYPE, type);
  (*out)->data.data = buf;
  (*out)->data.len = len;
  return 0;
}

int twe__payload_new_protobuf(twe_arena_t *arena, const ProtobufCMessage *msg,
                              twe_payload_pb_t **out) {
  uint8_t *bytes;
  size_t len;
  int rc = twe__proto_encode(msg, arena, &bytes, &len);
  if (rc < 0) return rc;
  /* The wire bytes are already in the arena: build the payload around them. */
  rc = payload_alloc(arena, 2, NULL, 0, out);
  if (rc < 0) return rc;
  set_meta((*out)->metadata[0], META_ENCODING,
           twe__payload_encoding_name(TWE_PAYLOAD_BINARY_PROTOBUF));
  set_meta((*out)->metadata[1], META_MESSAGE_TYPE, msg->descriptor->name);
  (*out)->data.data = len ? bytes : NULL;
  (*out)->data.len = len;
  return 0;
}

const ProtobufCBinaryData *twe__payload_metadata(const twe_payload_pb_t *p, const char *key) {
  for (size_t i = 0; i < p->n_metadata; i++) {
    const Temporal__Api__Common__V1__Payload__MetadataEntry *m = p->metadata[i];
    if (m && m->key && strcmp(m->key, key) == 0) return &m->value;
  }
  return NULL;
}

static int binary_equals(const ProtobufCBinaryData *b, const char *s) {
  size_t n = strlen(s);
  return b && b->len == n && (n == 0 || memcmp(b->data, s, n) == 0);
}

int twe__payload_encoding(const twe_payload_pb_t *p) {
  const ProtobufCBinaryData *enc = twe__payload_metadata(p, META_ENCODING);
  if (!enc) return TWE_EENCODING;
  for (size_t e = 1; e < ENCODING_COUNT; e++)
    if (encoding_names[e] && binary_equals(enc, encoding_names[e])) return (int)e;
  return TWE_EENCODING;
}

int twe__payload_read_json(const twe_payload_pb_t *p, json_t **out) {
  int e = twe__payload_encoding(p);
  if (e == TWE_PAYLOAD_NULL) {
    *out = json_null();
    return 0;
  }
  if (e != TWE_PAYLOAD_JSON) return TWE_EENCODING;
  json_error_t error;
  json_t *v = json_loadb((const char *)p->data.data, p->data.len, JSON_DECODE_ANY, &error);
  if (!v) return TWE_EJSON;
  *out = v;
  return 0;
}

int twe__payload_read_binary(const twe_payload_pb_t *p, const uint8_t **data, size_t *len) {
  if (twe__payload_encoding(p) != TWE_PAYLOAD_BINARY) return TWE_EENCODING;
  *data = p->data.data;
  *len = p->data.len;
  return 0;
}

int twe__payload_read_protobuf(const twe_payload_pb_t *p, const ProtobufCMessageDescriptor *desc,
                               twe_arena_t *arena, ProtobufCMessage **out) {
  if (twe__payload_encoding(p) != TWE_PAYLOAD_BINARY_PROTOBUF) return TWE_EENCODING;
  if (!binary_equals(twe__payload_metadata(p, META_MESSAGE_TYPE), desc->name))
    return TWE_EENCODING;
  return twe__proto_decode(desc, arena, p->data.data, p->data.len, out);
}

int twe__payloads_new(twe_arena_t *arena, twe_payload_pb_t *const *items, size_t n,
                      twe_payloads_pb_t **out) {
  arena->limit_hit = false;
  twe_payloads_pb_t *list = twe__arena_alloc(arena, sizeof *list);
  twe_payload_pb_t **slots = twe__arena_alloc(arena, n * sizeof *slots);
  if (!list || !slots) return twe__arena_error(arena);
  temporal__api__common__v1__payloads__init(list);
  if (n) memcpy(slots, items, n * sizeof *slots);
  list->n_payloads = n;
  list->payloads = n ? slots : NULL;
  *out = list;
  return 0;
}
