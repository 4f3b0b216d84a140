/* io/connection_options.c — connection options from Temporal's TEMPORAL_*
 * environment conventions (include/twe/connection.h). */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "twe/connection.h"
#include "twe/error.h"

TWE_EXPORT void twe_connection_options_init(twe_connection_options_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->address = "localhost:7233";
  opts->namespace_name = "default";
}

static int config_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int config_error(char *err, size_t err_len, const char *fmt, ...) {
  if (err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
  }
  return TWE_ECONFIG;
}

/* A set, non-empty variable, or NULL. */
static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* "true"/"1"/"yes" or "false"/"0"/"no" (any case): 1/0; unset: -1; else -2. */
static int env_bool(const char *name) {
  const char *v = env(name);
  if (!v) return -1;
  if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) return 1;
  if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no")) return 0;
  return -2;
}

TWE_EXPORT int twe_connection_options_from_env(twe_connection_options_t *opts, char *err,
                                               size_t err_len) {
  twe_connection_options_init(opts);
  if (env("TEMPORAL_ADDRESS")) opts->address = env("TEMPORAL_ADDRESS");
  if (env("TEMPORAL_NAMESPACE")) opts->namespace_name = env("TEMPORAL_NAMESPACE");
  opts->api_key = env("TEMPORAL_API_KEY");
  opts->tls_ca_path = env("TEMPORAL_TLS_CA_PATH");
  opts->tls_ca_pem = env("TEMPORAL_TLS_CA_DATA");
  opts->tls_cert_path = env("TEMPORAL_TLS_CLIENT_CERT_PATH");
  opts->tls_cert_pem = env("TEMPORAL_TLS_CLIENT_CERT_DATA");
  opts->tls_key_path = env("TEMPORAL_TLS_CLIENT_KEY_PATH");
  opts->tls_key_pem = env("TEMPORAL_TLS_CLIENT_KEY_DATA");
  opts->tls_server_name = env("TEMPORAL_TLS_SERVER_NAME");

  int disable = env_bool("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION");
  if (disable == -2)
    return config_error(err, err_len, "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION must be true or false, not '%s'",
                        env("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"));
  opts->tls_disable_host_verification = disable == 1;

  int tls = env_bool("TEMPORAL_TLS");
  if (tls == -2)
    return config_error(err, err_len, "TEMPORAL_TLS must be true or false, not '%s'", env("TEMPORAL_TLS"));
  bool implied = opts->api_key || opts->tls_ca_path || opts->tls_ca_pem || opts->tls_cert_path ||
                 opts->tls_cert_pem || opts->tls_key_path || opts->tls_key_pem ||
                 opts->tls_server_name || disable == 1;
  opts->tls = tls == 1 || (tls == -1 && implied);
  if (opts->api_key && !opts->tls)
    return config_error(err, err_len,
                        "TEMPORAL_API_KEY is set but TEMPORAL_TLS=false: API keys are only sent over TLS");
  bool has_cert = opts->tls_cert_path || opts->tls_cert_pem;
  bool has_key = opts->tls_key_path || opts->tls_key_pem;
  if (has_cert != has_key)
    return config_error(err, err_len, "a TLS client %s is set without its %s",
                        has_cert ? "certificate" : "key", has_cert ? "key" : "certificate");
  return 0;
}
