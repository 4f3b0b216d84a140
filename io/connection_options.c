/* io/connection_options.c — connection options from Temporal's TEMPORAL_*
 * environment conventions and the client configuration file the CLI and the
 * SDKs share (temporal.toml profiles; include/twe/connection.h). */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/toml.h"
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

/* What a profile of the configuration file said about TLS: -1 nothing,
 * 0 disabled, 1 a [tls] table (on). */
static int apply_env(twe_connection_options_t *opts, int profile_tls, char *err,
                     size_t err_len) {
  if (env("TEMPORAL_ADDRESS")) opts->address = env("TEMPORAL_ADDRESS");
  if (env("TEMPORAL_NAMESPACE")) opts->namespace_name = env("TEMPORAL_NAMESPACE");
  if (env("TEMPORAL_API_KEY")) opts->api_key = env("TEMPORAL_API_KEY");
  /* twe's names, and the SDKs' (TEMPORAL_TLS_SERVER_CA_CERT_*). */
  if (env("TEMPORAL_TLS_CA_PATH")) opts->tls_ca_path = env("TEMPORAL_TLS_CA_PATH");
  if (env("TEMPORAL_TLS_SERVER_CA_CERT_PATH"))
    opts->tls_ca_path = env("TEMPORAL_TLS_SERVER_CA_CERT_PATH");
  if (env("TEMPORAL_TLS_CA_DATA")) opts->tls_ca_pem = env("TEMPORAL_TLS_CA_DATA");
  if (env("TEMPORAL_TLS_SERVER_CA_CERT_DATA"))
    opts->tls_ca_pem = env("TEMPORAL_TLS_SERVER_CA_CERT_DATA");
  if (env("TEMPORAL_TLS_CLIENT_CERT_PATH"))
    opts->tls_cert_path = env("TEMPORAL_TLS_CLIENT_CERT_PATH");
  if (env("TEMPORAL_TLS_CLIENT_CERT_DATA"))
    opts->tls_cert_pem = env("TEMPORAL_TLS_CLIENT_CERT_DATA");
  if (env("TEMPORAL_TLS_CLIENT_KEY_PATH")) opts->tls_key_path = env("TEMPORAL_TLS_CLIENT_KEY_PATH");
  if (env("TEMPORAL_TLS_CLIENT_KEY_DATA")) opts->tls_key_pem = env("TEMPORAL_TLS_CLIENT_KEY_DATA");
  if (env("TEMPORAL_TLS_SERVER_NAME")) opts->tls_server_name = env("TEMPORAL_TLS_SERVER_NAME");

  int disable = env_bool("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION");
  if (disable == -2)
    return config_error(err, err_len, "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION must be true or false, not '%s'",
                        env("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"));
  if (disable >= 0) opts->tls_disable_host_verification = disable == 1;

  /* twe's own: how long to wait for a server that is not up yet. */
  const char *wait = env("TWE_WAIT_FOR_SERVER");
  if (wait) {
    char *end;
    double s = strtod(wait, &end);
    if (strcmp(wait, "forever") == 0) opts->wait_for_server_ns = TWE_WAIT_FOREVER;
    else if (end != wait && !*end && s >= 0 && s < 1e9) opts->wait_for_server_ns = (uint64_t)(s * 1e9);
    else
      return config_error(err, err_len,
                          "TWE_WAIT_FOR_SERVER must be seconds or \"forever\", not '%s'", wait);
  }

  /* twe's own: HTTP/2 keepalive (seconds). */
  static const struct { const char *name; size_t off; } keepalive[] = {
      {"TWE_KEEPALIVE_INTERVAL", offsetof(twe_connection_options_t, keepalive_interval_ns)},
      {"TWE_KEEPALIVE_TIMEOUT", offsetof(twe_connection_options_t, keepalive_timeout_ns)},
  };
  for (size_t i = 0; i < sizeof keepalive / sizeof keepalive[0]; i++) {
    const char *v = env(keepalive[i].name);
    if (!v) continue;
    char *end;
    double s = strtod(v, &end);
    if (end == v || *end || !(s > 0) || s >= 1e6)
      return config_error(err, err_len, "%s must be a number of seconds above 0, not '%s'",
                          keepalive[i].name, v);
    *(uint64_t *)((char *)opts + keepalive[i].off) = (uint64_t)(s * 1e9);
  }

  int tls = env_bool("TEMPORAL_TLS");
  if (tls == -2)
    return config_error(err, err_len, "TEMPORAL_TLS must be true or false, not '%s'", env("TEMPORAL_TLS"));
  if (tls == -1) tls = profile_tls;
  bool implied = opts->api_key || opts->tls_ca_path || opts->tls_ca_pem || opts->tls_cert_path ||
                 opts->tls_cert_pem || opts->tls_key_path || opts->tls_key_pem ||
                 opts->tls_server_name || opts->tls_disable_host_verification;
  opts->tls = tls == 1 || (tls == -1 && implied);
  if (opts->api_key && !opts->tls)
    return config_error(err, err_len,
                        "an API key is set but TLS is off (TEMPORAL_TLS=false, or the profile's "
                        "tls.disabled): API keys are only sent over TLS");
  bool has_cert = opts->tls_cert_path || opts->tls_cert_pem;
  bool has_key = opts->tls_key_path || opts->tls_key_pem;
  if (has_cert != has_key)
    return config_error(err, err_len, "a TLS client %s is set without its %s",
                        has_cert ? "certificate" : "key", has_cert ? "key" : "certificate");
  return 0;
}

TWE_EXPORT int twe_connection_options_from_env(twe_connection_options_t *opts, char *err,
                                               size_t err_len) {
  twe_connection_options_init(opts);
  return apply_env(opts, -1, err, err_len);
}

