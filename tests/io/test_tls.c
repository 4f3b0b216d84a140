/* tests/io/test_tls.c — the TLS engine against an OpenSSL server in the same
 * thread, both over memory: the test pumps bytes between them by hand.
 *
 * Every key and certificate is made with the OpenSSL C API at start (a CA, a
 * server certificate for localhost/127.0.0.1/::1, a client certificate, a
 * second unrelated CA, an expired and a not-yet-valid server certificate);
 * files exist only as temporary copies where a path is the point. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io/tls.h"
#include "twe/error.h"

#define assert_contains(haystack, needle)                                           \
  do {                                                                              \
    const char *h_ = (haystack);                                                    \
    if (!strstr(h_, (needle))) fail_msg("\"%s\" not found in \"%s\"", (needle), h_); \
  } while (0)

/* --- the test PKI ----------------------------------------------------------- */

static struct {
  EVP_PKEY *ca_key, *wrong_ca_key, *server_key, *client_key;
  X509 *ca, *wrong_ca, *server, *expired, *future, *client;
  char *ca_pem, *wrong_ca_pem, *client_pem, *client_key_pem, *server_key_pem;
  char ca_path[256], cert_path[256], key_path[256], garbage_path[256];
} pki;

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  assert_non_null(ext);
  assert_int_equal(X509_add_ext(cert, ext, -1), 1);
  X509_EXTENSION_free(ext);
}

/* A certificate for key, valid from now+from_s to now+to_s, signed by
 * issuer (NULL: self-signed). san and eku may be NULL. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                       long from_s, long to_s, bool ca, const char *san, const char *eku) {
  static long serial = 1;
  X509 *x = X509_new();
  assert_non_null(x);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), from_s);
  X509_gmtime_adj(X509_getm_notAfter(x), to_s);
  assert_int_equal(X509_set_pubkey(x, key), 1);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"twe tests", -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  X509 *signer = issuer ? issuer : x;
  add_ext(x, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_ext(x, signer, NID_key_usage,
          ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_ext(x, signer, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(x, signer, NID_authority_key_identifier, "keyid:always");
  if (san) add_ext(x, signer, NID_subject_alt_name, san);
  if (eku) add_ext(x, signer, NID_ext_key_usage, eku);
  assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return x;
}

static char *bio_to_string(BIO *b) {
  char *p;
  long n = BIO_get_mem_data(b, &p);
  char *s = malloc((size_t)n + 1);
  assert_non_null(s);
  memcpy(s, p, (size_t)n);
  s[n] = '\0';
  BIO_free(b);
  return s;
}

static char *cert_pem(X509 *x) {
  BIO *b = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_X509(b, x), 1);
  return bio_to_string(b);
}

static char *key_pem(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
  return bio_to_string(b);
}

/* Writes text to a new temporary file; its name goes into path. */
static void temp_file(char *path, size_t len, const char *text) {
  const char *dir = getenv("TMPDIR");
  snprintf(path, len, "%s/twe-test-tls-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  close(fd);
}

static int pki_setup(void **state) {
  (void)state;
  const long day = 86400;
  pki.ca_key = EVP_EC_gen("P-256");
  pki.wrong_ca_key = EVP_EC_gen("P-256");
  pki.server_key = EVP_EC_gen("P-256");
  pki.client_key = EVP_EC_gen("P-256");
  assert_true(pki.ca_key && pki.wrong_ca_key && pki.server_key && pki.client_key);
  pki.ca = make_cert("twe test CA", pki.ca_key, NULL, NULL, -day, 30 * day, true, NULL, NULL);
  pki.wrong_ca = make_cert("twe unrelated CA", pki.wrong_ca_key, NULL, NULL, -day, 30 * day, true,
                           NULL, NULL);
  const char *san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  pki.server = make_cert("localhost", pki.server_key, pki.ca, pki.ca_key, -day, 30 * day, false,
                         san, "serverAuth");
  pki.expired = make_cert("localhost", pki.server_key, pki.ca, pki.ca_key, -3 * day, -day, false,
                          san, "serverAuth");
  pki.future = make_cert("localhost", pki.server_key, pki.ca, pki.ca_key, 2 * day, 30 * day, false,
                         san, "serverAuth");
  pki.client = make_cert("twe-client", pki.client_key, pki.ca, pki.ca_key, -day, 30 * day, false,
                         NULL, "clientAuth");
  pki.ca_pem = cert_pem(pki.ca);
  pki.wrong_ca_pem = cert_pem(pki.wrong_ca);
  pki.client_pem = cert_pem(pki.client);
  pki.client_key_pem = key_pem(pki.client_key);
  pki.server_key_pem = key_pem(pki.server_key);
  temp_file(pki.ca_path, sizeof pki.ca_path, pki.ca_pem);
  temp_file(pki.cert_path, sizeof pki.cert_path, pki.client_pem);
  temp_file(pki.key_path, sizeof pki.key_path, pki.client_key_pem);
  temp_file(pki.garbage_path, sizeof pki.garbage_path, "this is not PEM at all\n");
  return 0;
}

static int pki_teardown(void **state) {
  (void)state;
  unlink(pki.ca_path);
  unlink(pki.cert_path);
  unlink(pki.key_path);
  unlink(pki.garbage_path);
  X509 *certs[] = {pki.ca, pki.wrong_ca, pki.server, pki.expired, pki.future, pki.client};
  for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++) X509_free(certs[i]);
  EVP_PKEY *keys[] = {pki.ca_key, pki.wrong_ca_key, pki.server_key, pki.client_key};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) EVP_PKEY_free(keys[i]);
  free(pki.ca_pem);
  free(pki.wrong_ca_pem);
  free(pki.client_pem);
  free(pki.client_key_pem);
  free(pki.server_key_pem);
  return 0;
}

