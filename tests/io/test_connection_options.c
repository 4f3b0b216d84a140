/* tests/io/test_connection_options.c — TEMPORAL_* environment conventions. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "twe/connection.h"
#include "twe/error.h"

static const char *const vars[] = {
  "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
  "TEMPORAL_TLS_CA_PATH", "TEMPORAL_TLS_CA_DATA", "TEMPORAL_TLS_CLIENT_CERT_PATH",
  "TEMPORAL_TLS_CLIENT_CERT_DATA", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_CLIENT_KEY_DATA",
  "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
  "TEMPORAL_CONFIG_FILE", "TEMPORAL_PROFILE", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
  "TEMPORAL_TLS_SERVER_CA_CERT_DATA", "TWE_WAIT_FOR_SERVER",
  "TWE_KEEPALIVE_INTERVAL", "TWE_KEEPALIVE_TIMEOUT",
};

static int clear_env(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
  /* No real ~/.config/temporalio/temporal.toml in the way. */
  setenv("XDG_CONFIG_HOME", "/nonexistent-twe-test", 1);
  return 0;
}

/* Writes text to a temporary temporal.toml and points TEMPORAL_CONFIG_FILE
 * at it. */
static char toml_path[64];
static void config_file(const char *text) {
  snprintf(toml_path, sizeof toml_path, "/tmp/twe-test-toml-XXXXXX");
  int fd = mkstemp(toml_path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(text, f);
  fclose(f);
  setenv("TEMPORAL_CONFIG_FILE", toml_path, 1);
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
  clear_env(NULL);
  setenv("TWE_WAIT_FOR_SERVER", "soon", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "TWE_WAIT_FOR_SERVER"));
}

/* TWE_WAIT_FOR_SERVER: seconds, or forever; unset: 0 (fail at once). */
static void test_connection_options_wait_for_server(void **state) {
  (void)state;
  twe_connection_options_t o;
  char err[160];
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), 0);
  assert_true(o.wait_for_server_ns == 0);
  setenv("TWE_WAIT_FOR_SERVER", "2.5", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), 0);
  assert_true(o.wait_for_server_ns == 2500000000ull);
  setenv("TWE_WAIT_FOR_SERVER", "forever", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), 0);
  assert_true(o.wait_for_server_ns == TWE_WAIT_FOREVER);
}

/* TWE_KEEPALIVE_INTERVAL / _TIMEOUT: seconds above 0; unset: 0 (defaults). */
static void test_connection_options_keepalive(void **state) {
  (void)state;
  twe_connection_options_t o;
  char err[160];
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), 0);
  assert_true(o.keepalive_interval_ns == 0 && o.keepalive_timeout_ns == 0);
  setenv("TWE_KEEPALIVE_INTERVAL", "10", 1);
  setenv("TWE_KEEPALIVE_TIMEOUT", "2.5", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), 0);
  assert_true(o.keepalive_interval_ns == 10000000000ull);
  assert_true(o.keepalive_timeout_ns == 2500000000ull);
  setenv("TWE_KEEPALIVE_TIMEOUT", "0", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "TWE_KEEPALIVE_TIMEOUT"));
  setenv("TWE_KEEPALIVE_TIMEOUT", "3", 1);
  setenv("TWE_KEEPALIVE_INTERVAL", "often", 1);
  assert_int_equal(twe_connection_options_from_env(&o, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "TWE_KEEPALIVE_INTERVAL"));
}

static const char profiles[] =
    "# the CLI's and SDKs' client configuration\n"
    "[profile.default]\n"
    "address = \"localhost:7233\"\n"
    "\n"
    "[profile.prod]\n"
    "address = \"prod.example:7233\"   # the cluster\n"
    "namespace = 'payments'\n"
    "api_key = \"secret\"\n"
    "[profile.prod.tls]\n"
    "server_name = \"prod.example\"\n"
    "client_cert_data = \"\"\"\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n\"\"\"\n"
    "client_key_path = \"/keys/prod.key\"\n"
    "[profile.plain]\n"
    "address = \"plain:7233\"\n"
    "[profile.plain.tls]\n"
    "disabled = true\n";

