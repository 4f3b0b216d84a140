/* proto/json_write.c — messages to proto3 JSON by walking protobuf-c's
 * descriptors; see proto/json_write.h. */
#define _POSIX_C_SOURCE 200809L /* gmtime_r */
#include "proto/json_write.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "proto/json_internal.h"

/* lowerCamelCase of a .proto field name ("event_time" -> "eventTime"). */
static void json_name(const char *name, char *out, size_t len) {
  size_t o = 0;
  bool up = false;
  for (const char *p = name; *p && o + 1 < len; p++) {
    if (*p == '_') {
      up = true;
      continue;
    }
    out[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
    up = false;
  }
  out[o] = 0;
}

/* "12", "12.500", "12.000001", "12.000000001": the fewest of 0, 3, 6 or 9
 * fractional digits that hold nanos exactly. */
static void fraction(char *buf, size_t len, int32_t nanos) {
  if (nanos == 0)
    buf[0] = 0;
  else if (nanos % 1000000 == 0)
    snprintf(buf, len, ".%03d", nanos / 1000000);
  else if (nanos % 1000 == 0)
    snprintf(buf, len, ".%06d", nanos / 1000);
  else
    snprintf(buf, len, ".%09d", nanos);
}

static json_t *timestamp(const ProtobufCMessage *m) {
  const Google__Protobuf__Timestamp *t = (const void *)m;
  time_t s = (time_t)t->seconds;
  struct tm tm;
  if (!gmtime_r(&s, &tm)) return json_null();
  char date[40], frac[16], out[64];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  fraction(frac, sizeof frac, t->nanos);
  snprintf(out, sizeof out, "%s%sZ", date, frac);
  return json_string(out);
}

static json_t *duration(const ProtobufCMessage *m) {
  const Google__Protobuf__Duration *d = (const void *)m;
  char frac[16], out[48];
  int64_t s = d->seconds;
  int32_t n = d->nanos;
  bool neg = s < 0 || n < 0;
  fraction(frac, sizeof frac, n < 0 ? -n : n);
  snprintf(out, sizeof out, "%s%" PRId64 "%ss", neg && s == 0 ? "-" : "", s, frac);
  return json_string(out);
}

static json_t *base64(const ProtobufCBinaryData *b) {
  size_t len = 4 * ((b->len + 2) / 3);
  char *out = malloc(len + 1);
  if (!out) return NULL;
  EVP_EncodeBlock((unsigned char *)out, b->data, (int)b->len);
  out[len] = 0;
  json_t *s = json_string(out);
  free(out);
  return s;
}

static json_t *message(const ProtobufCMessage *m);

/* One value of field f at p (a member of the message, or an element of a
 * repeated field). */
static json_t *value(const ProtobufCFieldDescriptor *f, const void *p) {
  char num[32];
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      snprintf(num, sizeof num, "%" PRId64, *(const int64_t *)p);
      return json_string(num);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      snprintf(num, sizeof num, "%" PRIu64, *(const uint64_t *)p);
      return json_string(num);
    case PROTOBUF_C_TYPE_FLOAT:
      return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
      return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
      return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
      int v = *(const int *)p;
      const ProtobufCEnumValue *ev =
          protobuf_c_enum_descriptor_get_value(f->descriptor, v);
      return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(char *const *)p;
      return json_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
      return base64(p);
    case PROTOBUF_C_TYPE_MESSAGE: {
      const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
      return sub ? message(sub) : json_null();
    }
  }
  return json_null();
}

/* Whether the proto3 scalar at p is its default (left out of the JSON). */
static bool is_default(const ProtobufCFieldDescriptor *f, const void *p) {
  switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
      return *(const uint32_t *)p == 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      return *(const uint64_t *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT:
      return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
      return *(const double *)p == 0;
    case PROTOBUF_C_TYPE_BOOL:
      return !*(const protobuf_c_boolean *)p;
    case PROTOBUF_C_TYPE_STRING: {
      const char *s = *(char *const *)p;
      return !s || !*s;
    }
    case PROTOBUF_C_TYPE_BYTES:
      return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
      return *(ProtobufCMessage *const *)p == NULL;
  }
  return true;
}

/* A map field: repeated entries of a message with key (1) and value (2). */
static bool is_map(const ProtobufCFieldDescriptor *f) {
  if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE) return false;
  const ProtobufCMessageDescriptor *d = f->descriptor;
  size_t n = strlen(d->name);
  return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
         strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

static json_t *message(const ProtobufCMessage *m) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  if (strcmp(d->name, "google.protobuf.Timestamp") == 0) return timestamp(m);
  if (strcmp(d->name, "google.protobuf.Duration") == 0) return duration(m);
  json_t *obj = json_object();
  if (!obj) return NULL;
  const char *base = (const char *)m;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const void *p = base + f->offset;
    char name[128];
    json_name(f->name, name, sizeof name);
    json_t *v = NULL;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + f->quantifier_offset);
      if (!n) continue;
      const char *items = *(char *const *)p;
      if (is_map(f)) {
        v = json_object();
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        for (size_t k = 0; v && k < n; k++) {
          const char *e = *(char *const *)(items + k * sizeof(void *));
          const char *key = *(char *const *)(e + ed->fields[0].offset);
          json_object_set_new(v, key ? key : "", value(&ed->fields[1], e + ed->fields[1].offset));
        }
      } else {
        v = json_array();
        size_t size = twe__json_element_size(f->type);
        for (size_t k = 0; v && k < n; k++) json_array_append_new(v, value(f, items + k * size));
      }
    } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
      if (which != f->id) continue;
      v = value(f, p);
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
               f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
               f->type != PROTOBUF_C_TYPE_BYTES) {
      if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset)) continue;
      v = value(f, p);
    } else {
      if (is_default(f, p)) continue;
      v = value(f, p);
    }
    if (!v || json_object_set_new(obj, name, v) < 0) {
      json_decref(obj);
      return NULL;
    }
  }
  return obj;
}

int twe__json_from_message(const ProtobufCMessage *msg, json_t **out) {
  *out = message(msg);
  return *out ? 0 : -ENOMEM;
}