/* --- an OpenSSL server over memory BIOs --------------------------------------- */

enum alpn_mode { ALPN_H2, ALPN_NONE, ALPN_HTTP11_ONLY };

typedef struct server_opts {
  X509 *cert;          /* NULL: pki.server */
  enum alpn_mode alpn;
  bool require_client_cert;
  int max_version; /* 0: TLS 1.3 */
} server_opts_t;

typedef struct server {
  SSL_CTX *ctx;
  SSL *ssl;
  BIO *in;  /* client -> server */
  BIO *out; /* server -> client */
  bool done, failed;
  char error[256];
} server_t;

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl;
  const unsigned char *offer = arg;
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, offer, offer[0] + 1u, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static void server_start(server_t *s, const server_opts_t *o) {
  static const unsigned char h2[] = "\x02h2", http11[] = "\x08http/1.1";
  memset(s, 0, sizeof *s);
  s->ctx = SSL_CTX_new(TLS_server_method());
  assert_non_null(s->ctx);
  assert_int_equal(SSL_CTX_use_certificate(s->ctx, o->cert ? o->cert : pki.server), 1);
  assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, pki.server_key), 1);
  if (o->max_version) {
    SSL_CTX_set_security_level(s->ctx, 0); /* let old versions be configured at all */
    SSL_CTX_set_min_proto_version(s->ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(s->ctx, o->max_version);
  }
  if (o->alpn == ALPN_H2) SSL_CTX_set_alpn_select_cb(s->ctx, alpn_select, (void *)h2);
  if (o->alpn == ALPN_HTTP11_ONLY) SSL_CTX_set_alpn_select_cb(s->ctx, alpn_select, (void *)http11);
  if (o->require_client_cert) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(s->ctx), pki.ca);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  s->ssl = SSL_new(s->ctx);
  s->in = BIO_new(BIO_s_mem());
  s->out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(s->in, -1); /* empty means "wait", not EOF */
  SSL_set_bio(s->ssl, s->in, s->out);
  SSL_set_accept_state(s->ssl);
  ERR_clear_error();
}

static void server_stop(server_t *s) {
  SSL_free(s->ssl);
  SSL_CTX_free(s->ctx);
  ERR_clear_error();
}

/* Client ciphertext to the server, in pieces of at most chunk bytes, taken
 * from the engine's iovecs and consumed piece by piece. */
static void client_to_server(twe_tls_t *c, server_t *s, size_t chunk) {
  struct iovec iov[4];
  while (twe__tls_output_pending(c) > 0) {
    int n = twe__tls_output_iov(c, iov, 4);
    assert_true(n >= 1);
    size_t take = iov[0].iov_len < chunk ? iov[0].iov_len : chunk;
    assert_int_equal(BIO_write(s->in, iov[0].iov_base, (int)take), (int)take);
    twe__tls_output_consume(c, take);
  }
}

/* Server ciphertext to the client, in pieces of at most chunk bytes. */
static void server_to_client(server_t *s, twe_tls_t *c, size_t chunk) {
  char buf[4096];
  if (chunk > sizeof buf) chunk = sizeof buf;
  int n;
  while ((n = BIO_read(s->out, buf, (int)chunk)) > 0)
    assert_int_equal(twe__tls_feed(c, buf, (size_t)n), 0);
}

