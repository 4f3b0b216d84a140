/* tests/io/test_connection_options.c — TEMPORAL_* environment conventions. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "twe/connection.h"
#include "twe/error.h"

static const char *const vars[] = {
  "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
  "TEMPORAL_TLS_CA_PATH", "TEMPORAL_TLS_CA_DATA", "TEMPORAL_TLS_CLIENT_CERT_PATH",
  "TEMPORAL_TLS_CLIENT_CERT_DATA", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_CLIENT_KEY_DATA",
  "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
};

static int clear_env(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
  return 0;
}

static void test_connection_options_defaults(void **state) {
  (void)state;
  twe_connection_options_t o;
  char err[128] = "";
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), 0);
  assert_string_equal(o.address, "localhost:7233");
  assert_string_equal(o.namespace_name, "default");
  assert_false(o.tls);
  assert_null(o.api_key);
}

static void test_connection_options_cloud_style(void **state) {
  (void)state;
  setenv("TEMPORAL_ADDRESS", "my-ns.a1b2c.tmprl.cloud:7233", 1);
  setenv("TEMPORAL_NAMESPACE", "my-ns.a1b2c", 1);
  setenv("TEMPORAL_API_KEY", "secret", 1);
  twe_connection_options_t o;
  char err[128] = "";
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), 0);
  assert_string_equal(o.address, "my-ns.a1b2c.tmprl.cloud:7233");
  assert_string_equal(o.namespace_name, "my-ns.a1b2c");
  assert_string_equal(o.api_key, "secret");
  assert_true(o.tls); /* implied by the API key */
}

static void test_connection_options_mtls_and_overrides(void **state) {
  (void)state;
  setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "/certs/client.pem", 1);
  setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", "/certs/client.key", 1);
  setenv("TEMPORAL_TLS_CA_PATH", "/certs/ca.pem", 1);
  setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.internal", 1);
  setenv("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "TRUE", 1);
  twe_connection_options_t o;
  assert_int_equal(twe_connection_options_from_env(&o, NULL, 0), 0);
  assert_true(o.tls);
  assert_string_equal(o.tls_cert_path, "/certs/client.pem");
  assert_string_equal(o.tls_key_path, "/certs/client.key");
  assert_string_equal(o.tls_ca_path, "/certs/ca.pem");
  assert_string_equal(o.tls_server_name, "temporal.internal");
  assert_true(o.tls_disable_host_verification);
  /* TEMPORAL_TLS=false turns it off again (no API key here). */
  setenv("TEMPORAL_TLS", "false", 1);
  assert_int_equal(twe_connection_options_from_env(&o, NULL, 0), 0);
  assert_false(o.tls);
}

static void test_connection_options_errors(void **state) {
  (void)state;
  twe_connection_options_t o;
  char err[160];
  setenv("TEMPORAL_TLS", "maybe", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "TEMPORAL_TLS"));
  setenv("TEMPORAL_TLS", "false", 1);
  setenv("TEMPORAL_API_KEY", "k", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "API key"));
  clear_env(NULL);
  setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", "/c.pem", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "without its key"));
}

#define T(f) cmocka_unit_test_setup(f, clear_env)
int main(void) {
  const struct CMUnitTest tests[] = {
    T(test_connection_options_defaults),
    T(test_connection_options_cloud_style),
    T(test_connection_options_mtls_and_overrides),
    T(test_connection_options_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
