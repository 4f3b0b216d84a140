/* io/tls.c — one TLS client connection as a state machine over memory.
 *
 * OpenSSL talks to a BIO of our own instead of a socket: its reads take from
 * the bytes twe__tls_feed() copied in, its writes append to a queue of blocks
 * that the reactor sends from directly. The rest of the file turns OpenSSL's
 * outcomes into twe return codes and into a sentence that says why a
 * connection failed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "io/tls.h"
#include "twe/error.h"

/* 32 KiB output blocks: a full TLS record (16 KiB + overhead) fits in one, so
 * a send rarely needs more than two iovecs. */
#define OUT_BLOCK_BYTES (32u * 1024u)
#define IN_MIN_BYTES (16u * 1024u)

struct out_block {
  struct out_block *next;
  size_t head; /* first byte not yet consumed */
  size_t tail; /* end of the bytes written */
  size_t cap;
  unsigned char data[];
};

enum tls_state {
  TLS_HANDSHAKING,
  TLS_OPEN,
  TLS_CLOSED, /* the peer sent close_notify */
  TLS_FAILED, /* final; fail_rc and err say why */
};

struct twe_tls {
  SSL *ssl;
  const twe_tls_config_t *cfg;
  enum tls_state state;
  int fail_rc;
  bool sent_shutdown;
  bool eof; /* the network has no more bytes after those in `in` */
  bool oom; /* a BIO allocation failed during the current call */
  /* SNI and the name verified: the server_name override or the host. */
  char name[256];

  /* Ciphertext fed and not yet read by OpenSSL: in[in_start, in_end). */
  unsigned char *in;
  size_t in_start, in_end, in_cap;

  /* Ciphertext to send, oldest first; one emptied block kept for reuse. */
  struct out_block *out_head, *out_tail, *spare;
  size_t out_bytes;

  /* The first certificate problem, recorded by verify_cb: the X509 verify
   * result alone does not say which certificate or which names. */
  int verify_err;
  char verify_detail[400];

  char err[640];
};

/* --- the BIO: OpenSSL's view of our buffers ------------------------------ */

static int out_append(twe_tls_t *tls, const unsigned char *p, size_t len) {
  while (len > 0) {
    struct out_block *b = tls->out_tail;
    if (!b || b->tail == b->cap) {
      b = tls->spare;
      tls->spare = NULL;
      if (!b) b = malloc(sizeof *b + OUT_BLOCK_BYTES);
      if (!b) return -ENOMEM;
      b->next = NULL;
      b->head = b->tail = 0;
      b->cap = OUT_BLOCK_BYTES;
      if (tls->out_tail) {
        tls->out_tail->next = b;
      } else {
        tls->out_head = b;
      }
      tls->out_tail = b;
    }
    size_t n = b->cap - b->tail < len ? b->cap - b->tail : len;
    memcpy(b->data + b->tail, p, n);
    b->tail += n;
    tls->out_bytes += n;
    p += n;
    len -= n;
  }
  return 0;
}

static int bio_write_ex(BIO *bio, const char *data, size_t len, size_t *written) {
  twe_tls_t *tls = BIO_get_data(bio);
  BIO_clear_retry_flags(bio);
  if (out_append(tls, (const unsigned char *)data, len) < 0) {
    tls->oom = true;
    return 0;
  }
  *written = len;
  return 1;
}

/* No bytes: "retry" (OpenSSL reports SSL_ERROR_WANT_READ) until the network
 * said EOF; then a plain 0, which OpenSSL reports as an unexpected EOF. */
