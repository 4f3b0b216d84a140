/* io/grpc_frame.h — gRPC length-prefixed messages on an HTTP/2 stream.
 *
 * Each message is 1 byte "compressed" flag + 4-byte big-endian length + the
 * protobuf bytes. HTTP/2 DATA frames do not line up with messages, so the
 * reader reassembles a message from any split of the byte stream, checks the
 * length against a limit BEFORE allocating, and refuses what a unary call
 * cannot carry (compressed data we never asked for, a second message).
 *
 * Thread: the owner shard of the call; nothing here is shared. */
#ifndef TWE_IO_GRPC_FRAME_H
#define TWE_IO_GRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/arena.h"

#define TWE_GRPC_FRAME_HEADER_BYTES 5
/* What a server sends us is bounded by this unless configured: history pages
 * can be large (PROTOCOL.md), 2 GiB never is. */
#define TWE_GRPC_DEFAULT_MAX_RECV_BYTES ((size_t)128 * 1024 * 1024)

/* Writes the 5-byte prefix for an uncompressed message of len bytes.
 * Returns 0, or TWE_ELIMIT when len does not fit the 32-bit length. */
int twe__grpc_frame_header(uint8_t out[TWE_GRPC_FRAME_HEADER_BYTES], size_t len);

typedef struct twe_grpc_frame_reader {
  twe_arena_t *arena;       /* where the message body goes */
  size_t max_message_bytes; /* limit checked against the length prefix */
  uint8_t header[TWE_GRPC_FRAME_HEADER_BYTES];
  size_t header_have;
  uint8_t *body; /* arena memory, body_len bytes once the header is in */
  size_t body_len;
  size_t body_have;
  bool complete; /* one whole message has been read */
  /* 0 while fine; after a failure the code every later call returns, and
   * error_text says why (for the call's status message). */
  int error;
  char error_text[96];
} twe_grpc_frame_reader_t;

/* Prepares a reader for one unary response. max_message_bytes 0 means
 * TWE_GRPC_DEFAULT_MAX_RECV_BYTES. */
void twe__grpc_frame_reader_init(twe_grpc_frame_reader_t *r, twe_arena_t *arena,
                                 size_t max_message_bytes);

/* Feeds the next len bytes of the stream's DATA. Returns 0, or
 *   TWE_ELIMIT    the length prefix is over the limit (error_text says both sizes),
 *   TWE_EPROTOCOL compressed flag set, a flag byte other than 0/1, or bytes
 *                 after the first complete message (unary),
 *   -ENOMEM       (or TWE_ELIMIT from the arena's own budget).
 * After an error the reader stays failed; further feeds return the same. */
int twe__grpc_frame_reader_feed(twe_grpc_frame_reader_t *r, const uint8_t *data, size_t len);

/* At end of stream: 0 with *msg and *len set when exactly one message arrived;
 * 1 when the stream carried no message at all (a trailers-only response or an
 * error status); TWE_EPROTOCOL when it ended inside a message
 * ("truncated: 3 of 10 bytes"), or the reader's earlier error. */
int twe__grpc_frame_reader_finish(twe_grpc_frame_reader_t *r, const uint8_t **msg, size_t *len);

#endif /* TWE_IO_GRPC_FRAME_H */
