/* proto/payload.h — build and read temporal.api.common.v1.Payload values
 * with the standard encodings other SDKs use, so twe exchanges arguments
 * and results with Go, Java, Python and TypeScript workers and clients.
 *
 * A Payload is metadata (string -> bytes; "encoding" names the format)
 * plus data. The encodings:
 *   binary/null      no value (data empty)            TWE_PAYLOAD_NULL
 *   binary/plain     raw bytes                        TWE_PAYLOAD_BINARY
 *   json/plain       JSON text (any JSON value)       TWE_PAYLOAD_JSON
 *   json/protobuf    protobuf as JSON, "messageType"  TWE_PAYLOAD_JSON_PROTOBUF
 *   binary/protobuf  protobuf wire bytes, "messageType" TWE_PAYLOAD_BINARY_PROTOBUF
 *
 * Builders allocate everything (the Payload, its metadata, a copy of the
 * data) in the arena. Readers never allocate from the arena unless they
 * decode a message.
 *
 * Thread: the arena's owner thread. */
#ifndef TWE_PROTO_PAYLOAD_H
#define TWE_PROTO_PAYLOAD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/arena.h"
#include "temporal/api/common/v1/message.pb-c.h"

typedef Temporal__Api__Common__V1__Payload twe_payload_pb_t;
typedef Temporal__Api__Common__V1__Payloads twe_payloads_pb_t;

typedef enum twe_payload_encoding {
  TWE_PAYLOAD_NULL = 1,
  TWE_PAYLOAD_BINARY,
  TWE_PAYLOAD_JSON,
  TWE_PAYLOAD_JSON_PROTOBUF,
  TWE_PAYLOAD_BINARY_PROTOBUF,
} twe_payload_encoding_t;

/* The metadata value under "encoding" for e ("json/plain", ...). */
const char *twe__payload_encoding_name(twe_payload_encoding_t e);

/* binary/null with no data. Returns 0, or TWE_ELIMIT / -ENOMEM. */
int twe__payload_new_null(twe_arena_t *arena, twe_payload_pb_t **out);

/* binary/plain holding a copy of len bytes of data. */
int twe__payload_new_binary(twe_arena_t *arena, const void *data, size_t len,
                            twe_payload_pb_t **out);

/* json/plain holding a copy of len bytes of JSON text. The text is checked:
 * TWE_EJSON if it is not one valid JSON value (scalars are allowed). */
int twe__payload_new_json(twe_arena_t *arena, const char *json, size_t len,
                          twe_payload_pb_t **out);

/* json/plain holding value serialised compactly (the way the Go SDK writes
 * it: no spaces). TWE_EJSON if jansson cannot serialise it. */
int twe__payload_new_json_value(twe_arena_t *arena, const json_t *value, twe_payload_pb_t **out);

/* json/protobuf holding value (the proto3 JSON of a message, built by the
 * caller) serialised compactly, with "messageType" message_type (copied).
 * TWE_EJSON if jansson cannot serialise it. */
int twe__payload_new_json_protobuf(twe_arena_t *arena, const json_t *value,
                                   const char *message_type, twe_payload_pb_t **out);

/* binary/protobuf holding msg's wire bytes, with "messageType" set to the
 * message's full name (e.g. "temporal.api.common.v1.WorkflowExecution"). */
int twe__payload_new_protobuf(twe_arena_t *arena, const ProtobufCMessage *msg,
                              twe_payload_pb_t **out);

/* The value of metadata key, or NULL when absent. The bytes belong to p. */
const ProtobufCBinaryData *twe__payload_metadata(const twe_payload_pb_t *p, const char *key);

/* The payload's encoding, or TWE_EENCODING when "encoding" is missing or not
 * one of the standard five. */
int twe__payload_encoding(const twe_payload_pb_t *p);

/* Reads a binary/null or json/plain payload as JSON. binary/null gives JSON
 * null. Returns 0 and a new reference in *out (the caller json_decref()s it),
 * TWE_EENCODING for other encodings, TWE_EJSON for invalid JSON text. */
int twe__payload_read_json(const twe_payload_pb_t *p, json_t **out);

/* Reads a binary/plain payload: *data points into p. TWE_EENCODING otherwise. */
int twe__payload_read_binary(const twe_payload_pb_t *p, const uint8_t **data, size_t *len);

/* Decodes a binary/protobuf payload as desc into arena. TWE_EENCODING when
 * the encoding or "messageType" does not match desc; TWE_EDECODE, TWE_ELIMIT
 * or -ENOMEM as for twe__proto_decode. */
int twe__payload_read_protobuf(const twe_payload_pb_t *p, const ProtobufCMessageDescriptor *desc,
                               twe_arena_t *arena, ProtobufCMessage **out);

/* A Payloads list (workflow/activity arguments) of n payloads, which it
 * references, not copies: they must live in the same arena or longer. */
int twe__payloads_new(twe_arena_t *arena, twe_payload_pb_t *const *items, size_t n,
                      twe_payloads_pb_t **out);

#endif /* TWE_PROTO_PAYLOAD_H */