static void server_step(server_t *s) {
  if (s->done || s->failed) return;
  ERR_clear_error();
  int r = SSL_do_handshake(s->ssl);
  if (r == 1) {
    s->done = true;
  } else if (SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ) {
    s->failed = true;
    ERR_error_string_n(ERR_peek_error(), s->error, sizeof s->error);
  }
  ERR_clear_error();
}

/* Drives both handshakes until the client is done or failed and the server
 * has said its last word. Returns the client's handshake result. Checks on
 * the way that the engine never leaves entries in the error queue. */
static int pump_handshake(twe_tls_t *c, server_t *s) {
  int rc = 0;
  for (int round = 0; round < 20; round++) {
    rc = twe__tls_handshake(c);
    assert_int_equal(ERR_peek_error(), 0);
    client_to_server(c, s, SIZE_MAX);
    server_step(s);
    server_to_client(s, c, SIZE_MAX);
    if (rc < 0 || (rc == 1 && (s->done || s->failed))) break;
  }
  return rc;
}

static twe_tls_config_t *client_config(const twe_tls_options_t *o) {
  char err[512];
  twe_tls_config_t *cfg = NULL;
  int rc = twe__tls_config_create(&cfg, o, err, sizeof err);
  if (rc != 0) fail_msg("config: %s (%s)", err, twe_strerror(rc));
  assert_string_equal(err, "");
  return cfg;
}

/* A config trusting the test CA, a connection to host, a server with so, and
 * the handshake pumped. The caller checks the outcome and cleans up. */
typedef struct conn {
  twe_tls_config_t *cfg;
  twe_tls_t *tls;
  server_t server;
  int rc;
} conn_t;

static void conn_open(conn_t *k, const twe_tls_options_t *o, const char *host,
                      const server_opts_t *so) {
  twe_tls_options_t def = {.ca_pem = pki.ca_pem};
  k->cfg = client_config(o ? o : &def);
  assert_int_equal(twe__tls_create(&k->tls, k->cfg, host), 0);
  assert_string_equal(twe__tls_last_error(k->tls), "");
  server_opts_t sdef = {.alpn = ALPN_H2};
  server_start(&k->server, so ? so : &sdef);
  k->rc = pump_handshake(k->tls, &k->server);
  if (k->rc < 0) print_message("    client: %s\n", twe__tls_last_error(k->tls));
}

static void conn_close(conn_t *k) {
  twe__tls_destroy(k->tls);
  twe__tls_config_destroy(k->cfg);
  server_stop(&k->server);
  assert_int_equal(ERR_peek_error(), 0);
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
}

/* Several KiB each way, written, moved and read in odd-sized pieces so that
 * records and plaintext are reassembled across every boundary. */
static void exchange(twe_tls_t *c, server_t *s) {
  static const size_t pieces[] = {1, 7, 333, 4093, 17, 9000, 2};
  const size_t up_len = 48 * 1024 + 13, down_len = 70 * 1024 + 5;
  unsigned char *up = malloc(up_len), *down = malloc(down_len), *got = malloc(down_len + 1);
  assert_true(up && down && got);
  fill(up, up_len, 1);
  fill(down, down_len, 2);

  for (size_t off = 0, i = 0; off < up_len; i++) {
    size_t n = pieces[i % 7] < up_len - off ? pieces[i % 7] : up_len - off;
    assert_int_equal(twe__tls_write(c, up + off, n), (int)n);
    off += n;
  }
  assert_int_equal(ERR_peek_error(), 0);
  client_to_server(c, s, 1001);
  size_t have = 0;
  while (have < up_len) {
    int want = (int)(up_len - have < 777 ? up_len - have : 777);
    int r = SSL_read(s->ssl, got + have, want);
    assert_true(r > 0);
    have += (size_t)r;
  }
  assert_memory_equal(got, up, up_len);

  assert_int_equal(SSL_write(s->ssl, down, (int)down_len), (int)down_len);
  have = 0;
  for (size_t i = 0; BIO_pending(s->out) > 0 || have < down_len; i++) {
    server_to_client(s, c, pieces[i % 7] + 2); /* a few bytes at a time, then more */
    int r;
    while ((r = twe__tls_read(c, got + have, pieces[(i + 3) % 7])) > 0) have += (size_t)r;
    assert_int_equal(r, -EAGAIN);
    assert_int_equal(ERR_peek_error(), 0);
    assert_true(i < 100000);
  }
  assert_int_equal(have, down_len);
  assert_memory_equal(got, down, down_len);
  free(up);
  free(down);
  free(got);
}

/* --- success ----------------------------------------------------------------- */

