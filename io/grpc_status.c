/* io/grpc_status.c — gRPC statuses from trailers, HTTP and HTTP/2 errors. */
#include "io/grpc_status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/registry.h"
#include "twe/error.h"

static const char *const code_names[] = {
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
  "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
  "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *twe__grpc_code_name(int code) {
  if (code < 0 || (size_t)code >= sizeof code_names / sizeof code_names[0]) return "UNKNOWN_CODE";
  return code_names[code];
}

static int set_message(twe_grpc_status_t *out, twe_arena_t *arena, const char *fmt, int value) {
  char buf[128];
  snprintf(buf, sizeof buf, fmt, value);
  char *copy = twe__arena_strndup(arena, buf, strlen(buf));
  if (!copy) return twe__arena_error(arena);
  out->message = copy;
  return 0;
}

int twe__grpc_status_local(int code, const char *message, twe_arena_t *arena,
                           twe_grpc_status_t *out) {
  memset(out, 0, sizeof *out);
  out->code = code;
  arena->limit_hit = false;
  char *copy = twe__arena_strndup(arena, message, strlen(message));
  if (!copy) return twe__arena_error(arena);
  out->message = copy;
  return 0;
}

int twe__grpc_code_from_rst_stream(uint32_t h2_error_code) {
  switch (h2_error_code) {
    case 0x7: return TWE_GRPC_UNAVAILABLE;        /* REFUSED_STREAM */
    case 0x8: return TWE_GRPC_CANCELLED;          /* CANCEL */
    case 0xb: return TWE_GRPC_RESOURCE_EXHAUSTED; /* ENHANCE_YOUR_CALM */
    default: return TWE_GRPC_INTERNAL;
  }
}

static int http_to_grpc(int http_status) {
  switch (http_status) {
    case 400: return TWE_GRPC_INTERNAL;
    case 401: return TWE_GRPC_UNAUTHENTICATED;
    case 403: return TWE_GRPC_PERMISSION_DENIED;
    case 404: return TWE_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return TWE_GRPC_UNAVAILABLE;
    default: return TWE_GRPC_UNKNOWN;
  }
}

/* application/grpc, optionally followed by "+proto", "+json" or ";params". */
static bool is_grpc_content_type(const char *ct, size_t len) {
  static const char prefix[] = "application/grpc";
  size_t n = sizeof prefix - 1;
  if (!ct || len < n || strncmp(ct, prefix, n) != 0) return false;
  return len == n || ct[n] == '+' || ct[n] == ';';
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char *twe__grpc_percent_decode(const char *s, size_t len, twe_arena_t *arena) {
  char *out = twe__arena_alloc(arena, len + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
        (lo = hex_value(s[i + 2])) >= 0) {
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return out;
}

static int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int twe__grpc_base64_decode(const char *s, size_t len, twe_arena_t *arena, uint8_t **out) {
  while (len > 0 && s[len - 1] == '=') len--;
  if (len % 4 == 1) return TWE_EDECODE; /* 6 bits cannot end a byte */
  size_t out_len = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
  if (out_len > INT32_MAX) return TWE_ELIMIT;
  arena->limit_hit = false;
  uint8_t *buf = twe__arena_alloc(arena, out_len);
  if (!buf) return twe__arena_error(arena);
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int v = base64_value((unsigned char)s[i]);
    if (v < 0) return TWE_EDECODE;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (uint8_t)(acc >> bits);
    }
  }
  *out = buf;
  return (int)o;
}

/* grpc-status-details-bin -> google.rpc.Status -> details[0]. Problems are
 * recorded in details_error; they never change the code or message. */
static int decode_details(const twe_grpc_response_meta_t *meta, twe_arena_t *arena,
                          twe_grpc_status_t *out) {
  uint8_t *raw;
  int n = twe__grpc_base64_decode(meta->details_bin, meta->details_bin_len, arena, &raw);
  if (n == TWE_EDECODE) {
    out->details_error = "grpc-status-details-bin is not valid base64";
    return 0;
  }
  if (n < 0) return n;
  ProtobufCMessage *msg;
  int rc = twe__proto_decode(&google__rpc__status__descriptor, arena, raw, (size_t)n, &msg);
  if (rc == TWE_EDECODE) {
    out->details_error = "grpc-status-details-bin does not hold a google.rpc.Status";
    return 0;
  }
  if (rc < 0) return rc;
  out->rpc_status = (Google__Rpc__Status *)msg;
  if (out->rpc_status->n_details == 0) return 0;
  rc = twe__proto_any_unpack(out->rpc_status->details[0], arena, &out->detail, &out->detail_type);
  if (rc == TWE_EENCODING) {
    out->details_error = "status details hold a type this build does not know";
    out->detail_type = NULL;
  } else if (rc == TWE_EDECODE) {
    out->details_error = "status details do not decode as their declared type";
    out->detail_type = NULL;
    out->detail = NULL;
  } else if (rc < 0) {
    return rc;
  }
  return 0;
}

/* grpc-status must be a plain decimal number; anything else is UNKNOWN. */
static int parse_code(const char *s, size_t len) {
  if (len == 0 || len > 3) return -1;
  int v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

int twe__grpc_status_from_meta(const twe_grpc_response_meta_t *meta, twe_arena_t *arena,
                               twe_grpc_status_t *out) {
  memset(out, 0, sizeof *out);
  arena->limit_hit = false;
  if (meta->http_status != 200) {
    out->code = http_to_grpc(meta->http_status);
    return set_message(out, arena, "HTTP status %d from the server (not a gRPC response)",
                       meta->http_status);
  }
  if (!is_grpc_content_type(meta->content_type, meta->content_type_len)) {
    out->code = TWE_GRPC_UNKNOWN;
    return set_message(out, arena, "response content-type is not application/grpc (HTTP %d)",
                       meta->http_status);
  }
  if (!meta->grpc_status) {
    out->code = TWE_GRPC_INTERNAL;
    return set_message(out, arena, "response ended without grpc-status (HTTP %d)",
                       meta->http_status);
  }
  int code = parse_code(meta->grpc_status, meta->grpc_status_len);
  /* A number outside gRPC's codes (0-16) is UNKNOWN, as gRPC takes it. */
  bool foreign = code > TWE_GRPC_UNAUTHENTICATED;
  out->code = code < 0 || foreign ? TWE_GRPC_UNKNOWN : code;
  if (meta->grpc_message) {
    char *m = twe__grpc_percent_decode(meta->grpc_message, meta->grpc_message_len, arena);
    if (!m) return twe__arena_error(arena);
    out->message = m;
  } else {
    out->message = "";
  }
  if (code < 0) {
    int rc = set_message(out, arena, "invalid grpc-status value (HTTP %d)", meta->http_status);
    if (rc < 0) return rc;
  } else if (foreign && !out->message[0]) {
    /* The server's message is kept when it sent one. */
    int rc = set_message(out, arena, "grpc-status %d is not a gRPC code (0-16): taken as UNKNOWN",
                         code);
    if (rc < 0) return rc;
  }
  if (meta->details_bin && meta->details_bin_len > 0) return decode_details(meta, arena, out);
  return 0;
}
