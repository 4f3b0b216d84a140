/* proto/codec.c — protobuf-c unpack/pack through the task arena. */
#include "proto/codec.h"

#include <errno.h>

#include "twe/error.h"

int twe__proto_decode(const ProtobufCMessageDescriptor *desc, twe_arena_t *arena,
                      const uint8_t *data, size_t len, ProtobufCMessage **out) {
  /* protobuf-c cannot tell "no memory" from "bad bytes" (both give NULL), so
   * the arena records which of its own failures, if any, happened. */
  arena->limit_hit = false;
  arena->malloc_failed = false;
  ProtobufCMessage *msg = protobuf_c_message_unpack(desc, twe__arena_allocator(arena), len, data);
  if (msg) {
    *out = msg;
    return 0;
  }
  if (arena->limit_hit) return TWE_ELIMIT;
  if (arena->malloc_failed) return -ENOMEM;
  return TWE_EDECODE;
}

int twe__proto_encode(const ProtobufCMessage *msg, twe_arena_t *arena, uint8_t **out_data,
                      size_t *out_len) {
  if (!msg || !msg->descriptor || msg->descriptor->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
    return TWE_EENCODE;
  size_t len = protobuf_c_message_get_packed_size(msg);
  arena->limit_hit = false;
  uint8_t *buf = twe__arena_alloc(arena, len);
  if (!buf) return twe__arena_error(arena);
  size_t written = protobuf_c_message_pack(msg, buf);
  if (written != len) return TWE_EENCODE;
  *out_data = buf;
  *out_len = len;
  return 0;
}
