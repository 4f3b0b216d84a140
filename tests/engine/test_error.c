/* tests/engine/test_error.c — the error table: every code named and described,
 * errno values passed through, unknown values safe. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "twe/error.h"

static const int all_codes[] = {TWE_EDECODE, TWE_ELIMIT, TWE_EENCODING, TWE_EJSON, TWE_EENCODE,
                                 TWE_EPROTOCOL, TWE_ETLS, TWE_ECONFIG, TWE_ENOHOST, TWE_ERESOLVE,
                                 TWE_EFAILED, TWE_ENOTREGISTERED, TWE_ENONDETERMINISM,
                                 TWE_ECANCELED_ACTIVITY, TWE_EWORKFLOW};
#define N_CODES (sizeof all_codes / sizeof all_codes[0])

static void test_strerror_every_code_described_and_distinct(void **state) {
  (void)state;
  for (size_t i = 0; i < N_CODES; i++) {
    assert_true(all_codes[i] <= -TWE_ERRNO_BASE);
    assert_string_not_equal(twe_strerror(all_codes[i]), "unknown error");
    assert_string_not_equal(twe_err_name(all_codes[i]), "EUNKNOWN");
    assert_memory_equal(twe_err_name(all_codes[i]), "TWE_E", 5);
    for (size_t j = 0; j < i; j++) {
      assert_int_not_equal(all_codes[i], all_codes[j]);
      assert_string_not_equal(twe_strerror(all_codes[i]), twe_strerror(all_codes[j]));
      assert_string_not_equal(twe_err_name(all_codes[i]), twe_err_name(all_codes[j]));
    }
  }
}

static void test_strerror_negative_errno(void **state) {
  (void)state;
  assert_string_equal(twe_strerror(-ENOMEM), "Cannot allocate memory");
  assert_string_equal(twe_err_name(-ENOMEM), "ENOMEM");
  assert_string_equal(twe_err_name(-ETIMEDOUT), "ETIMEDOUT");
}

static void test_strerror_unknown_values(void **state) {
  (void)state;
  assert_string_equal(twe_strerror(5), "unknown error");
  assert_string_equal(twe_strerror(-(TWE_ERRNO_BASE + 999)), "unknown error");
  assert_string_equal(twe_strerror(-9999), "unknown error");
  assert_string_equal(twe_err_name(0), "EUNKNOWN");
  assert_string_equal(twe_err_name(-(TWE_ERRNO_BASE + 999)), "EUNKNOWN");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_strerror_every_code_described_and_distinct),
    cmocka_unit_test(test_strerror_negative_errno),
    cmocka_unit_test(test_strerror_unknown_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
