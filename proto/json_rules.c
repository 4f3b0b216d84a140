/* proto/json_rules.c — the proto3 JSON mapping rules, on plain strings.
 *
 * What both JSON readers apply (proto/json.c on a jansson tree,
 * proto/json_text.c on the text): field names (json_name or .proto name),
 * enum names (with Temporal's PascalCase shorthand), base64, RFC 3339
 * timestamps, durations, field masks, and which descriptors are map entries
 * or wrappers. Nothing here reports errors beyond "not valid": the readers
 * word their own messages. */
#include <stdint.h>
#include <string.h>

#include "proto/json_internal.h"

/* Standard or URL-safe base64, padding optional, CR/LF ignored (what Go's
 * decoder that protojson uses tolerates). */
int twe__json_base64(twe_arena_t *arena, const char *s, size_t n, ProtobufCBinaryData *out) {
  uint8_t *buf = twe__arena_alloc(arena, n / 4 * 3 + 3);
  if (!buf) return -1;
  uint32_t acc = 0;
  size_t bits = 0, len = 0, digits = 0, pad = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    int v;
    if (ch == '\r' || ch == '\n') continue;
    if (ch == '=') {
      pad++;
      continue;
    }
    if (pad) return 1;
    if (ch >= 'A' && ch <= 'Z')
      v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      v = ch - '0' + 52;
    else if (ch == '+' || ch == '-')
      v = 62;
    else if (ch == '/' || ch == '_')
      v = 63;
    else
      return 1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    digits++;
    if (bits >= 8) {
      bits -= 8;
      buf[len++] = (uint8_t)(acc >> bits);
    }
  }
  /* One digit left over in a quad carries no whole byte; padding, when
   * present, must complete the quad exactly. */
  if (digits % 4 == 1 || pad > 2 || (pad && (digits + pad) % 4 != 0)) return 1;
  out->data = buf;
  out->len = len;
  return 0;
}

/* "EventType" -> "EVENT_TYPE_" in buf; false if it does not fit. */
bool twe__json_enum_prefix(const char *type, char *buf, size_t size) {
  size_t n = 0;
  for (size_t i = 0; type[i]; i++) {
    char ch = type[i];
    bool upper = ch >= 'A' && ch <= 'Z';
    if (upper && i > 0) {
      char prev = type[i - 1], next = type[i + 1];
      bool prev_lower = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
      bool acronym_end = prev >= 'A' && prev <= 'Z' && next >= 'a' && next <= 'z';
      if (prev_lower || acronym_end) {
        if (n + 1 >= size) return false;
        buf[n++] = '_';
      }
    }
    if (n + 1 >= size) return false;
    buf[n++] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
  }
  if (n + 2 > size) return false;
  buf[n++] = '_';
  buf[n] = '\0';
  return true;
}

/* The next character of rest's PascalCase spelling ("WORKFLOW_EXECUTION"
 * -> "WorkflowExecution"), or '\0' at its end; advances *rest. */
static char pascal_next(const char **rest, bool *word_start) {
  while (**rest == '_') {
    *word_start = true;
    (*rest)++;
  }
  char ch = **rest;
  if (!ch) return '\0';
  (*rest)++;
  if (!*word_start && ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
  *word_start = false;
  return ch;
}

/* Does s spell rest ("WORKFLOW_EXECUTION_STARTED") in PascalCase
 * ("WorkflowExecutionStarted")? */
bool twe__json_pascal_equal(const char *rest, const char *s) {
  bool word_start = true;
  for (char ch; (ch = pascal_next(&rest, &word_start));)
    if (*s++ != ch) return false;
  return *s == '\0';
}

size_t twe__json_pascal(const char *rest, char *out) {
  bool word_start = true;
  size_t n = 0;
  for (char ch; (ch = pascal_next(&rest, &word_start));) out[n++] = ch;
  out[n] = '\0';
  return n;
}

size_t twe__json_enum_prefix_len(const ProtobufCEnumDescriptor *ed, char *buf, size_t size) {
  return twe__json_enum_prefix(ed->short_name, buf, size) ? strlen(buf) : 0;
}

bool twe__json_enum_by_name(const ProtobufCEnumDescriptor *ed, const char *s, int32_t *out) {
  const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(ed, s);
  if (v) {
    *out = v->value;
    return true;
  }
  char prefix[160];
  size_t plen = twe__json_enum_prefix_len(ed, prefix, sizeof prefix);
  for (unsigned i = 0; i < ed->n_values; i++) {
    if (twe__json_pascal_equal(twe__json_enum_rest(ed->values[i].name, prefix, plen), s)) {
      *out = ed->values[i].value;
      return true;
    }
  }
  return false;
}

size_t twe__json_element_size(ProtobufCType t) {
  switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
      return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      return 8;
    case PROTOBUF_C_TYPE_FLOAT:
      return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
      return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
      return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
      return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
      return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
      return sizeof(ProtobufCMessage *);
  }
  return 0;
}

/* A map<K,V> field is a repeated K/V entry message in protobuf-c; the entry
 * type has exactly the fields key = 1 and value = 2. */
bool twe__json_is_map_entry(const ProtobufCMessageDescriptor *d) {
  return d->n_fields == 2 && d->fields[0].id == 1 && d->fields[1].id == 2 &&
         !strcmp(d->fields[0].name, "key") && !strcmp(d->fields[1].name, "value");
}