static int bio_read_ex(BIO *bio, char *buf, size_t len, size_t *readbytes) {
  twe_tls_t *tls = BIO_get_data(bio);
  BIO_clear_retry_flags(bio);
  size_t avail = tls->in_end - tls->in_start;
  if (avail == 0) {
    if (!tls->eof) BIO_set_retry_read(bio);
    *readbytes = 0;
    return 0;
  }
  size_t n = avail < len ? avail : len;
  memcpy(buf, tls->in + tls->in_start, n);
  tls->in_start += n;
  if (tls->in_start == tls->in_end) tls->in_start = tls->in_end = 0;
  *readbytes = n;
  return 1;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  twe_tls_t *tls = BIO_get_data(bio);
  switch (cmd) {
    case BIO_CTRL_FLUSH: /* written bytes are already where the reactor looks */
      return 1;
    case BIO_CTRL_EOF:
      return tls && tls->eof && tls->in_start == tls->in_end;
    case BIO_CTRL_PENDING:
      return tls ? (long)(tls->in_end - tls->in_start) : 0;
    default: /* WPENDING, PUSH/POP, kTLS queries...: nothing to report */
      return 0;
  }
}

static int bio_create(BIO *bio) {
  BIO_set_init(bio, 1);
  return 1;
}

static int bio_destroy(BIO *bio) {
  (void)bio; /* the buffers belong to the twe_tls_t */
  return 1;
}

/* One method table for the process: BIOs point at it for their whole life,
 * so it is never freed (it stays reachable, not a leak). */
static BIO_METHOD *bio_method;
static pthread_once_t bio_method_once = PTHREAD_ONCE_INIT;

static void bio_method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "twe_tls");
  if (!m) return;
  if (!BIO_meth_set_write_ex(m, bio_write_ex) || !BIO_meth_set_read_ex(m, bio_read_ex) ||
      !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
      !BIO_meth_set_destroy(m, bio_destroy)) {
    BIO_meth_free(m);
    return;
  }
  bio_method = m;
}

/* --- why verification failed ---------------------------------------------- */

/* Appends to buf (NUL-terminated, size len) what fmt says, truncating. */
static void append(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t len, const char *fmt, ...) {
  size_t used = strlen(buf);
  if (used + 1 >= len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + used, len - used, fmt, ap);
  va_end(ap);
}

/* Prints an X509 name or time through a memory BIO into buf (append). */
static void append_bio(char *buf, size_t len, const X509_NAME *name, const ASN1_TIME *t) {
  BIO *m = BIO_new(BIO_s_mem());
  if (!m) return;
  if (name) X509_NAME_print_ex(m, name, 0, XN_FLAG_RFC2253);
  if (t) ASN1_TIME_print(m, t);
  char *p;
  long n = BIO_get_mem_data(m, &p);
  if (n > 0) append(buf, len, "%.*s", (int)(n > 200 ? 200 : n), p);
  BIO_free(m);
}

/* The names a certificate holds: its DNS and IP subjectAltNames. */
static void append_names(char *buf, size_t len, X509 *cert) {
  GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  int shown = 0;
  for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    if (g->type == GEN_DNS) {
      const ASN1_STRING *s = g->d.dNSName;
      append(buf, len, "%sDNS:%.*s", shown++ ? ", " : "", ASN1_STRING_length(s),
             (const char *)ASN1_STRING_get0_data(s));
    } else if (g->type == GEN_IPADD) {
      const ASN1_OCTET_STRING *s = g->d.iPAddress;
      char ip[INET6_ADDRSTRLEN] = "?";
      int af = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;
      if (ASN1_STRING_length(s) == 4 || ASN1_STRING_length(s) == 16)
        inet_ntop(af, ASN1_STRING_get0_data(s), ip, sizeof ip);
      append(buf, len, "%sIP:%s", shown++ ? ", " : "", ip);
    }
  }
  GENERAL_NAMES_free(gens);
  if (!shown) append(buf, len, "no DNS or IP subjectAltName");
}

/* Runs inside the handshake for each certificate of the chain. It never
 * changes the verdict; it writes down the first failure with the details
 * the final verify result lacks (which certificate, its dates or names). */