/* TEMPORAL_PROFILE=prod selects address, namespace, API key and TLS; the
 * environment wins over the file; the default profile is taken without
 * TEMPORAL_PROFILE; a [tls] table with disabled = true keeps TLS off. */
static void test_connection_options_profiles(void **state) {
  (void)state;
  twe_connection_options_t o;
  twe_connection_config_t *c;
  char err[256] = "";
  config_file(profiles);
  setenv("TEMPORAL_PROFILE", "prod", 1);
  assert_int_equal(twe_connection_options_load(&o, &c, err, sizeof err), 0);
  assert_string_equal(o.address, "prod.example:7233");
  assert_string_equal(o.namespace_name, "payments");
  assert_string_equal(o.api_key, "secret");
  assert_true(o.tls);
  assert_string_equal(o.tls_server_name, "prod.example");
  assert_string_equal(o.tls_cert_pem, "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n");
  assert_string_equal(o.tls_key_path, "/keys/prod.key");
  twe_connection_config_free(c);

  setenv("TEMPORAL_NAMESPACE", "from-env", 1);
  assert_int_equal(twe_connection_options_load(&o, &c, err, sizeof err), 0);
  assert_string_equal(o.namespace_name, "from-env");
  assert_string_equal(o.address, "prod.example:7233");
  twe_connection_config_free(c);
  unsetenv("TEMPORAL_NAMESPACE");

  unsetenv("TEMPORAL_PROFILE");
  assert_int_equal(twe_connection_options_load(&o, &c, err, sizeof err), 0);
  assert_string_equal(o.address, "localhost:7233");
  assert_false(o.tls);
  twe_connection_config_free(c);

  setenv("TEMPORAL_PROFILE", "plain", 1);
  assert_int_equal(twe_connection_options_load(&o, &c, err, sizeof err), 0);
  assert_string_equal(o.address, "plain:7233");
  assert_false(o.tls);
  twe_connection_config_free(c);
  unlink(toml_path);
}

/* A malformed file names its line; a profile the file lacks, or a
 * TEMPORAL_CONFIG_FILE that is not there, is an error. */
static void test_connection_options_profile_errors(void **state) {
  (void)state;
  twe_connection_options_t o;
  twe_connection_config_t *c = NULL;
  char err[256] = "";
  config_file("[profile.prod]\naddress = \"x:1\"\nnamespace = [\"a\"]\n");
  assert_int_equal(twe_connection_options_load(&o, &c, err, sizeof err), TWE_ECONFIG);
  assert_null(c);
  assert_non_null(strstr(err, "line 3"));
  assert_non_null(strstr(err, toml_path));
  unlink(toml_path);

  config_file("[profile.prod]\naddress = \"unterminated\n");
  assert_int_equal(twe_connection_options_load(&o, &c, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "line 2"));
  unlink(toml_path);

  config_file(profiles);
  setenv("TEMPORAL_PROFILE", "staging", 1);
  assert_int_equal(twe_connection_options_load(&o, &c, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "no profile \"staging\""));
  unlink(toml_path);
  assert_int_equal(twe_connection_options_load(&o, &c, err, sizeof err), TWE_ECONFIG);
  assert_non_null(strstr(err, "no such file"));
}

#define T(f) cmocka_unit_test_setup(f, clear_env)
int main(void) {
  const struct CMUnitTest tests[] = {
    T(test_connection_options_defaults),
    T(test_connection_options_cloud_style),
    T(test_connection_options_mtls_and_overrides),
    T(test_connection_options_errors),
    T(test_connection_options_wait_for_server),
    T(test_connection_options_keepalive),
    T(test_connection_options_profiles),
    T(test_connection_options_profile_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