static void test_tls_handshake_h2_data_both_ways(void **state) {
  (void)state;
  conn_t k;
  conn_open(&k, NULL, "localhost", NULL);
  assert_int_equal(k.rc, 1);
  assert_true(k.server.done);
  assert_string_equal(twe__tls_version(k.tls), "TLSv1.3");
  assert_string_equal(SSL_get_servername(k.server.ssl, TLSEXT_NAMETYPE_host_name), "localhost");
  assert_int_equal(twe__tls_handshake(k.tls), 1); /* stays established */
  exchange(k.tls, &k.server);
  assert_string_equal(twe__tls_last_error(k.tls), "");
  conn_close(&k);
}

static void test_tls_handshake_tls12(void **state) {
  (void)state;
  server_opts_t so = {.alpn = ALPN_H2, .max_version = TLS1_2_VERSION};
  conn_t k;
  conn_open(&k, NULL, "localhost", &so);
  assert_int_equal(k.rc, 1);
  assert_string_equal(twe__tls_version(k.tls), "TLSv1.2");
  exchange(k.tls, &k.server);
  conn_close(&k);
}

static void test_tls_handshake_ip_addresses(void **state) {
  (void)state;
  conn_t k;
  conn_open(&k, NULL, "127.0.0.1", NULL);
  assert_int_equal(k.rc, 1);
  /* No SNI for an address literal (RFC 6066). */
  assert_null(SSL_get_servername(k.server.ssl, TLSEXT_NAMETYPE_host_name));
  conn_close(&k);

  conn_open(&k, NULL, "[::1]", NULL);
  assert_int_equal(k.rc, 1);
  conn_close(&k);

  conn_open(&k, NULL, "127.0.0.2", NULL);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "expected name '127.0.0.2'");
  assert_contains(twe__tls_last_error(k.tls), "IP:127.0.0.1");
  conn_close(&k);
}

static void test_tls_handshake_server_name_override(void **state) {
  (void)state;
  twe_tls_options_t o = {.ca_pem = pki.ca_pem, .server_name = "localhost"};
  conn_t k;
  conn_open(&k, &o, "10.9.8.7", NULL);
  assert_int_equal(k.rc, 1);
  assert_string_equal(SSL_get_servername(k.server.ssl, TLSEXT_NAMETYPE_host_name), "localhost");
  conn_close(&k);
}

static void test_tls_handshake_ca_file_and_system_store(void **state) {
  (void)state;
  twe_tls_options_t o = {.ca_file = pki.ca_path};
  conn_t k;
  conn_open(&k, &o, "localhost", NULL);
  assert_int_equal(k.rc, 1);
  conn_close(&k);

  /* The system store does not know the test CA: verification stays on. */
  twe_tls_options_t sys = {0};
  conn_open(&k, &sys, "localhost", NULL);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "the system CA store");
  conn_close(&k);
}

static void test_tls_handshake_mtls(void **state) {
  (void)state;
  server_opts_t so = {.alpn = ALPN_H2, .require_client_cert = true};
  twe_tls_options_t from_files = {
      .ca_file = pki.ca_path, .cert_file = pki.cert_path, .key_file = pki.key_path};
  twe_tls_options_t from_memory = {
      .ca_pem = pki.ca_pem, .cert_pem = pki.client_pem, .key_pem = pki.client_key_pem};
  const twe_tls_options_t *variants[] = {&from_files, &from_memory};
  for (int tls12 = 0; tls12 < 2; tls12++) {
    so.max_version = tls12 ? TLS1_2_VERSION : 0;
    for (size_t i = 0; i < 2; i++) {
      conn_t k;
      conn_open(&k, variants[i], "localhost", &so);
      assert_int_equal(k.rc, 1);
      assert_true(k.server.done);
      X509 *peer = SSL_get1_peer_certificate(k.server.ssl);
      assert_non_null(peer);
      assert_int_equal(X509_cmp(peer, pki.client), 0);
      X509_free(peer);
      exchange(k.tls, &k.server);
      conn_close(&k);
    }
  }
}

static void test_tls_handshake_mtls_missing_client_cert(void **state) {
  (void)state;
  /* TLS 1.3: the client finishes first; the server's alert arrives after,
   * so the failure surfaces on the first read. */
  server_opts_t so = {.alpn = ALPN_H2, .require_client_cert = true};
  conn_t k;
  conn_open(&k, NULL, "localhost", &so);
  assert_true(k.server.failed);
  if (k.rc == 1) {
    unsigned char buf[64];
    assert_int_equal(twe__tls_read(k.tls, buf, sizeof buf), TWE_ETLS);
    print_message("    client: %s\n", twe__tls_last_error(k.tls));
  } else {
    assert_int_equal(k.rc, TWE_ETLS);
  }
  assert_contains(twe__tls_last_error(k.tls), "client certificate");
  assert_contains(twe__tls_last_error(k.tls), "certificate required");
  assert_int_equal(twe__tls_write(k.tls, "x", 1), TWE_ETLS); /* failure is final */
  conn_close(&k);

  /* TLS 1.2: the server rejects within the handshake. */
  so.max_version = TLS1_2_VERSION;
  conn_open(&k, NULL, "localhost", &so);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "client certificate");
  conn_close(&k);
}