static int verify_cb(int ok, X509_STORE_CTX *sctx) {
  if (ok) return 1;
  SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
  twe_tls_t *tls = ssl ? SSL_get_app_data(ssl) : NULL;
  if (!tls || tls->verify_err) return 0;
  int err = X509_STORE_CTX_get_error(sctx);
  tls->verify_err = err;
  char *d = tls->verify_detail;
  size_t len = sizeof tls->verify_detail;
  d[0] = '\0';
  X509 *cert = X509_STORE_CTX_get_current_cert(sctx);
  if (!cert) return 0;
  append(d, len, "certificate '");
  append_bio(d, len, X509_get_subject_name(cert), NULL);
  append(d, len, "' (chain depth %d) issued by '", X509_STORE_CTX_get_error_depth(sctx));
  append_bio(d, len, X509_get_issuer_name(cert), NULL);
  append(d, len, "'");
  if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
    append(d, len, ", valid until ");
    append_bio(d, len, NULL, X509_get0_notAfter(cert));
  } else if (err == X509_V_ERR_CERT_NOT_YET_VALID) {
    append(d, len, ", valid from ");
    append_bio(d, len, NULL, X509_get0_notBefore(cert));
  } else if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    append(d, len, ", which names ");
    append_names(d, len, cert);
  }
  return 0;
}

static void describe_verify(const twe_tls_t *tls, char *why, size_t len) {
  const char *what = X509_verify_cert_error_string(tls->verify_err);
  const char *detail = tls->verify_detail;
  switch (tls->verify_err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
      append(why, len,
             "server certificate not trusted (unknown CA): %s; %s; no CA in %s vouches for it",
             what, detail, tls->cfg->trust_desc);
      break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      append(why, len, "server certificate expired: %s; %s", what, detail);
      break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      append(why, len, "server certificate not yet valid (check the clock): %s; %s", what, detail);
      break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      append(why, len,
             "server certificate does not match the expected name '%s': %s; %s "
             "(set server_name / TEMPORAL_TLS_SERVER_NAME to a name it holds)",
             tls->name, what, detail);
      break;
    default:
      append(why, len, "server certificate verification failed: %s; %s", what, detail);
      break;
  }
}

/* --- why a handshake or record failed -------------------------------------- */

static bool is_alert(int reason) {
  return reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256;
}

/* From OpenSSL's error queue (the oldest entry is the cause) and the
 * SSL_get_error() class of the failed call. */
