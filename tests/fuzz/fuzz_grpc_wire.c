/* tests/fuzz/fuzz_grpc_wire.c — fuzz target for what a server can send us:
 * gRPC message framing, trailers (grpc-status, grpc-message, details), and
 * raw HTTP/2 bytes into a live client connection.
 *
 * The first input byte picks the part; the rest is its input. Built as a
 * libFuzzer target with clang (scripts/fuzz), and as a plain program that
 * replays random inputs under ctest (tests/fuzz/replay_main.c), so the
 * target itself never rots. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "io/grpc_conn.h"
#include "io/grpc_frame.h"
#include "io/grpc_status.h"
#include "twe/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Well-formed starting points for each part of the target (the replayer
 * mutates them; tests/fuzz/replay_main.c). */
static const uint8_t seed_frame[] = {0, 0, 0, 0, 0, 3, 'a', 'b', 'c'};
static const uint8_t seed_trailers[] = {1, '2', 0, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o',
                                        'n', '/', 'g', 'r', 'p', 'c', 0, '5', 0, 'n', 'o', '%', '2',
                                        '0', 0, 'C', 'A', 'U', 'S', 'x'};
static const uint8_t seed_http2[] = {2, 0, 0, 5, 1, 4, 0, 0, 0, 1, 0x88, 0x40, 0x01, 'x', 0x00};
const uint8_t *twe_fuzz_seeds[] = {seed_frame, seed_trailers, seed_http2};
size_t twe_fuzz_seed_lens[] = {sizeof seed_frame, sizeof seed_trailers, sizeof seed_http2};
const size_t twe_fuzz_n_seeds = 3;

/* Frame reader: the input is cut into chunks whose sizes come from the
 * input itself, and fed; finish must agree with what feed said. */
static void fuzz_frames(const uint8_t *data, size_t size) {
  twe_arena_t arena;
  twe__arena_init(&arena, 1 << 22);
  twe_grpc_frame_reader_t r;
  twe__grpc_frame_reader_init(&r, &arena, 1 << 20);
  size_t off = 0;
  int rc = 0;
  while (off < size && rc == 0) {
    size_t chunk = (size_t)(data[off] % 17) + 1;
    off++;
    if (chunk > size - off) chunk = size - off;
    rc = twe__grpc_frame_reader_feed(&r, data + off, chunk);
    off += chunk;
  }
  const uint8_t *msg;
  size_t len;
  int fin = twe__grpc_frame_reader_finish(&r, &msg, &len);
  if (rc < 0 && fin != rc) __builtin_trap();
  if (fin == 0 && len > (1u << 20)) __builtin_trap();
  twe__arena_destroy(&arena);
}

/* Trailers: the input holds NUL-separated values for :status digits,
 * content-type, grpc-status, grpc-message and grpc-status-details-bin. */
static void fuzz_trailers(const uint8_t *data, size_t size) {
  const char *field[5] = {0};
  size_t field_len[5] = {0};
  size_t start = 0;
  int n = 0;
  for (size_t i = 0; i <= size && n < 5; i++) {
    if (i == size || data[i] == 0) {
      field[n] = (const char *)data + start;
      field_len[n] = i - start;
      n++;
      start = i + 1;
    }
  }
  twe_grpc_response_meta_t meta = {0};
  meta.http_status = field[0] && field_len[0] ? (field[0][0] == '2' ? 200 : (unsigned char)field[0][0]) : 200;
  meta.content_type = field[1] ? field[1] : "application/grpc";
  meta.content_type_len = field[1] ? field_len[1] : strlen("application/grpc");
  meta.grpc_status = field[2];
  meta.grpc_status_len = field_len[2];
  meta.grpc_message = field[3];
  meta.grpc_message_len = field_len[3];
  meta.details_bin = field[4];
  meta.details_bin_len = field_len[4];
  twe_arena_t arena;
  twe__arena_init(&arena, 1 << 22);
  twe_grpc_status_t st;
  if (twe__grpc_status_from_meta(&meta, &arena, &st) == 0) {
    if (!st.message) __builtin_trap();
    if (st.detail && !st.detail_type) __builtin_trap();
  }
  twe__arena_destroy(&arena);
}

static void on_done(twe_grpc_call_t *call, void *arg) {
  (void)call;
  ++*(int *)arg;
}

/* HTTP/2: a client connection with two calls in flight receives the input
 * as if from the server. Every call must complete exactly once. */
static void fuzz_http2(const uint8_t *data, size_t size) {
  twe_grpc_conn_options_t o = {.authority = "fuzz:7233"};
  twe_grpc_conn_t *conn;
  if (twe__grpc_conn_create(&o, 0, &conn) < 0) return;
  twe_arena_t arena;
  twe__arena_init(&arena, 1 << 22);
  int done = 0;
  twe_grpc_call_t calls[2];
  memset(calls, 0, sizeof calls);
  for (int i = 0; i < 2; i++) {
    calls[i].arena = &arena;
    calls[i].path = "/fuzz/Call";
    calls[i].done = on_done;
    calls[i].done_arg = &done;
    if (twe__grpc_conn_submit(conn, &calls[i], (const uint8_t *)"x", 1, 0) < 0) __builtin_trap();
  }
  const uint8_t *out;
  size_t out_len;
  twe__grpc_conn_pending(conn, 1 << 20, &out, &out_len);
  twe__grpc_conn_consume(conn, out_len);
  /* A valid server preface first (empty SETTINGS), so the fuzzer reaches
   * the frames after it. */
  static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  twe__grpc_conn_feed(conn, settings, sizeof settings);
  size_t off = 0;
  while (off < size) {
    size_t chunk = size - off > 64 ? 64 : size - off;
    if (twe__grpc_conn_feed(conn, data + off, chunk) < 0) break;
    twe__grpc_conn_pending(conn, 1 << 20, &out, &out_len);
    twe__grpc_conn_consume(conn, out_len);
    off += chunk;
  }
  twe__grpc_conn_destroy(conn);
  if (done != 2) __builtin_trap();
  twe__arena_destroy(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  switch (data[0] % 3) {
    case 0: fuzz_frames(data + 1, size - 1); break;
    case 1: fuzz_trailers(data + 1, size - 1); break;
    default: fuzz_http2(data + 1, size - 1); break;
  }
  return 0;
}
