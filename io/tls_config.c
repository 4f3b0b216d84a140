/* io/tls_config.c — building the shared TLS client context (twe_tls_config_t)
 * from options: versions, ALPN, trust store, client certificate, and the
 * messages that say which option or file is wrong. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "io/tls.h"
#include "twe/error.h"

/* ALPN wire format: one length-prefixed name. gRPC needs HTTP/2 and nothing
 * else, so "h2" is the only protocol offered (and required, in tls.c). */
static const unsigned char alpn_h2[] = {2, 'h', '2'};

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || err_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

/* The oldest entry of OpenSSL's error queue as a short phrase, or fallback
 * when the queue is empty. A system-library entry (fopen failed) carries the
 * errno as its reason, which we describe ourselves. */
static void describe_queue(char *buf, size_t len, const char *fallback) {
  unsigned long e = ERR_peek_error();
  if (e == 0) {
    snprintf(buf, len, "%s", fallback);
  } else if (ERR_GET_LIB(e) == ERR_LIB_SYS) {
    snprintf(buf, len, "%s", twe_strerror(-ERR_GET_REASON(e)));
  } else {
    const char *r = ERR_reason_error_string(e);
    const char *lib = ERR_lib_error_string(e);
    if (r && lib && ERR_GET_LIB(e) != ERR_LIB_PEM) {
      snprintf(buf, len, "%s (%s)", r, lib); /* "too long (asn1 encoding routines)" */
    } else if (r) {
      snprintf(buf, len, "%s", r);
    } else {
      ERR_error_string_n(e, buf, len);
    }
  }
}

/* A BIO over a PEM file or a PEM string. what names it in messages.
 * Messages describe the oldest queued error, so each input starts from an
 * empty queue: what an earlier input left (a normal end-of-PEM marker) must
 * not be reported as this one's problem. */
static BIO *open_pem(const char *file, const char *pem, const char *what, char *err,
                     size_t err_len) {
  ERR_clear_error();
  BIO *bio = file ? BIO_new_file(file, "r") : BIO_new_mem_buf(pem, -1);
  if (!bio) {
    char why[128];
    describe_queue(why, sizeof why, "cannot open");
    if (file) {
      set_err(err, err_len, "%s file '%s': cannot open: %s", what, file, why);
    } else {
      set_err(err, err_len, "%s PEM: %s", what, why);
    }
  }
  return bio;
}

/* "file '/x'" or "PEM text", for messages about an input. */
static void input_name(char *buf, size_t len, const char *what, const char *file) {
  if (file) {
    snprintf(buf, len, "%s file '%s'", what, file);
  } else {
    snprintf(buf, len, "%s PEM", what);
  }
}

/* A key passphrase would have OpenSSL prompt on the terminal by default; a
 * worker has no terminal, so encrypted keys fail instead. userdata, when
 * given, is a bool set to say a passphrase was wanted. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *userdata) {
  (void)buf;
  (void)size;
  (void)rwflag;
  if (userdata) *(bool *)userdata = true;
  return -1;
}

/* Adds every certificate in the PEM input to the trust store. */
static int load_cas(SSL_CTX *ctx, const char *file, const char *pem, char *err, size_t err_len) {
  char name[600];
  input_name(name, sizeof name, "CA", file);
  BIO *bio = open_pem(file, pem, "CA", err, err_len);
  if (!bio) return TWE_ECONFIG;
  STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase_cb, NULL);
  BIO_free(bio);
  if (!infos) {
    char why[128];
    describe_queue(why, sizeof why, "not PEM");
    set_err(err, err_len, "%s: cannot read certificates: %s", name, why);
    return TWE_ECONFIG;
  }
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int added = 0, rc = 0;
  for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
    X509_INFO *info = sk_X509_INFO_value(infos, i);
    if (!info->x509) continue;
    if (!X509_STORE_add_cert(store, info->x509)) {
      /* The same CA twice (file and PEM) is harmless. */
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) == X509_R_CERT_ALREADY_IN_HASH_TABLE) {
        ERR_clear_error();
      } else {
        char why[128];
        describe_queue(why, sizeof why, "rejected");
        set_err(err, err_len, "%s: cannot add certificate %d: %s", name, i + 1, why);
        rc = TWE_ECONFIG;
        break;
      }
    }
    added++;
  }
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  if (rc == 0 && added == 0) {
    set_err(err, err_len, "%s: no certificate found (expected PEM 'BEGIN CERTIFICATE')", name);
    rc = TWE_ECONFIG;
  }
  return rc;
}