static void describe_queue(const twe_tls_t *tls, int ssl_error, bool handshaking, char *why,
                           size_t len) {
  unsigned long e = ERR_peek_error();
  int reason = ERR_GET_REASON(e);
  bool ssl_lib = ERR_GET_LIB(e) == ERR_LIB_SSL;
  char rs[160];
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  if (r) {
    snprintf(rs, sizeof rs, "%s", r);
  } else if (e) {
    ERR_error_string_n(e, rs, sizeof rs);
  } else {
    snprintf(rs, sizeof rs, "SSL error class %d", ssl_error);
  }

  if ((e == 0 && (ssl_error == SSL_ERROR_SYSCALL || tls->eof)) ||
      (ssl_lib && reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
    append(why, len, "%s",
           handshaking ? "the peer closed the connection during the handshake"
                       : "the peer closed the connection without close_notify (truncated)");
  } else if (ssl_error == SSL_ERROR_ZERO_RETURN && handshaking) {
    append(why, len, "the peer sent close_notify during the handshake");
  } else if (ssl_lib && is_alert(reason)) {
    int alert = reason - SSL_AD_REASON_OFFSET;
    if (alert == SSL_AD_PROTOCOL_VERSION) {
      append(why, len, "protocol version: the server refused TLS 1.2 and 1.3 (alert '%s')", rs);
    } else if (alert == SSL_AD_NO_APPLICATION_PROTOCOL) {
      append(why, len,
             "the server does not speak HTTP/2 (ALPN 'h2'), which gRPC needs (alert '%s')", rs);
    } else if (!tls->cfg->has_client_cert &&
               (alert == SSL_AD_HANDSHAKE_FAILURE || alert == SSL_AD_BAD_CERTIFICATE ||
                alert == SSL_AD_CERTIFICATE_REQUIRED)) {
      append(why, len,
             "the server rejected us with alert '%s': it probably requires a client "
             "certificate (mTLS) and none is configured",
             rs);
    } else if (tls->cfg->has_client_cert &&
               (alert == SSL_AD_BAD_CERTIFICATE || alert == SSL_AD_UNKNOWN_CA ||
                alert == SSL_AD_CERTIFICATE_UNKNOWN || alert == SSL_AD_CERTIFICATE_EXPIRED ||
                alert == SSL_AD_CERTIFICATE_REVOKED || alert == SSL_AD_ACCESS_DENIED)) {
      append(why, len, "the server rejected our client certificate with alert '%s'", rs);
    } else {
      append(why, len, "the server sent alert '%s'", rs);
    }
  } else if (ssl_lib && (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_UNKNOWN_PROTOCOL ||
                         reason == SSL_R_PACKET_LENGTH_TOO_LONG || reason == SSL_R_HTTP_REQUEST ||
                         reason == SSL_R_BAD_RECORD_TYPE)) {
    append(why, len,
           "the server's bytes are not TLS 1.2/1.3 records (%s): is the endpoint plaintext, "
           "or not TLS at all?",
           rs);
  } else if (ssl_lib &&
             (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE)) {
    append(why, len, "protocol version: the server does not offer TLS 1.2 or 1.3 (%s)", rs);
  } else {
    append(why, len, "%s", rs);
  }
}

/* Makes the connection fail for good and says why in tls->err. Call with the
 * error queue as the failed OpenSSL call left it. */
static int fail(twe_tls_t *tls, int ssl_error) {
  bool handshaking = tls->state == TLS_HANDSHAKING;
  int rc = TWE_ETLS;
  /* The describers append their reason behind this prefix. */
  snprintf(tls->err, sizeof tls->err, "TLS %s '%s' failed: ",
           handshaking ? "handshake with" : "connection to", tls->name);
  if (tls->oom) {
    rc = -ENOMEM;
    append(tls->err, sizeof tls->err, "out of memory for TLS output");
  } else if (tls->verify_err) {
    describe_verify(tls, tls->err, sizeof tls->err);
  } else {
    describe_queue(tls, ssl_error, handshaking, tls->err, sizeof tls->err);
  }
  tls->state = TLS_FAILED;
  tls->fail_rc = rc;
  return rc;
}

/* ALPN is required: without h2 there is no gRPC, and a server that ignores
 * ALPN would otherwise be found out only by a confusing HTTP/2 failure. */
static int check_alpn(twe_tls_t *tls) {
  const unsigned char *p = NULL;
  unsigned int n = 0;
  SSL_get0_alpn_selected(tls->ssl, &p, &n);
  if (n == 2 && memcmp(p, "h2", 2) == 0) {
    tls->state = TLS_OPEN;
    return 1;
  }
  char sel[64] = "no protocol";
  if (n > 0) {
    size_t k = 0;
    sel[k++] = '\'';
    for (unsigned int i = 0; i < n && k < sizeof sel - 2; i++)
      sel[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    sel[k++] = '\'';
    sel[k] = '\0';
  }
  snprintf(tls->err, sizeof tls->err,
           "TLS handshake with '%s' failed: the server did not negotiate HTTP/2 via ALPN "
           "(offered 'h2', server selected %s); gRPC needs an HTTP/2 endpoint",
           tls->name, sel);
  tls->state = TLS_FAILED;
  tls->fail_rc = TWE_ETLS;
  return TWE_ETLS;
}

/* --- the connection --------------------------------------------------------- */

int twe__tls_create(twe_tls_t **out, const twe_tls_config_t *cfg, const char *host) {
  *out = NULL;
  const char *name = cfg->server_name ? cfg->server_name : host;
  if (!name) return TWE_ECONFIG;
  size_t n = strlen(name);
  /* "[::1]" is how an address spells an IPv6 host; the name is "::1". */
  if (n >= 2 && name[0] == '[' && name[n - 1] == ']') {
    name++;
    n -= 2;
  }
  pthread_once(&bio_method_once, bio_method_init);
  if (!bio_method) return -ENOMEM;
  twe_tls_t *tls = calloc(1, sizeof *tls);
  if (!tls) return -ENOMEM;
  if (n == 0 || n >= sizeof tls->name) {
    free(tls);
    return TWE_ECONFIG;
  }
  memcpy(tls->name, name, n);
  tls->cfg = cfg;

  ERR_clear_error();
  int rc = 0;
  unsigned char addr[16];
  bool ip = inet_pton(AF_INET, tls->name, addr) == 1 || inet_pton(AF_INET6, tls->name, addr) == 1;
  tls->ssl = SSL_new(cfg->ctx);
  BIO *bio = tls->ssl ? BIO_new(bio_method) : NULL;
  if (!bio) {
    rc = -ENOMEM;
    goto out;
  }
  BIO_set_data(bio, tls);
  SSL_set_bio(tls->ssl, bio, bio); /* one reference, taken by the SSL */
  SSL_set_app_data(tls->ssl, tls);
  SSL_set_connect_state(tls->ssl);
  SSL_set_verify(tls->ssl, SSL_VERIFY_PEER, verify_cb);
  /* RFC 6066: SNI carries DNS names only, never address literals. */
  if (!ip && SSL_set_tlsext_host_name(tls->ssl, tls->name) != 1) {
    rc = TWE_ECONFIG;
    goto out;
  }
  if (!cfg->disable_host_verification) {
    if (ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl), tls->name) != 1) rc = TWE_ECONFIG;
    } else {
      SSL_set_hostflags(tls->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(tls->ssl, tls->name) != 1) rc = TWE_ECONFIG;
    }
  }
