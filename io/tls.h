/* io/tls.h — TLS client engine on OpenSSL, over memory only.
 *
 * The reactor owns the socket; this engine never touches one. It is a state
 * machine between two byte streams:
 *
 *   network --ciphertext--> twe__tls_feed()      twe__tls_read()  --plaintext--> HTTP/2
 *   network <--ciphertext-- twe__tls_output_*()  twe__tls_write() <--plaintext-- HTTP/2
 *
 * A connection layer drives it like this:
 *   1. twe__tls_create(), then twe__tls_handshake() to queue the ClientHello;
 *   2. after EVERY call below, send what twe__tls_output_iov() shows and
 *      release it with twe__tls_output_consume() once the kernel is done;
 *   3. on bytes from the socket: twe__tls_feed(), then twe__tls_handshake()
 *      until it returns 1, then twe__tls_read() until it returns -EAGAIN;
 *   4. on EOF from the socket: twe__tls_feed_eof(), then the same as 3;
 *   5. to send: twe__tls_write(); to close: twe__tls_shutdown(), send the
 *      output, close the socket, twe__tls_destroy().
 *
 * Two objects. A twe_tls_config_t holds what is the same for every connection
 * to one service: protocol versions, ALPN "h2" (required), trusted CAs, host
 * verification policy, the client certificate (mTLS). It is built once and is
 * read-only afterwards. A twe_tls_t is one connection.
 *
 * Ciphertext out is a queue of blocks whose bytes never move once written, so
 * the reactor can hand them to the kernel (io_uring send/writev) without a
 * copy and release them when the send completes. Ciphertext in is copied once
 * into the engine by twe__tls_feed().
 *
 * Errors: int returns, >= 0 success, negative errno or TWE_E* (twe/error.h).
 * TWE_ETLS is any handshake or protocol failure, TWE_ECONFIG a bad option or
 * file; the human reason (why verification failed, which file is bad) is
 * in twe__tls_last_error() or the config's error buffer.
 *
 * OpenSSL's error queue is per thread and shared by every connection on that
 * thread: every function here leaves it empty, whatever happened.
 */
#ifndef TWE_IO_TLS_H
#define TWE_IO_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

/* What a config is built from. Zero-initialise, then set what applies.
 * Strings are borrowed for the duration of twe__tls_config_create() only.
 * Each PEM input may come from a file (path) or from memory (a NUL-terminated
 * PEM string, for embedders without files); giving both for the same item is
 * a TWE_ECONFIG error, except for CAs, where both are trusted. */
typedef struct twe_tls_options {
  /* CAs to verify the server against. Neither set: the system CA store
   * (TEMPORAL_TLS_CA_PATH maps to ca_file). */
  const char *ca_file;
  const char *ca_pem;
  /* Client certificate (may be followed by its intermediates) and its
   * private key, for mTLS: both or neither. Encrypted keys are refused. */
  const char *cert_file;
  const char *cert_pem;
  const char *key_file;
  const char *key_pem;
  /* Name sent as SNI and checked against the server certificate instead of
   * the host of the address (TEMPORAL_TLS_SERVER_NAME). NULL: use the host. */
  const char *server_name;
  /* Skip the name check; the chain is still verified against the CAs
   * (TEMPORAL_TLS_DISABLE_HOST_VERIFICATION). */
  bool disable_host_verification;
} twe_tls_options_t;

/* A built configuration. Fields are private to io/tls*.c. */
typedef struct twe_tls_config {
  SSL_CTX *ctx;
  char *server_name;           /* copy of the override, or NULL */
  bool disable_host_verification;
  bool has_client_cert;        /* for hints when a server asks for one */
  char trust_desc[160];        /* "CA file '/x'", "the system CA store", ... */
} twe_tls_config_t;

/* Builds a config from opts into *out.
 * Thread: any. Returns 0, TWE_ECONFIG (err holds a message naming the option
 * or file and what is wrong with it), or -ENOMEM. err/err_len: a buffer for
 * that message (may be NULL/0); on success it is set to "".
 * Ownership: the caller owns *out and frees it with twe__tls_config_destroy.
 * Once built it is read-only: connections on any thread may share it
 * (OpenSSL locks its context internally), though one per shard avoids even
 * that contention. It must outlive every twe_tls_t created from it. */
int twe__tls_config_create(twe_tls_config_t **out, const twe_tls_options_t *opts, char *err,
                           size_t err_len);

/* Frees a config. NULL is a no-op. Thread: any, once no connection made from
 * it is left. */
void twe__tls_config_destroy(twe_tls_config_t *cfg);

