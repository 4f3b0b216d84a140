/* tests/io/test_grpc_frame.c — gRPC message reassembly over any split of
 * DATA, and the malformed cases: lying lengths, 2 GiB prefixes, compression,
 * a second message, a stream cut short. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/grpc_frame.h"
#include "twe/error.h"

static size_t frame(uint8_t *out, const uint8_t *body, size_t len) {
  assert_int_equal(twe__grpc_frame_header(out, len), 0);
  memcpy(out + 5, body, len);
  return len + 5;
}

/* Every split point and chunk size gives back the same message. */
static void test_grpc_frame_reader_reassembles_any_split(void **state) {
  (void)state;
  uint8_t body[300];
  for (size_t i = 0; i < sizeof body; i++) body[i] = (uint8_t)(i * 7);
  uint8_t wire[305];
  size_t n = frame(wire, body, sizeof body);
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  for (size_t chunk = 1; chunk <= n; chunk += (chunk < 8 ? 1 : 37)) {
    twe_grpc_frame_reader_t r;
    twe__grpc_frame_reader_init(&r, &arena, 0);
    for (size_t off = 0; off < n; off += chunk) {
      size_t take = n - off < chunk ? n - off : chunk;
      assert_int_equal(twe__grpc_frame_reader_feed(&r, wire + off, take), 0);
    }
    const uint8_t *msg;
    size_t len;
    assert_int_equal(twe__grpc_frame_reader_finish(&r, &msg, &len), 0);
    assert_int_equal(len, sizeof body);
    assert_memory_equal(msg, body, len);
    twe__arena_reset(&arena);
  }
  twe__arena_destroy(&arena);
}

static void test_grpc_frame_reader_empty_message_and_no_message(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_frame_reader_t r;
  twe__grpc_frame_reader_init(&r, &arena, 0);
  const uint8_t empty[5] = {0, 0, 0, 0, 0};
  assert_int_equal(twe__grpc_frame_reader_feed(&r, empty, 5), 0);
  const uint8_t *msg;
  size_t len = 99;
  assert_int_equal(twe__grpc_frame_reader_finish(&r, &msg, &len), 0);
  assert_int_equal(len, 0);
  /* Trailers-only: no DATA at all. */
  twe__grpc_frame_reader_init(&r, &arena, 0);
  assert_int_equal(twe__grpc_frame_reader_finish(&r, &msg, &len), 1);
  twe__arena_destroy(&arena);
}

/* The length prefix promises more than the stream delivers. */
static void test_grpc_frame_reader_length_larger_than_body(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_frame_reader_t r;
  twe__grpc_frame_reader_init(&r, &arena, 0);
  const uint8_t wire[] = {0, 0, 0, 0, 10, 'a', 'b', 'c'};
  assert_int_equal(twe__grpc_frame_reader_feed(&r, wire, sizeof wire), 0);
  const uint8_t *msg;
  size_t len;
  assert_int_equal(twe__grpc_frame_reader_finish(&r, &msg, &len), TWE_EPROTOCOL);
  assert_non_null(strstr(r.error_text, "3 of 10 bytes"));
  /* Cut inside the header. */
  twe__grpc_frame_reader_init(&r, &arena, 0);
  assert_int_equal(twe__grpc_frame_reader_feed(&r, wire, 2), 0);
  assert_int_equal(twe__grpc_frame_reader_finish(&r, &msg, &len), TWE_EPROTOCOL);
  assert_non_null(strstr(r.error_text, "header"));
  twe__arena_destroy(&arena);
}

/* A 2 GiB prefix is refused before anything is allocated for it. */
static void test_grpc_frame_reader_2gib_length_refused(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_frame_reader_t r;
  twe__grpc_frame_reader_init(&r, &arena, 0);
  const uint8_t wire[] = {0, 0x80, 0, 0, 0, 'x'};
  assert_int_equal(twe__grpc_frame_reader_feed(&r, wire, sizeof wire), TWE_ELIMIT);
  assert_non_null(strstr(r.error_text, "2147483648"));
  assert_int_equal(arena.reserved_bytes, 0);
  /* Failed readers stay failed. */
  assert_int_equal(twe__grpc_frame_reader_feed(&r, wire, 1), TWE_ELIMIT);
  const uint8_t *msg;
  size_t len;
  assert_int_equal(twe__grpc_frame_reader_finish(&r, &msg, &len), TWE_ELIMIT);
  /* A configured smaller limit applies too. */
  twe__grpc_frame_reader_init(&r, &arena, 1024);
  const uint8_t over[] = {0, 0, 0, 0x04, 0x01};
  assert_int_equal(twe__grpc_frame_reader_feed(&r, over, sizeof over), TWE_ELIMIT);
  twe__arena_destroy(&arena);
}