out:
  ERR_clear_error();
  if (rc < 0) {
    twe__tls_destroy(tls);
    return rc;
  }
  *out = tls;
  return 0;
}

void twe__tls_destroy(twe_tls_t *tls) {
  if (!tls) return;
  SSL_free(tls->ssl); /* frees the BIO too */
  ERR_clear_error();
  struct out_block *b = tls->out_head;
  while (b) {
    struct out_block *next = b->next;
    free(b);
    b = next;
  }
  free(tls->spare);
  free(tls->in);
  free(tls);
}

int twe__tls_feed(twe_tls_t *tls, const void *data, size_t len) {
  if (len == 0) return 0;
  size_t used = tls->in_end - tls->in_start;
  if (tls->in_cap - tls->in_end < len && tls->in_start > 0) {
    memmove(tls->in, tls->in + tls->in_start, used);
    tls->in_start = 0;
    tls->in_end = used;
  }
  if (tls->in_cap - tls->in_end < len) {
    if (len > SIZE_MAX / 2 - used) return -ENOMEM;
    size_t cap = tls->in_cap ? tls->in_cap : IN_MIN_BYTES;
    while (cap < used + len) cap *= 2;
    unsigned char *p = realloc(tls->in, cap);
    if (!p) return -ENOMEM;
    tls->in = p;
    tls->in_cap = cap;
  }
  memcpy(tls->in + tls->in_end, data, len);
  tls->in_end += len;
  return 0;
}

void twe__tls_feed_eof(twe_tls_t *tls) {
  tls->eof = true;
}

int twe__tls_handshake(twe_tls_t *tls) {
  if (tls->state == TLS_FAILED) return tls->fail_rc;
  if (tls->state != TLS_HANDSHAKING) return 1;
  ERR_clear_error();
  tls->oom = false;
  int rc, r = SSL_do_handshake(tls->ssl);
  if (r == 1) {
    rc = check_alpn(tls);
  } else {
    int e = SSL_get_error(tls->ssl, r);
    rc = (e == SSL_ERROR_WANT_READ && !tls->oom) ? 0 : fail(tls, e);
  }
  ERR_clear_error();
  return rc;
}

