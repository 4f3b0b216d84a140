/* io/grpc_frame.c — reassembly of gRPC length-prefixed messages. */
#include "io/grpc_frame.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "twe/error.h"

int twe__grpc_frame_header(uint8_t out[TWE_GRPC_FRAME_HEADER_BYTES], size_t len) {
  if (len > UINT32_MAX) return TWE_ELIMIT;
  out[0] = 0; /* never compressed: we send no grpc-encoding */
  out[1] = (uint8_t)(len >> 24);
  out[2] = (uint8_t)(len >> 16);
  out[3] = (uint8_t)(len >> 8);
  out[4] = (uint8_t)len;
  return 0;
}

void twe__grpc_frame_reader_init(twe_grpc_frame_reader_t *r, twe_arena_t *arena,
                                 size_t max_message_bytes) {
  memset(r, 0, sizeof *r);
  r->arena = arena;
  r->max_message_bytes = max_message_bytes ? max_message_bytes : TWE_GRPC_DEFAULT_MAX_RECV_BYTES;
}

/* Records the failure; the reader returns rc from now on. */
static int failed(twe_grpc_frame_reader_t *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failed(twe_grpc_frame_reader_t *r, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->error_text, sizeof r->error_text, fmt, ap);
  va_end(ap);
  r->error = rc;
  return rc;
}

/* The header is complete: check it and make room for the body. */
static int start_body(twe_grpc_frame_reader_t *r) {
  if (r->header[0] == 1)
    return failed(r, TWE_EPROTOCOL, "compressed gRPC message, but no grpc-encoding was negotiated");
  if (r->header[0] != 0)
    return failed(r, TWE_EPROTOCOL, "invalid gRPC message flag byte 0x%02x", r->header[0]);
  uint32_t len = ((uint32_t)r->header[1] << 24) | ((uint32_t)r->header[2] << 16) |
                 ((uint32_t)r->header[3] << 8) | (uint32_t)r->header[4];
  if (len > r->max_message_bytes)
    return failed(r, TWE_ELIMIT, "gRPC message of %u bytes exceeds the %zu-byte limit", len,
                  r->max_message_bytes);
  r->body_len = len;
  r->body_have = 0;
  r->arena->limit_hit = false;
  r->body = twe__arena_alloc(r->arena, len);
  if (!r->body) {
    if (r->arena->limit_hit)
      return failed(r, TWE_ELIMIT, "gRPC message of %u bytes exceeds the task's memory budget", len);
    return failed(r, -ENOMEM, "out of memory for a gRPC message of %u bytes", len);
  }
  if (len == 0) r->complete = true;
  return 0;
}

int twe__grpc_frame_reader_feed(twe_grpc_frame_reader_t *r, const uint8_t *data, size_t len) {
  if (r->error) return r->error;
  while (len > 0) {
    if (r->complete)
      return failed(r, TWE_EPROTOCOL, "more than one message on a unary gRPC response");
    if (r->header_have < TWE_GRPC_FRAME_HEADER_BYTES) {
      size_t take = TWE_GRPC_FRAME_HEADER_BYTES - r->header_have;
      if (take > len) take = len;
      memcpy(r->header + r->header_have, data, take);
      r->header_have += take;
      data += take;
      len -= take;
      if (r->header_have == TWE_GRPC_FRAME_HEADER_BYTES) {
        int rc = start_body(r);
        if (rc < 0) return rc;
      }
      continue;
    }
    size_t take = r->body_len - r->body_have;
    if (take > len) take = len;
    memcpy(r->body + r->body_have, data, take);
    r->body_have += take;
    data += take;
    len -= take;
    if (r->body_have == r->body_len) r->complete = true;
  }
  return 0;
}

int twe__grpc_frame_reader_finish(twe_grpc_frame_reader_t *r, const uint8_t **msg, size_t *len) {
  if (r->error) return r->error;
  if (r->complete) {
    *msg = r->body;
    *len = r->body_len;
    return 0;
  }
  if (r->header_have == 0) return 1;
  if (r->header_have < TWE_GRPC_FRAME_HEADER_BYTES)
    return failed(r, TWE_EPROTOCOL, "gRPC stream ended inside a message header (%zu of 5 bytes)",
                  r->header_have);
  return failed(r, TWE_EPROTOCOL, "gRPC stream ended inside a message (%zu of %zu bytes)",
                r->body_have, r->body_len);
}