/* The client certificate, then any intermediates that follow it. */
static int load_client_cert(SSL_CTX *ctx, const char *file, const char *pem, char *err,
                            size_t err_len) {
  char name[600];
  input_name(name, sizeof name, "client certificate", file);
  BIO *bio = open_pem(file, pem, "client certificate", err, err_len);
  if (!bio) return TWE_ECONFIG;
  int rc = 0;
  X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase_cb, NULL);
  if (!leaf) {
    char why[128];
    describe_queue(why, sizeof why, "no certificate");
    set_err(err, err_len, "%s: no PEM certificate found: %s", name, why);
    rc = TWE_ECONFIG;
    goto out;
  }
  if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
    char why[128];
    describe_queue(why, sizeof why, "rejected");
    set_err(err, err_len, "%s: certificate not usable: %s", name, why);
    rc = TWE_ECONFIG;
    goto out;
  }
  for (;;) {
    X509 *ca = PEM_read_bio_X509(bio, NULL, no_passphrase_cb, NULL);
    if (!ca) {
      /* The normal end of input is "no start line"; anything else is a
       * broken certificate after the first. */
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;
      }
      char why[128];
      describe_queue(why, sizeof why, "unreadable");
      set_err(err, err_len, "%s: bad chain certificate: %s", name, why);
      rc = TWE_ECONFIG;
      break;
    }
    if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) { /* takes ca on success */
      X509_free(ca);
      set_err(err, err_len, "%s: cannot add chain certificate", name);
      rc = TWE_ECONFIG;
      break;
    }
  }
out:
  X509_free(leaf);
  BIO_free(bio);
  return rc;
}

static int load_client_key(SSL_CTX *ctx, const char *file, const char *pem, char *err,
                           size_t err_len) {
  char name[600];
  input_name(name, sizeof name, "client key", file);
  BIO *bio = open_pem(file, pem, "client key", err, err_len);
  if (!bio) return TWE_ECONFIG;
  int rc = 0;
  bool encrypted = false;
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, &encrypted);
  if (!key && encrypted) {
    set_err(err, err_len, "%s: the key is encrypted; give it unencrypted (no passphrase support)",
            name);
    rc = TWE_ECONFIG;
  } else if (!key) {
    char why[128];
    describe_queue(why, sizeof why, "no key");
    set_err(err, err_len, "%s: not a PEM private key: %s",
            name, why);
    rc = TWE_ECONFIG;
  } else if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    /* OpenSSL checks the pair here already (and again below). */
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      set_err(err, err_len, "%s: the key does not match the client certificate", name);
      rc = TWE_ECONFIG;
      goto out;
    }
    char why[128];
    describe_queue(why, sizeof why, "rejected");
    set_err(err, err_len, "%s: key not usable: %s", name, why);
    rc = TWE_ECONFIG;
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    set_err(err, err_len, "%s: the key does not match the client certificate", name);
    rc = TWE_ECONFIG;
  }
out:
  EVP_PKEY_free(key);
  BIO_free(bio);
  return rc;
}

static int check_options(const twe_tls_options_t *o, char *err, size_t err_len) {
  if (o->cert_file && o->cert_pem) {
    set_err(err, err_len, "client certificate given both as a file and as PEM; give one");
    return TWE_ECONFIG;
  }
  if (o->key_file && o->key_pem) {
    set_err(err, err_len, "client key given both as a file and as PEM; give one");
    return TWE_ECONFIG;
  }
  bool cert = o->cert_file || o->cert_pem, key = o->key_file || o->key_pem;
  if (cert != key) {
    set_err(err, err_len, "%s",
            cert ? "client certificate given without its key (mTLS needs both)"
                 : "client key given without its certificate (mTLS needs both)");
    return TWE_ECONFIG;
  }
  if (o->server_name && o->server_name[0] == '\0') {
    set_err(err, err_len, "server_name is empty (leave it unset to use the address host)");
    return TWE_ECONFIG;
  }
  return 0;
}

