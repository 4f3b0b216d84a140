/* proto/json_write.h — write protobuf messages in their proto3 JSON form,
 * the way Temporal's Go codec (and so `temporal workflow show --output
 * json`) writes them, for history exports that the CLI, the Web UI and
 * other SDKs' replayers read, and that proto/json.h reads back:
 *
 *   - field names in lowerCamelCase; fields at their default value (0, "",
 *     false, empty lists) left out, message fields written when set (also
 *     when empty: "header": {});
 *   - 64-bit integers as strings, other integers and floats as numbers;
 *   - bytes as standard base64; enums by value name; maps as objects;
 *   - google.protobuf.Timestamp as RFC 3339 with 0, 3, 6 or 9 fractional
 *     digits, Duration as "1.500s" (the same digits rule).
 *
 * Thread: any (no state). */
#ifndef TWE_PROTO_JSON_WRITE_H
#define TWE_PROTO_JSON_WRITE_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* msg as a new JSON object in *out (the caller's: json_decref). Returns 0
 * or -ENOMEM. */
int twe__json_from_message(const ProtobufCMessage *msg, json_t **out);

#endif /* TWE_PROTO_JSON_WRITE_H */