/* --- the client configuration file (temporal.toml) ------------------------------------ */

struct twe_connection_config {
  twe_toml_t toml;
  char path[4096];
};

TWE_EXPORT void twe_connection_config_free(twe_connection_config_t *config) {
  if (!config) return;
  twe__toml_free(&config->toml);
  free(config);
}

/* The default file: $XDG_CONFIG_HOME/temporalio/temporal.toml, else
 * $HOME/.config/temporalio/temporal.toml (where the Go SDK and the CLI
 * look on Linux). */
static void default_path(char *buf, size_t len) {
  const char *xdg = env("XDG_CONFIG_HOME"), *home = env("HOME");
  if (xdg) snprintf(buf, len, "%s/temporalio/temporal.toml", xdg);
  else if (home) snprintf(buf, len, "%s/.config/temporalio/temporal.toml", home);
  else buf[0] = 0;
}

/* The file's text (malloc'd) in *out, or NULL when there is none. */
static int read_file(const char *path, char **out, size_t *len) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? 0 : -errno;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (n + 4096 > cap) {
      cap = cap ? cap * 2 : 8192;
      if (cap > (16u << 20)) {
        rc = -EFBIG;
        break;
      }
      char *q = realloc(buf, cap);
      if (!q) {
        rc = -ENOMEM;
        break;
      }
      buf = q;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) rc = -EIO;
      break;
    }
  }
  fclose(f);
  if (rc < 0) {
    free(buf);
    return rc;
  }
  *out = buf ? buf : strdup("");
  *len = n;
  return *out ? 0 : -ENOMEM;
}

static const char *prof_str(const twe_toml_t *t, const char *profile, const char *key) {
  char path[512];
  snprintf(path, sizeof path, "profile.%s.%s", profile, key);
  const twe_toml_entry_t *e = twe__toml_get(t, path);
  return e && e->type == TWE_TOML_STRING && *e->string ? e->string : NULL;
}

TWE_EXPORT int twe_connection_options_load(twe_connection_options_t *opts,
                                           twe_connection_config_t **config, char *err,
                                           size_t err_len) {
  *config = NULL;
  twe_connection_options_init(opts);
  const char *file = env("TEMPORAL_CONFIG_FILE");
  const char *profile = env("TEMPORAL_PROFILE");
  twe_connection_config_t *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  if (file) snprintf(c->path, sizeof c->path, "%s", file);
  else default_path(c->path, sizeof c->path);
  char *text = NULL;
  size_t len = 0;
  int rc = c->path[0] ? read_file(c->path, &text, &len) : 0;
  if (rc < 0) {
    twe_connection_config_free(c);
    return config_error(err, err_len, "%s: %s", c->path, strerror(-rc));
  }
  if (!text && file) {
    twe_connection_config_free(c);
    return config_error(err, err_len, "TEMPORAL_CONFIG_FILE=%s: no such file", file);
  }
  int profile_tls = -1;
  if (text) {
    char why[256];
    rc = twe__toml_parse(text, len, &c->toml, why, sizeof why);
    free(text);
    if (rc < 0) {
      int r = rc == -ENOMEM ? -ENOMEM : config_error(err, err_len, "%s: %s", c->path, why);
      twe_connection_config_free(c);
      return r;
    }
    const char *name = profile ? profile : "default";
    char prefix[300];
    snprintf(prefix, sizeof prefix, "profile.%s.", name);
    bool found = false;
    for (size_t i = 0; i < c->toml.n && !found; i++)
      found = strncmp(c->toml.entries[i].path, prefix, strlen(prefix)) == 0;
    if (!found && profile) {
      twe_connection_config_free(c);
      return config_error(err, err_len, "%s: no profile \"%s\" (TEMPORAL_PROFILE)", file ? file : "temporal.toml", profile);
    }
    const twe_toml_t *t = &c->toml;
    if (prof_str(t, name, "address")) opts->address = prof_str(t, name, "address");
    if (prof_str(t, name, "namespace")) opts->namespace_name = prof_str(t, name, "namespace");
    opts->api_key = prof_str(t, name, "api_key");
    opts->tls_ca_path = prof_str(t, name, "tls.server_ca_cert_path");
    opts->tls_ca_pem = prof_str(t, name, "tls.server_ca_cert_data");
    opts->tls_cert_path = prof_str(t, name, "tls.client_cert_path");
    opts->tls_cert_pem = prof_str(t, name, "tls.client_cert_data");
    opts->tls_key_path = prof_str(t, name, "tls.client_key_path");
    opts->tls_key_pem = prof_str(t, name, "tls.client_key_data");
    opts->tls_server_name = prof_str(t, name, "tls.server_name");
    char path[512];
    snprintf(path, sizeof path, "profile.%s.tls.disable_host_verification", name);
    const twe_toml_entry_t *e = twe__toml_get(t, path);
    if (e && e->type == TWE_TOML_BOOL) opts->tls_disable_host_verification = e->boolean;
    snprintf(path, sizeof path, "profile.%s.tls.disabled", name);
    e = twe__toml_get(t, path);
    /* A [profile.x.tls] table turns TLS on, unless it says disabled. */
    snprintf(prefix, sizeof prefix, "profile.%s.tls.", name);
    for (size_t i = 0; i < t->n && profile_tls < 0; i++)
      if (strncmp(t->entries[i].path, prefix, strlen(prefix)) == 0) profile_tls = 1;
    if (e && e->type == TWE_TOML_BOOL && e->boolean) profile_tls = 0;
  }
  rc = apply_env(opts, profile_tls, err, err_len);
  if (rc < 0) {
    twe_connection_config_free(c);
    return rc;
  }
  *config = c;
  return 0;
}