static void test_tls_handshake_disable_host_verification(void **state) {
  (void)state;
  twe_tls_options_t o = {.ca_pem = pki.ca_pem, .disable_host_verification = true};
  conn_t k;
  conn_open(&k, &o, "wrong.example", NULL);
  assert_int_equal(k.rc, 1);
  assert_string_equal(SSL_get_servername(k.server.ssl, TLSEXT_NAMETYPE_host_name), "wrong.example");
  conn_close(&k);

  /* The chain is still checked. */
  twe_tls_options_t wrong = {.ca_pem = pki.wrong_ca_pem, .disable_host_verification = true};
  conn_open(&k, &wrong, "wrong.example", NULL);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "unable to get local issuer certificate");
  conn_close(&k);
}

/* --- handshake failures ------------------------------------------------------- */

static void test_tls_handshake_wrong_ca(void **state) {
  (void)state;
  twe_tls_options_t o = {.ca_pem = pki.wrong_ca_pem};
  conn_t k;
  conn_open(&k, &o, "localhost", NULL);
  assert_int_equal(k.rc, TWE_ETLS);
  const char *msg = twe__tls_last_error(k.tls);
  assert_contains(msg, "TLS handshake with 'localhost' failed");
  assert_contains(msg, "not trusted");
  assert_contains(msg, "unable to get local issuer certificate");
  assert_contains(msg, "CN=twe test CA");
  assert_contains(msg, "the CA PEM given in memory");
  /* Final: later calls repeat the failure. */
  assert_int_equal(twe__tls_handshake(k.tls), TWE_ETLS);
  conn_close(&k);
}

static void test_tls_handshake_hostname_mismatch(void **state) {
  (void)state;
  conn_t k;
  conn_open(&k, NULL, "wrong.example", NULL);
  assert_int_equal(k.rc, TWE_ETLS);
  const char *msg = twe__tls_last_error(k.tls);
  assert_contains(msg, "does not match the expected name 'wrong.example'");
  assert_contains(msg, "DNS:localhost");
  conn_close(&k);
}

static void test_tls_handshake_expired_cert(void **state) {
  (void)state;
  server_opts_t so = {.alpn = ALPN_H2, .cert = pki.expired};
  conn_t k;
  conn_open(&k, NULL, "localhost", &so);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "certificate has expired");
  assert_contains(twe__tls_last_error(k.tls), "valid until");
  conn_close(&k);

  so.cert = pki.future;
  conn_open(&k, NULL, "localhost", &so);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "not yet valid");
  conn_close(&k);
}

static void test_tls_handshake_no_alpn_h2(void **state) {
  (void)state;
  /* A server that ignores ALPN: the handshake completes, then we refuse. */
  server_opts_t so = {.alpn = ALPN_NONE};
  conn_t k;
  conn_open(&k, NULL, "localhost", &so);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "ALPN");
  assert_contains(twe__tls_last_error(k.tls), "selected no protocol");
  unsigned char buf[8];
  assert_int_equal(twe__tls_read(k.tls, buf, sizeof buf), TWE_ETLS);
  conn_close(&k);

  /* A server that knows only http/1.1 and says so with an alert. */
  so.alpn = ALPN_HTTP11_ONLY;
  conn_open(&k, NULL, "localhost", &so);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "ALPN");
  conn_close(&k);
}

static void test_tls_handshake_protocol_version(void **state) {
  (void)state;
  server_opts_t so = {.alpn = ALPN_H2, .max_version = TLS1_1_VERSION};
  conn_t k;
  conn_open(&k, NULL, "localhost", &so);
  assert_int_equal(k.rc, TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "protocol version");
  conn_close(&k);
}

static void test_tls_handshake_peer_closed(void **state) {
  (void)state;
  twe_tls_options_t o = {.ca_pem = pki.ca_pem};
  twe_tls_config_t *cfg = client_config(&o);
  twe_tls_t *tls;
  assert_int_equal(twe__tls_create(&tls, cfg, "localhost"), 0);
  assert_int_equal(twe__tls_handshake(tls), 0);
  assert_true(twe__tls_output_pending(tls) > 0); /* the ClientHello */
  twe__tls_feed_eof(tls);
  assert_int_equal(twe__tls_handshake(tls), TWE_ETLS);
  assert_contains(twe__tls_last_error(tls), "closed the connection during the handshake");
  assert_int_equal(ERR_peek_error(), 0);
  twe__tls_destroy(tls);
  twe__tls_config_destroy(cfg);
}

