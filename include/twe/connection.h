/* twe/connection.h — how to reach a Temporal Service.
 *
 * The fields follow Temporal's environment conventions, so a worker started
 * with the same variables as the `temporal` CLI or another SDK reaches the
 * same server:
 *   TEMPORAL_ADDRESS                         host:port (default localhost:7233)
 *   TEMPORAL_NAMESPACE                       namespace (default "default")
 *   TEMPORAL_API_KEY                         sent as "authorization: Bearer ..."; turns TLS on
 *   TEMPORAL_TLS                             "true"/"false": force TLS on or off
 *   TEMPORAL_TLS_CA_PATH / _CA_DATA          CA to verify the server (default: system CAs;
 *                                            also TEMPORAL_TLS_SERVER_CA_CERT_PATH / _DATA)
 *   TEMPORAL_TLS_CLIENT_CERT_PATH / _DATA    client certificate (mTLS)
 *   TEMPORAL_TLS_CLIENT_KEY_PATH / _DATA     client private key (mTLS)
 *   TEMPORAL_TLS_SERVER_NAME                 name for SNI and certificate checks
 *   TEMPORAL_TLS_DISABLE_HOST_VERIFICATION   "true": skip the name check (chain still checked)
 * Any TLS setting or an API key turns TLS on unless TEMPORAL_TLS=false.
 * And twe's own:
 *   TWE_WAIT_FOR_SERVER                      seconds, or "forever": wait_for_server_ns
 *   TWE_KEEPALIVE_INTERVAL / _TIMEOUT        seconds: keepalive_interval_ns / _timeout_ns
 *
 * Thread: any; the struct is plain data. */
#ifndef TWE_CONNECTION_H
#define TWE_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twe/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TWE_WAIT_FOREVER UINT64_MAX

/* Strings are borrowed: they must outlive every use of the struct (the
 * connection copies what it keeps when it is created). NULL means unset. */
typedef struct twe_connection_options {
  const char *address;   /* "host:port", "[v6]:port" */
  const char *namespace_name;
  const char *api_key;
  bool tls;
  const char *tls_ca_path, *tls_ca_pem;
  const char *tls_cert_path, *tls_cert_pem;
  const char *tls_key_path, *tls_key_pem;
  const char *tls_server_name;
  bool tls_disable_host_verification;
  /* Identity reported to the server (default "<pid>@<hostname>"). */
  const char *identity;
  /* TCP connect plus TLS handshake; 0 = 10 s. */
  uint64_t connect_timeout_ns;
  /* How long twe_client_connect keeps trying while the server cannot be
   * reached (refused, unreachable, timed out, not resolvable yet): 0 fails
   * at once; TWE_WAIT_FOREVER tries until it answers (as the Go SDK's lazy
   * client), backing off from 1 s to 10 s and saying each attempt on
   * stderr. A server that answers "no" (no such namespace, a TLS or
   * credentials problem) fails at once either way. */
  uint64_t wait_for_server_ns;
  /* HTTP/2 keepalive, as the SDKs' KeepAliveConfig: a PING after
   * keepalive_interval_ns without one (0 = 30 s; never under 10 s, as
   * servers send GOAWAY to clients that ping more often), and the
   * connection is given up (and made again) when it is not answered within
   * keepalive_timeout_ns (0 = 15 s). A server that stopped answering is
   * found within interval + timeout. */
  uint64_t keepalive_interval_ns;
  uint64_t keepalive_timeout_ns;
  /* Largest response message accepted; 0 = 128 MiB. */
  size_t max_recv_message_bytes;
} twe_connection_options_t;

/* Fills opts with the defaults (localhost:7233, namespace "default", no TLS). */
TWE_EXPORT void twe_connection_options_init(twe_connection_options_t *opts);

/* Fills opts from the TEMPORAL_* environment variables above, on top of the
 * defaults. Strings point into the environment (valid while it is not
 * changed). Returns 0, or TWE_ECONFIG with a reason in err (err_len bytes,
 * may be 0) for an unparseable boolean, an API key without TLS
 * (TEMPORAL_TLS=false) or a certificate without its key. */
TWE_EXPORT int twe_connection_options_from_env(twe_connection_options_t *opts, char *err,
                                               size_t err_len);

/* The client configuration file Temporal's CLI and SDKs share: a TOML file
 * of profiles ([profile.<name>] address, namespace, api_key, and
 * [profile.<name>.tls] disabled, client_cert_path / _data, client_key_path /
 * _data, server_ca_cert_path / _data, server_name,
 * disable_host_verification). The file is TEMPORAL_CONFIG_FILE, else
 * $XDG_CONFIG_HOME/temporalio/temporal.toml or
 * ~/.config/temporalio/temporal.toml; the profile TEMPORAL_PROFILE, else
 * "default". A [tls] table turns TLS on (unless disabled = true), as does an
 * API key. */
typedef struct twe_connection_config twe_connection_config_t;

/* Fills opts from the profile (when the file exists), then the TEMPORAL_*
 * variables above on top, as the SDKs do. *config keeps the file's strings
 * that opts points to: free it once opts was used (twe_client_connect
 * copies what it keeps). Returns 0, or TWE_ECONFIG with a reason in err: a
 * file that cannot be read or parsed ("<path>: line N: ..."), a
 * TEMPORAL_CONFIG_FILE that does not exist, a TEMPORAL_PROFILE the file
 * does not have, or what twe_connection_options_from_env refuses. */
TWE_EXPORT int twe_connection_options_load(twe_connection_options_t *opts,
                                           twe_connection_config_t **config, char *err,
                                           size_t err_len);
TWE_EXPORT void twe_connection_config_free(twe_connection_config_t *config);

#ifdef __cplusplus
}
#endif

#endif /* TWE_CONNECTION_H */
