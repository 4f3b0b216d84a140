/* tests/engine/test_version.c — the linked library's version matches the
 * header an embedder compiles against (CMake project(VERSION) vs common.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "twe/common.h"

static void test_version_matches_header(void **state) {
  (void)state;
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", TWE_VERSION_MAJOR, TWE_VERSION_MINOR,
           TWE_VERSION_PATCH);
  assert_string_equal(twe_version(), expected);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_version_matches_header),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