/* Bytes that are not TLS: a clean TWE_ETLS, never a crash (ASan run). */
static void test_tls_handshake_garbage_from_server(void **state) {
  (void)state;
  twe_tls_options_t o = {.ca_pem = pki.ca_pem};
  twe_tls_config_t *cfg = client_config(&o);
  static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  /* A handshake record header announcing 64 KiB, then too little. */
  static const unsigned char huge[] = {0x16, 0x03, 0x03, 0xff, 0xff, 0x02, 0x00};
  unsigned char noise[2048];
  for (unsigned seed = 0; seed < 40; seed++) {
    twe_tls_t *tls;
    assert_int_equal(twe__tls_create(&tls, cfg, "localhost"), 0);
    assert_int_equal(twe__tls_handshake(tls), 0);
    twe__tls_output_consume(tls, twe__tls_output_pending(tls));
    if (seed == 0) {
      assert_int_equal(twe__tls_feed(tls, http, sizeof http - 1), 0);
    } else if (seed == 1) {
      assert_int_equal(twe__tls_feed(tls, huge, sizeof huge), 0);
      twe__tls_feed_eof(tls);
    } else {
      fill(noise, sizeof noise, seed * 7919u);
      if (seed % 2) noise[0] = 0x16; /* look like a handshake record, at first */
      if (seed % 4 == 1) noise[1] = 0x03;
      assert_int_equal(twe__tls_feed(tls, noise, sizeof noise), 0);
      twe__tls_feed_eof(tls);
    }
    int rc = twe__tls_handshake(tls);
    assert_int_equal(rc, TWE_ETLS);
    assert_int_equal(ERR_peek_error(), 0);
    assert_contains(twe__tls_last_error(tls), "TLS handshake with 'localhost' failed");
    if (seed == 0) {
      assert_contains(twe__tls_last_error(tls), "not TLS");
      print_message("    client: %s\n", twe__tls_last_error(tls));
    }
    twe__tls_destroy(tls);
  }
  twe__tls_config_destroy(cfg);
}

/* --- records after the handshake ---------------------------------------------- */

static void test_tls_read_write_before_handshake(void **state) {
  (void)state;
  twe_tls_options_t o = {.ca_pem = pki.ca_pem};
  twe_tls_config_t *cfg = client_config(&o);
  twe_tls_t *tls;
  assert_int_equal(twe__tls_create(&tls, cfg, "localhost"), 0);
  unsigned char buf[8];
  assert_int_equal(twe__tls_read(tls, buf, sizeof buf), -ENOTCONN);
  assert_int_equal(twe__tls_write(tls, "x", 1), -ENOTCONN);
  assert_int_equal(twe__tls_shutdown(tls), 0);
  assert_int_equal(twe__tls_output_pending(tls), 0);
  assert_string_equal(twe__tls_version(tls), "");
  twe__tls_destroy(tls);
  twe__tls_config_destroy(cfg);
}

static void test_tls_shutdown_close_notify(void **state) {
  (void)state;
  conn_t k;
  conn_open(&k, NULL, "localhost", NULL);
  assert_int_equal(k.rc, 1);
  /* Ours reaches the server as a clean end of stream. */
  assert_int_equal(twe__tls_shutdown(k.tls), 0);
  assert_true(twe__tls_output_pending(k.tls) > 0);
  assert_int_equal(twe__tls_write(k.tls, "x", 1), -ENOTCONN);
  client_to_server(k.tls, &k.server, SIZE_MAX);
  unsigned char buf[16];
  assert_true(SSL_read(k.server.ssl, buf, sizeof buf) <= 0);
  assert_int_equal(SSL_get_error(k.server.ssl, 0), SSL_ERROR_ZERO_RETURN);
  ERR_clear_error();
  /* The server's reaches us as read() == 0, and stays so. */
  assert_true(SSL_shutdown(k.server.ssl) >= 0);
  server_to_client(&k.server, k.tls, SIZE_MAX);
  assert_int_equal(twe__tls_read(k.tls, buf, sizeof buf), 0);
  assert_int_equal(twe__tls_read(k.tls, buf, sizeof buf), 0);
  assert_int_equal(ERR_peek_error(), 0);
  conn_close(&k);
}

