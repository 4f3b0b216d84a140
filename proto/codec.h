/* proto/codec.h — decode and encode protobuf messages in an arena.
 *
 * The gRPC layer hands us the bytes of one message; we decode it with the
 * generated descriptor into the task's arena, and encode replies into the
 * same arena, so a task's memory goes away in one twe__arena_reset.
 *
 * Thread: the arena's owner thread. */
#ifndef TWE_PROTO_CODEC_H
#define TWE_PROTO_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/arena.h"

/* Decodes len bytes of data as a message of type desc into arena.
 * Returns 0 and sets *out (owned by the arena), or
 *   TWE_ELIMIT  when the arena's budget ran out,
 *   -ENOMEM     when malloc failed,
 *   TWE_EDECODE when data is not a valid encoding of desc.
 * On failure *out is untouched; partial allocations stay in the arena until
 * it is reset. */
int twe__proto_decode(const ProtobufCMessageDescriptor *desc, twe_arena_t *arena,
                      const uint8_t *data, size_t len, ProtobufCMessage **out);

/* Encodes msg into a buffer allocated in arena.
 * Returns 0 and sets *out_data and *out_len, or TWE_ELIMIT / -ENOMEM when
 * the buffer cannot be allocated, or TWE_EENCODE when msg has not been
 * initialised with its descriptor (a NULL or foreign base). */
int twe__proto_encode(const ProtobufCMessage *msg, twe_arena_t *arena, uint8_t **out_data,
                      size_t *out_len);

#endif /* TWE_PROTO_CODEC_H */