/* The arena's budget bounds a message under the protocol limit. */
static void test_grpc_frame_reader_arena_budget(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 4096);
  twe_grpc_frame_reader_t r;
  twe__grpc_frame_reader_init(&r, &arena, 0);
  const uint8_t wire[] = {0, 0, 1, 0, 0};
  assert_int_equal(twe__grpc_frame_reader_feed(&r, wire, sizeof wire), TWE_ELIMIT);
  twe__arena_destroy(&arena);
}

static void test_grpc_frame_reader_compressed_and_bad_flag(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_frame_reader_t r;
  twe__grpc_frame_reader_init(&r, &arena, 0);
  const uint8_t compressed[] = {1, 0, 0, 0, 1, 'x'};
  assert_int_equal(twe__grpc_frame_reader_feed(&r, compressed, sizeof compressed), TWE_EPROTOCOL);
  assert_non_null(strstr(r.error_text, "compressed"));
  twe__grpc_frame_reader_init(&r, &arena, 0);
  const uint8_t bad[] = {0x7f, 0, 0, 0, 1, 'x'};
  assert_int_equal(twe__grpc_frame_reader_feed(&r, bad, sizeof bad), TWE_EPROTOCOL);
  twe__arena_destroy(&arena);
}

static void test_grpc_frame_reader_second_message_refused(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe_grpc_frame_reader_t r;
  twe__grpc_frame_reader_init(&r, &arena, 0);
  const uint8_t two[] = {0, 0, 0, 0, 1, 'a', 0, 0, 0, 0, 1, 'b'};
  assert_int_equal(twe__grpc_frame_reader_feed(&r, two, sizeof two), TWE_EPROTOCOL);
  assert_non_null(strstr(r.error_text, "more than one"));
  twe__arena_destroy(&arena);
}

/* Random bytes in random chunks: an error or a message, never a crash. */
static void test_grpc_frame_reader_random_input(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 1 << 20);
  srand(11);
  uint8_t buf[64];
  for (int round = 0; round < 5000; round++) {
    twe_grpc_frame_reader_t r;
    twe__grpc_frame_reader_init(&r, &arena, 1 << 16);
    size_t n = (size_t)(rand() % (int)sizeof buf);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(rand() % 3 == 0 ? 0 : rand());
    size_t off = 0;
    int rc = 0;
    while (off < n && rc == 0) {
      size_t take = (size_t)(rand() % 9) + 1;
      if (take > n - off) take = n - off;
      rc = twe__grpc_frame_reader_feed(&r, buf + off, take);
      off += take;
    }
    const uint8_t *msg;
    size_t len;
    int fin = twe__grpc_frame_reader_finish(&r, &msg, &len);
    assert_true(fin == 0 || fin == 1 || fin == TWE_EPROTOCOL || fin == TWE_ELIMIT);
    if (rc < 0) assert_int_equal(fin, rc);
    twe__arena_reset(&arena);
  }
  twe__arena_destroy(&arena);
}

static void test_grpc_frame_header_encodes_big_endian(void **state) {
  (void)state;
  uint8_t h[5];
  assert_int_equal(twe__grpc_frame_header(h, 0x01020304), 0);
  const uint8_t want[] = {0, 1, 2, 3, 4};
  assert_memory_equal(h, want, 5);
#if SIZE_MAX > UINT32_MAX
  assert_int_equal(twe__grpc_frame_header(h, (size_t)UINT32_MAX + 1), TWE_ELIMIT);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_grpc_frame_reader_reassembles_any_split),
    cmocka_unit_test(test_grpc_frame_reader_empty_message_and_no_message),
    cmocka_unit_test(test_grpc_frame_reader_length_larger_than_body),
    cmocka_unit_test(test_grpc_frame_reader_2gib_length_refused),
    cmocka_unit_test(test_grpc_frame_reader_arena_budget),
    cmocka_unit_test(test_grpc_frame_reader_compressed_and_bad_flag),
    cmocka_unit_test(test_grpc_frame_reader_second_message_refused),
    cmocka_unit_test(test_grpc_frame_reader_random_input),
    cmocka_unit_test(test_grpc_frame_header_encodes_big_endian),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