static int build(twe_tls_config_t *cfg, const twe_tls_options_t *o, char *err, size_t err_len) {
  cfg->ctx = SSL_CTX_new(TLS_client_method());
  if (!cfg->ctx) return -ENOMEM;
  SSL_CTX *ctx = cfg->ctx;
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    set_err(err, err_len, "this OpenSSL cannot restrict itself to TLS 1.2-1.3");
    return TWE_ECONFIG;
  }
  /* No renegotiation: HTTP/2 forbids it (RFC 9113, 9.2.1). */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  /* Unlike the rest of OpenSSL, 0 means success here. */
  if (SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof alpn_h2) != 0) return -ENOMEM;
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase_cb);
  /* Verification is on by default and cannot be switched off here; tls.c
   * adds a per-connection callback that records why a chain failed. */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

  if (o->ca_file || o->ca_pem) {
    if (o->ca_file) {
      int rc = load_cas(ctx, o->ca_file, NULL, err, err_len);
      if (rc < 0) return rc;
    }
    if (o->ca_pem) {
      int rc = load_cas(ctx, NULL, o->ca_pem, err, err_len);
      if (rc < 0) return rc;
    }
    if (o->ca_file && o->ca_pem) {
      snprintf(cfg->trust_desc, sizeof cfg->trust_desc, "the CA file '%.80s' and the CA PEM",
               o->ca_file);
    } else if (o->ca_file) {
      snprintf(cfg->trust_desc, sizeof cfg->trust_desc, "the CA file '%.120s'", o->ca_file);
    } else {
      snprintf(cfg->trust_desc, sizeof cfg->trust_desc, "the CA PEM given in memory");
    }
  } else {
    /* Missing system directories are not an error to OpenSSL; a server
     * then simply fails verification with "unable to get local issuer". */
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      set_err(err, err_len, "cannot load the system CA store");
      return TWE_ECONFIG;
    }
    snprintf(cfg->trust_desc, sizeof cfg->trust_desc, "the system CA store");
  }

  if (o->cert_file || o->cert_pem) {
    int rc = load_client_cert(ctx, o->cert_file, o->cert_pem, err, err_len);
    if (rc < 0) return rc;
    rc = load_client_key(ctx, o->key_file, o->key_pem, err, err_len);
    if (rc < 0) return rc;
    cfg->has_client_cert = true;
  }

  if (o->server_name) {
    cfg->server_name = strdup(o->server_name);
    if (!cfg->server_name) return -ENOMEM;
  }
  cfg->disable_host_verification = o->disable_host_verification;
  return 0;
}

int twe__tls_config_create(twe_tls_config_t **out, const twe_tls_options_t *opts, char *err,
                           size_t err_len) {
  *out = NULL;
  set_err(err, err_len, "%s", "");
  int rc = check_options(opts, err, err_len);
  if (rc < 0) return rc;
  twe_tls_config_t *cfg = calloc(1, sizeof *cfg);
  if (!cfg) return -ENOMEM;
  /* Start and end with an empty queue: other connections on this thread
   * must not find our leftovers, nor we theirs. */
  ERR_clear_error();
  rc = build(cfg, opts, err, err_len);
  ERR_clear_error();
  if (rc < 0) {
    if (rc == -ENOMEM) set_err(err, err_len, "out of memory building the TLS context");
    twe__tls_config_destroy(cfg);
    return rc;
  }
  *out = cfg;
  return 0;
}

void twe__tls_config_destroy(twe_tls_config_t *cfg) {
  if (!cfg) return;
  SSL_CTX_free(cfg->ctx);
  free(cfg->server_name);
  free(cfg);
}