/* One TLS connection (client side); private to io/tls.c. */
typedef struct twe_tls twe_tls_t;

/* A connection to host (the host part of the address: a DNS name or an IPv4/
 * IPv6 literal, brackets allowed) using cfg. The config's server_name, when
 * set, replaces host for SNI and verification. IP literals are verified
 * against the certificate's IP SANs and get no SNI (RFC 6066).
 * Nothing is sent until twe__tls_handshake().
 * Thread: any; the connection then belongs to that thread (its shard) and
 * every call on it must come from there. Returns 0, -ENOMEM, or TWE_ECONFIG
 * (no usable name). Ownership: *out is the caller's; cfg is borrowed. */
int twe__tls_create(twe_tls_t **out, const twe_tls_config_t *cfg, const char *host);

/* Frees the connection and any unsent output. NULL is a no-op. No send of
 * output from twe__tls_output_iov() may still be in flight. Thread: owner. */
void twe__tls_destroy(twe_tls_t *tls);

/* Appends len bytes received from the network (copied). Returns 0 or
 * -ENOMEM. Processing happens in the next handshake/read call. Thread: owner. */
int twe__tls_feed(twe_tls_t *tls, const void *data, size_t len);

/* The network said EOF: once the fed bytes are used up, the engine sees the
 * end of the stream (a handshake then fails with "peer closed the connection
 * during the handshake"; a read without close_notify fails as truncated).
 * Thread: owner. */
void twe__tls_feed_eof(twe_tls_t *tls);

/* Advances the handshake with what was fed. Returns 1 when the connection is
 * established (verified, TLS 1.2 or 1.3, ALPN "h2" selected; again 1 on later
 * calls), 0 when it needs more bytes from the network (send the output
 * first), TWE_ETLS on failure (reason in twe__tls_last_error; final), or
 * -ENOMEM. After 1, call twe__tls_read: data may already be buffered.
 * Thread: owner. */
int twe__tls_handshake(twe_tls_t *tls);

/* Decrypts up to len (at most INT_MAX) bytes of plaintext into buf.
 * Returns the number of bytes (> 0); 0 when the peer closed cleanly
 * (close_notify); -EAGAIN when it needs more bytes from the network;
 * -ENOTCONN before the handshake completed; TWE_ETLS on a protocol failure
 * or an alert from the server (final; reason in twe__tls_last_error);
 * -ENOMEM. Thread: owner. */
int twe__tls_read(twe_tls_t *tls, void *buf, size_t len);

/* Encrypts len (at most INT_MAX) bytes of plaintext into the output queue;
 * all of it is taken. Returns len, -ENOTCONN before the handshake completed
 * or after shutdown, TWE_ETLS after a failure, or -ENOMEM. The queue is not
 * bounded here: the caller applies back-pressure with
 * twe__tls_output_pending(). Thread: owner. */
int twe__tls_write(twe_tls_t *tls, const void *data, size_t len);

/* Queues close_notify (when the connection is established; otherwise there
 * is nothing to say and it returns 0). Send the output, then close the
 * socket: the peer's close_notify need not be awaited. Later writes return
 * -ENOTCONN. Returns 0 or -ENOMEM. Thread: owner. */
int twe__tls_shutdown(twe_tls_t *tls);

/* Ciphertext waiting to be sent, in bytes. Thread: owner. */
size_t twe__tls_output_pending(const twe_tls_t *tls);

/* Fills up to iovcnt entries with the oldest unsent ciphertext, in order,
 * and returns how many were filled (0: nothing to send). The memory is the
 * engine's and stays valid and unchanged until twe__tls_output_consume()
 * releases it or the connection is destroyed: later calls only append
 * behind it. Thread: owner. */
int twe__tls_output_iov(const twe_tls_t *tls, struct iovec *iov, int iovcnt);

/* Releases the first n bytes of the output (n <= pending), typically once
 * the kernel reports them sent. Thread: owner. */
void twe__tls_output_consume(twe_tls_t *tls, size_t n);

/* Why the connection failed (a call returned TWE_ETLS, or -ENOMEM inside
 * OpenSSL), in one English line for a log ("TLS handshake with 'x' failed:
 * ..."); "" while nothing failed. Failure is final, so the text stays until
 * twe__tls_destroy. Thread: owner. */
const char *twe__tls_last_error(const twe_tls_t *tls);

/* The negotiated protocol ("TLSv1.3", "TLSv1.2") once established, for
 * logs; a static string. Thread: owner. */
const char *twe__tls_version(const twe_tls_t *tls);

#endif /* TWE_IO_TLS_H */