/* protoc's json_name: drop each '_' and upper-case the letter after it. */
bool twe__json_camel_equal(const char *name, const char *key) {
  bool up = false;
  for (; *name; name++) {
    if (*name == '_') {
      up = true;
      continue;
    }
    char ch = *name;
    if (up && ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
    up = false;
    if (*key++ != ch) return false;
  }
  return *key == '\0';
}

/* The .proto name first; then the json_name. A lowerCamelCase key without
 * '_' is turned back into snake_case ("eventId" -> "event_id") for the
 * descriptor's binary search by name, and the field found is kept only if
 * its json_name is the key; else every field is compared (protoc refuses
 * two fields with one json_name, so the first that matches is the one). */
const ProtobufCFieldDescriptor *twe__json_find_field(const ProtobufCMessageDescriptor *desc,
                                                     const char *key) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, key);
  if (f) return f;
  char snake[128];
  size_t n = 0;
  bool upper = false;
  for (const char *k = key; *k && *k != '_' && n + 2 < sizeof snake; k++) {
    if (*k >= 'A' && *k <= 'Z') {
      snake[n++] = '_';
      snake[n++] = (char)(*k - 'A' + 'a');
      upper = true;
    } else {
      snake[n++] = *k;
    }
    if (!k[1]) {
      snake[n] = '\0';
      f = upper ? protobuf_c_message_descriptor_get_field_by_name(desc, snake) : NULL;
      if (f && twe__json_camel_equal(f->name, key)) return f;
    }
  }
  for (unsigned i = 0; i < desc->n_fields; i++)
    if (twe__json_camel_equal(desc->fields[i].name, key)) return &desc->fields[i];
  return NULL;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at *s into *out; advances *s. */
static bool digits(const char **s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char ch = (*s)[i];
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + (ch - '0');
  }
  *s += n;
  *out = v;
  return true;
}

/* Up to 9 fraction digits after '.' as nanoseconds; at least one digit. */
static bool fraction(const char **s, int32_t *nanos) {
  int32_t v = 0;
  int n = 0;
  while (**s >= '0' && **s <= '9') {
    if (n == 9) return false;
    v = v * 10 + (**s - '0');
    n++;
    (*s)++;
  }
  if (n == 0) return false;
  for (; n < 9; n++) v *= 10;
  *nanos = v;
  return true;
}

/* RFC 3339: "2024-05-01T10:00:00.123456789Z", or with "+02:00" / "-05:30". */
bool twe__json_timestamp(const char *s, Google__Protobuf__Timestamp *ts) {
  const char *p = s;
  int y, mo, d, h, mi, se, oh = 0, om = 0;
  int32_t nanos = 0;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
      !digits(&p, 2, &d) || (*p != 'T' && *p != 't') || !(++p, digits(&p, 2, &h)) || *p++ != ':' ||
      !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &se))
    goto bad;
  if (*p == '.' && !(++p, fraction(&p, &nanos))) goto bad;
  int sign = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    sign = *p++ == '+' ? 1 : -1;
    if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59) goto bad;
  } else {
    goto bad;
  }
  if (*p) goto bad;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
      mi > 59 || se > 59)
    goto bad;
  int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
  secs -= sign * (oh * 3600 + om * 60);
  /* The range protobuf allows: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
  if (secs < -62135596800LL || secs > 253402300799LL) goto bad;
  ts->seconds = secs;
  ts->nanos = nanos;
  return true;
bad:
  return false;
}

/* "1.5s", "-0.001s", "3600s"; at most 10,000 years either way. */
bool twe__json_duration(const char *s, Google__Protobuf__Duration *du) {
  const char *p = s;
  bool neg = *p == '-';
  if (neg) p++;
  if (*p < '0' || *p > '9') goto bad;
  int64_t secs = 0;
  int32_t nanos = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    secs = secs * 10 + (*p - '0');
    if (secs > 315576000000LL) goto bad;
  }
  if (*p == '.' && !(++p, fraction(&p, &nanos))) goto bad;
  if (p[0] != 's' || p[1] != '\0') goto bad;
  du->seconds = neg ? -secs : secs;
  du->nanos = neg ? -nanos : nanos;
  return true;
bad:
  return false;
}

/* "fooBar,baz.quxQuux" -> ["foo_bar", "baz.qux_quux"]. */
int twe__json_field_mask(twe_arena_t *arena, const char *s, Google__Protobuf__FieldMask *fm) {
  size_t n = *s ? 1 : 0;
  for (const char *p = s; *p; p++) n += *p == ',';
  fm->paths = twe__arena_alloc(arena, n * sizeof *fm->paths);
  if (!fm->paths) return -1;
  const char *p = s;
  for (size_t i = 0; i < n; i++) {
    size_t len = strcspn(p, ","), upper = 0;
    for (size_t k = 0; k < len; k++) upper += p[k] >= 'A' && p[k] <= 'Z';
    char *out = twe__arena_alloc(arena, len + upper + 1), *o = out;
    if (!out) return -1;
    for (size_t k = 0; k < len; k++) {
      if (p[k] >= 'A' && p[k] <= 'Z') {
        *o++ = '_';
        *o++ = (char)(p[k] - 'A' + 'a');
      } else {
        *o++ = p[k];
      }
    }
    *o = '\0';
    fm->paths[i] = out;
    p += len + (p[len] == ',');
  }
  fm->n_paths = n;
  return 0;
}

bool twe__json_is_wrapper(const ProtobufCMessageDescriptor *d) {
  static const char *const names[] = {
      "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
      "google.protobuf.UInt64Value", "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue",   "google.protobuf.StringValue", "google.protobuf.BytesValue",
  };
  if (strncmp(d->name, "google.protobuf.", 16) != 0) return false;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(d->name, names[i])) return true;
  return false;
}
