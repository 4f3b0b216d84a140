/* tests/engine/test_json_values.c — packing and unpacking JSON payloads
 * with jansson formats (engine/json_values.h): what lands in the arena,
 * what the keep list holds, and the errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/json_values.h"
#include "twe/error.h"

static int pack(twe_arena_t *a, twe_payload_t *out, twe_error_info_t *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = twe__json_vpack(a, out, err, fmt, ap);
  va_end(ap);
  return rc;
}

static int unpack(twe_arena_t *a, twe__json_keep_t **keep, const twe_payload_t *p,
                  twe_error_info_t *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = twe__json_vunpack(a, keep, p, err, fmt, ap);
  va_end(ap);
  return rc;
}

static void test_pack_then_unpack(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  twe__json_keep_t *keep = NULL;
  twe_payload_t p;
  assert_int_equal(pack(&a, &p, NULL, "{s:s, s:i, s:[b]}", "name", "Ann", "n", 3, "flags", 1), 0);
  assert_string_equal(p.encoding, "json/plain");
  assert_int_equal(p.len, strlen("{\"name\":\"Ann\",\"n\":3,\"flags\":[true]}"));
  assert_memory_equal(p.data, "{\"name\":\"Ann\",\"n\":3,\"flags\":[true]}", p.len);
  const char *name;
  int n, missing = 7;
  json_t *flags;
  assert_int_equal(unpack(&a, &keep, &p, NULL, "{s:s, s:i, s?i, s:o}", "name", &name, "n", &n,
                          "nope", &missing, "flags", &flags),
                   0);
  assert_string_equal(name, "Ann");
  assert_int_equal(n, 3);
  assert_int_equal(missing, 7);
  assert_true(json_is_array(flags));
  /* The document stays until released: name points into it. */
  assert_non_null(keep);
  assert_int_equal(keep->doc->refcount, 1);
  twe__json_release(keep);
  twe__arena_destroy(&a);
}

static void test_errors(void **state) {
  (void)state;
  twe_arena_t a;
  twe__arena_init(&a, 0);
  twe__json_keep_t *keep = NULL;
  twe_error_info_t e;
  int n;
  twe_payload_t text = twe_payload_json("\"a string\"");
  assert_int_equal(unpack(&a, &keep, &text, &e, "i", &n), TWE_EJSON);
  assert_string_equal(e.type, "twe.InvalidArgument");
  assert_true(e.non_retryable);
  assert_non_null(strstr(e.message, "cannot unpack: "));
  twe_payload_t bad = twe_payload_json("{not json");
  assert_int_equal(unpack(&a, &keep, &bad, &e, "{}"), TWE_EJSON);
  assert_non_null(strstr(e.message, "cannot unpack: not JSON"));
  twe_payload_t bin = twe_payload_binary("x", 1);
  assert_int_equal(unpack(&a, &keep, &bin, NULL, "s", &n), TWE_EJSON);
  twe_payload_t out;
  assert_int_equal(pack(&a, &out, &e, "{s:i", "x", 1), TWE_EJSON);
  assert_non_null(strstr(e.message, "cannot pack JSON"));
  twe__json_release(keep);
  twe__arena_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pack_then_unpack),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