static void test_tls_read_truncated(void **state) {
  (void)state;
  conn_t k;
  conn_open(&k, NULL, "localhost", NULL);
  assert_int_equal(k.rc, 1);
  unsigned char buf[16];
  while (twe__tls_read(k.tls, buf, sizeof buf) > 0) {
  }
  twe__tls_feed_eof(k.tls);
  assert_int_equal(twe__tls_read(k.tls, buf, sizeof buf), TWE_ETLS);
  assert_contains(twe__tls_last_error(k.tls), "without close_notify");
  conn_close(&k);
}

/* A forged application-data record after the handshake: the MAC check
 * fails cleanly. */
static void test_tls_read_garbage_record(void **state) {
  (void)state;
  conn_t k;
  conn_open(&k, NULL, "localhost", NULL);
  assert_int_equal(k.rc, 1);
  unsigned char buf[64], rec[5 + 300] = {0x17, 0x03, 0x03, 0x01, 0x2c};
  while (twe__tls_read(k.tls, buf, sizeof buf) > 0) {
  }
  fill(rec + 5, sizeof rec - 5, 11);
  assert_int_equal(twe__tls_feed(k.tls, rec, sizeof rec), 0);
  assert_int_equal(twe__tls_read(k.tls, buf, sizeof buf), TWE_ETLS);
  assert_int_equal(ERR_peek_error(), 0);
  print_message("    client: %s\n", twe__tls_last_error(k.tls));
  assert_contains(twe__tls_last_error(k.tls), "TLS connection to 'localhost' failed");
  conn_close(&k);
}

static void test_tls_handshake_stale_error_queue(void **state) {
  (void)state;
  /* Another connection on this thread left an entry behind: ours must
   * neither be confused by it nor leave one of its own. */
  ERR_raise(ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER);
  conn_t k;
  conn_open(&k, NULL, "localhost", NULL);
  assert_int_equal(k.rc, 1);
  conn_close(&k);
}

/* Output bytes never move: the reactor may send straight from them while the
 * engine keeps appending. */
static void test_tls_output_iov_stable(void **state) {
  (void)state;
  conn_t k;
  conn_open(&k, NULL, "localhost", NULL);
  assert_int_equal(k.rc, 1);
  size_t len = 100 * 1024;
  unsigned char *data = malloc(len);
  fill(data, len, 3);
  assert_int_equal(twe__tls_write(k.tls, data, len), (int)len);
  struct iovec iov[16], again[16];
  int n = twe__tls_output_iov(k.tls, iov, 16);
  assert_true(n >= 3); /* more than one block */
  size_t total = 0;
  for (int i = 0; i < n; i++) total += iov[i].iov_len;
  assert_int_equal(total, twe__tls_output_pending(k.tls));
  unsigned char first[64];
  memcpy(first, iov[0].iov_base, sizeof first);
  assert_int_equal(twe__tls_write(k.tls, data, len), (int)len);
  assert_int_equal(twe__tls_output_iov(k.tls, again, 1), 1);
  assert_ptr_equal(again[0].iov_base, iov[0].iov_base);
  assert_memory_equal(again[0].iov_base, first, sizeof first);
  /* Partial consumption moves the start within the block. */
  twe__tls_output_consume(k.tls, 5);
  assert_int_equal(twe__tls_output_iov(k.tls, again, 1), 1);
  assert_ptr_equal(again[0].iov_base, (unsigned char *)iov[0].iov_base + 5);
  assert_int_equal(twe__tls_output_iov(k.tls, again, 0), 0);
  /* What was sent so far reaches the server intact. */
  BIO_write(k.server.in, first, 5);
  client_to_server(k.tls, &k.server, 3001);
  unsigned char *got = malloc(2 * len);
  size_t have = 0;
  int r;
  while (have < 2 * len && (r = SSL_read(k.server.ssl, got + have, (int)(2 * len - have))) > 0)
    have += (size_t)r;
  assert_int_equal(have, 2 * len);
  assert_memory_equal(got, data, len);
  assert_memory_equal(got + len, data, len);
  free(got);
  free(data);
  conn_close(&k);
}

/* --- configuration ------------------------------------------------------------ */

static void expect_config_error(const twe_tls_options_t *o, const char *needle1,
                                const char *needle2) {
  char err[512];
  twe_tls_config_t *cfg = (twe_tls_config_t *)1;
  assert_int_equal(twe__tls_config_create(&cfg, o, err, sizeof err), TWE_ECONFIG);
  assert_null(cfg);
  print_message("    config: %s\n", err);
  assert_contains(err, needle1);
  if (needle2) assert_contains(err, needle2);
  assert_int_equal(ERR_peek_error(), 0);
}