int twe__tls_read(twe_tls_t *tls, void *buf, size_t len) {
  switch (tls->state) {
    case TLS_FAILED:
      return tls->fail_rc;
    case TLS_HANDSHAKING:
      return -ENOTCONN;
    case TLS_CLOSED:
      return 0;
    case TLS_OPEN:
      break;
  }
  if (len == 0) return -EINVAL; /* 0 is reserved for "closed" */
  if (len > INT_MAX) len = INT_MAX;
  ERR_clear_error();
  tls->oom = false;
  size_t n = 0;
  int rc;
  if (SSL_read_ex(tls->ssl, buf, len, &n) == 1) {
    rc = (int)n;
  } else {
    int e = SSL_get_error(tls->ssl, 0);
    if (e == SSL_ERROR_WANT_READ && !tls->oom) {
      rc = -EAGAIN;
    } else if (e == SSL_ERROR_ZERO_RETURN) {
      tls->state = TLS_CLOSED;
      rc = 0;
    } else {
      rc = fail(tls, e);
    }
  }
  ERR_clear_error();
  return rc;
}

int twe__tls_write(twe_tls_t *tls, const void *data, size_t len) {
  switch (tls->state) {
    case TLS_FAILED:
      return tls->fail_rc;
    case TLS_HANDSHAKING:
      return -ENOTCONN;
    case TLS_CLOSED:
      return -EPIPE;
    case TLS_OPEN:
      break;
  }
  if (tls->sent_shutdown) return -ENOTCONN;
  if (len == 0) return 0;
  if (len > INT_MAX) len = INT_MAX;
  ERR_clear_error();
  tls->oom = false;
  size_t n = 0;
  /* Our BIO never pushes back, so without partial-write mode all of len
   * is encrypted or the call fails. */
  int rc = SSL_write_ex(tls->ssl, data, len, &n) == 1 ? (int)n
                                                       : fail(tls, SSL_get_error(tls->ssl, 0));
  ERR_clear_error();
  return rc;
}

int twe__tls_shutdown(twe_tls_t *tls) {
  if ((tls->state != TLS_OPEN && tls->state != TLS_CLOSED) || tls->sent_shutdown) return 0;
  ERR_clear_error();
  tls->oom = false;
  tls->sent_shutdown = true;
  /* 0: our close_notify is queued; 1: the peer's came already. Both done. */
  int rc = SSL_shutdown(tls->ssl) >= 0 ? 0 : fail(tls, SSL_get_error(tls->ssl, -1));
  ERR_clear_error();
  return rc;
}

size_t twe__tls_output_pending(const twe_tls_t *tls) {
  return tls->out_bytes;
}

int twe__tls_output_iov(const twe_tls_t *tls, struct iovec *iov, int iovcnt) {
  int i = 0;
  for (struct out_block *b = tls->out_head; b && i < iovcnt; b = b->next) {
    if (b->tail == b->head) continue;
    iov[i].iov_base = b->data + b->head;
    iov[i].iov_len = b->tail - b->head;
    i++;
  }
  return i;
}

void twe__tls_output_consume(twe_tls_t *tls, size_t n) {
  if (n > tls->out_bytes) n = tls->out_bytes;
  tls->out_bytes -= n;
  while (n > 0 || (tls->out_head && tls->out_head->head == tls->out_head->tail)) {
    struct out_block *b = tls->out_head;
    size_t take = b->tail - b->head < n ? b->tail - b->head : n;
    b->head += take;
    n -= take;
    if (b->head < b->tail) break;
    tls->out_head = b->next;
    if (!tls->out_head) tls->out_tail = NULL;
    if (!tls->spare) {
      tls->spare = b;
    } else {
      free(b);
    }
  }
}

const char *twe__tls_last_error(const twe_tls_t *tls) {
  return tls->err;
}

const char *twe__tls_version(const twe_tls_t *tls) {
  return tls->state == TLS_HANDSHAKING ? "" : SSL_get_version(tls->ssl);
}