static void test_tls_config_create_bad_files(void **state) {
  (void)state;
  twe_tls_options_t o = {.ca_file = "/nonexistent/twe-ca.pem"};
  expect_config_error(&o, "'/nonexistent/twe-ca.pem'", "No such file");

  o = (twe_tls_options_t){.ca_file = pki.garbage_path};
  expect_config_error(&o, pki.garbage_path, "CA file");

  o = (twe_tls_options_t){.cert_file = pki.garbage_path, .key_file = pki.key_path};
  expect_config_error(&o, pki.garbage_path, "client certificate file");

  o = (twe_tls_options_t){.cert_file = pki.cert_path, .key_file = "/nonexistent/key.pem"};
  expect_config_error(&o, "client key file '/nonexistent/key.pem'", "cannot open");

  o = (twe_tls_options_t){.cert_file = pki.cert_path, .key_file = pki.garbage_path};
  expect_config_error(&o, pki.garbage_path, "private key");

  /* The server's key with the client's certificate. */
  o = (twe_tls_options_t){.cert_pem = pki.client_pem, .key_pem = pki.server_key_pem};
  expect_config_error(&o, "does not match", NULL);

  /* An encrypted key fails at once instead of prompting on a terminal. */
  BIO *b = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_PrivateKey(b, pki.client_key, EVP_aes_128_cbc(),
                                            (unsigned char *)"secret", 6, NULL, NULL),
                   1);
  char *encrypted = bio_to_string(b);
  o = (twe_tls_options_t){.cert_pem = pki.client_pem, .key_pem = encrypted};
  expect_config_error(&o, "client key PEM", "encrypted");
  free(encrypted);
}

static void test_tls_config_create_bad_options(void **state) {
  (void)state;
  twe_tls_options_t o = {.cert_pem = pki.client_pem};
  expect_config_error(&o, "without its key", NULL);
  o = (twe_tls_options_t){.key_file = pki.key_path};
  expect_config_error(&o, "without its certificate", NULL);
  o = (twe_tls_options_t){.cert_file = pki.cert_path, .cert_pem = pki.client_pem,
                          .key_file = pki.key_path};
  expect_config_error(&o, "both", NULL);
  o = (twe_tls_options_t){
      .ca_pem = "-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"};
  expect_config_error(&o, "CA PEM", NULL);
  o = (twe_tls_options_t){.ca_pem = "no certificates here"};
  expect_config_error(&o, "no certificate found", NULL);
  o = (twe_tls_options_t){.server_name = ""};
  expect_config_error(&o, "server_name", NULL);

  /* A connection needs a name from somewhere. */
  twe_tls_options_t ok = {.ca_pem = pki.ca_pem};
  twe_tls_config_t *cfg = client_config(&ok);
  twe_tls_t *tls = (twe_tls_t *)1;
  assert_int_equal(twe__tls_create(&tls, cfg, ""), TWE_ECONFIG);
  assert_null(tls);
  assert_int_equal(twe__tls_create(&tls, cfg, NULL), TWE_ECONFIG);
  twe__tls_config_destroy(cfg);
  twe__tls_config_destroy(NULL);
  twe__tls_destroy(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tls_handshake_h2_data_both_ways),
    cmocka_unit_test(test_tls_handshake_tls12),
    cmocka_unit_test(test_tls_handshake_ip_addresses),
    cmocka_unit_test(test_tls_handshake_server_name_override),
    cmocka_unit_test(test_tls_handshake_ca_file_and_system_store),
    cmocka_unit_test(test_tls_handshake_mtls),
    cmocka_unit_test(test_tls_handshake_mtls_missing_client_cert),
    cmocka_unit_test(test_tls_handshake_disable_host_verification),
    cmocka_unit_test(test_tls_handshake_wrong_ca),
    cmocka_unit_test(test_tls_handshake_hostname_mismatch),
    cmocka_unit_test(test_tls_handshake_expired_cert),
    cmocka_unit_test(test_tls_handshake_no_alpn_h2),
    cmocka_unit_test(test_tls_handshake_protocol_version),
    cmocka_unit_test(test_tls_handshake_peer_closed),
    cmocka_unit_test(test_tls_handshake_garbage_from_server),
    cmocka_unit_test(test_tls_read_write_before_handshake),
    cmocka_unit_test(test_tls_shutdown_close_notify),
    cmocka_unit_test(test_tls_read_truncated),
    cmocka_unit_test(test_tls_read_garbage_record),
    cmocka_unit_test(test_tls_handshake_stale_error_queue),
    cmocka_unit_test(test_tls_output_iov_stable),
    cmocka_unit_test(test_tls_config_create_bad_files),
    cmocka_unit_test(test_tls_config_create_bad_options),
  };
  return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
