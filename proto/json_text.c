/* proto/json_text.c — proto3 JSON text straight into protobuf-c messages, in
 * one pass: no tree, no copy of the document.
 *
 * The tree reader (json.c: jansson, then a walk of the tree) spent almost all
 * of a replay from JSON building jansson's objects (a hash table per object,
 * a malloc per value) and formatting the path of every field it entered.
 * This reader walks the text once, with the descriptors, and writes each
 * value where the message keeps it:
 *   - keys and enum names are found in an index of every registered type
 *     (json_index.c: one hash, one compare); a key it does not know (a
 *     field newer than our .proto files, a type outside the registry) is
 *     looked up in the descriptor once per call and kept in a table of the
 *     call's own;
 *   - a repeated field's elements go on a scratch stack until its ']', then
 *     into one array of the arena, of the exact size;
 *   - strings are copied once, from the text into the arena.
 * Its rules are the tree reader's, applied through the same helpers
 * (json_internal.h). It keeps no error messages: on anything it is not
 * sure of (invalid JSON, a value that does not fit, and the rarer forms
 * named in json_internal.h) it gives up, and json.c runs the tree reader
 * from the start, which reports the error with its path, or reads the form.
 * Fields of type Any, Struct, Value and ListValue are handed to the tree
 * reader one by one (jansson parses just that value).
 *
 * As strict as jansson: what this reader accepts, jansson parses to the same
 * values (UTF-8 checked, no \u0000, no lone surrogates, integers within
 * int64, reals within double, no leading zeros, no trailing commas). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "proto/json.h"
#include "proto/json_internal.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"

#define GIVE_UP TWE__JSON_TEXT_GIVE_UP
#define TRY(x)                      \
  do {                              \
    if ((x) != 0) return GIVE_UP;   \
  } while (0)

/* Nesting followed inside a skipped value (an unknown field); deeper goes
 * to the tree reader (jansson's own limit is 2048). */
#define SKIP_MAX_DEPTH 512
/* Map entries checked for duplicate keys one against the other; a bigger
 * map goes to the tree reader. */
#define MAP_MAX_ENTRIES 64
/* Fields of one message tracked for duplicate keys. */
#define MAX_FIELDS 256

/* Keys the index (json_index.c) does not know, once looked up: a message's
 * field (NULL: none), or an enum's value, by (descriptor, key in the text). */
typedef twe__json_key_t slot_t;

typedef struct reader {
  const char *p, *end;
  twe_arena_t *arena;
  int depth; /* messages entered, counted as the tree reader counts them */
  /* Elements of the repeated fields being read, innermost on top. */
  uint8_t *stack;
  size_t stack_len, stack_cap;
  /* One string unescaped, or copied to be NUL-terminated. */
  char *buf;
  size_t buf_cap;
  slot_t *slots; /* NULL until the first key the index does not know */
  size_t slots_mask, slots_used;
  /* The history shapes: which keys the outermost object has. */
  bool track_top, top_events, top_history;
} reader_t;

/* ---- bytes and tokens ------------------------------------------------------ */

static const uint8_t ws_class[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static inline void skip_ws(reader_t *r) {
  while (r->p < r->end && ws_class[(uint8_t)*r->p]) r->p++;
}

/* The next byte, or 0 at the end (0 is never valid where this is asked). */
static inline char peek(const reader_t *r) { return r->p < r->end ? *r->p : 0; }

static int expect(reader_t *r, char c) {
  skip_ws(r);
  if (peek(r) != c) return GIVE_UP;
  r->p++;
  skip_ws(r);
  return 0;
}

/* After a member or an element: ',' (and the whitespace after it) or the
 * closing byte; r->p[-1] tells which. */
static int next(reader_t *r, char close) {
  skip_ws(r);
  char c = peek(r);
  if (c != ',' && c != close) return GIVE_UP;
  r->p++;
  if (c == ',') skip_ws(r);
  return 0;
}

static int literal(reader_t *r, const char *word, size_t n) {
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return GIVE_UP;
  r->p += n;
  return 0;
}

/* mem (*cap bytes) with room for need bytes, or NULL (mem is then intact). */
static void *grow(void *mem, size_t *cap, size_t need) {
  if (need <= *cap) return mem;
  size_t c = *cap ? *cap : 256;
  while (c < need) c *= 2;
  void *m = realloc(mem, c);
  if (m) *cap = c;
  return m;
}

static int grow_buf(reader_t *r, size_t need) {
  char *b = grow(r->buf, &r->buf_cap, need);
  if (!b) return GIVE_UP;
  r->buf = b;
  return 0;
}

static int push(reader_t *r, const void *elem, size_t size) {
  uint8_t *st = grow(r->stack, &r->stack_cap, r->stack_len + size);
  if (!st) return GIVE_UP;
  r->stack = st;
  memcpy(r->stack + r->stack_len, elem, size);
  r->stack_len += size;
  return 0;
}

/* Bytes that end a run of plain string content: '"', '\\', control
 * characters, and the bytes of multi-byte UTF-8 (checked one by one). */
static inline bool special(uint8_t c) { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80; }

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The first of 8 bytes (in memory order) that special() flags, or 8. A byte
 * is flagged exactly when it is '"' or '\\' (equal: XOR gives zero), below
 * 0x20, or 0x80 and above; the borrow of the subtractions can only flag a
 * byte after a flagged one, so the lowest flag is exact. */
static inline unsigned first_special8(const char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
  uint64_t m = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w) | w;
  m &= HIGHS;
  return m ? (unsigned)__builtin_ctzll(m) / 8 : 8;
}

/* The length of the valid UTF-8 sequence at p (its first byte >= 0x80), or
 * 0: overlong forms, surrogates and code points past U+10FFFF are not. */
static size_t utf8_seq(const uint8_t *p, const uint8_t *end) {
  uint8_t c = p[0];
  size_t n;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1Fu;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, v = c & 0x0Fu;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, v = c & 0x07u;
  else return 0;
  if ((size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    v = v << 6 | (p[i] & 0x3Fu);
  }
  if (n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) return 0;
  if (n == 4 && (v < 0x10000 || v > 0x10FFFF)) return 0;
  return n;
}

static int hex4(const char *p, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
    else return GIVE_UP;
  }
  *out = v;
  return 0;
}

/* The rest of a string with escapes, from p (at a '\\'), unescaped into
 * r->buf after the plain bytes [start, p). */
static int read_escaped(reader_t *r, const char *start, const char *p, const char **s, size_t *n) {
  size_t len = (size_t)(p - start);
  TRY(grow_buf(r, len + 64));
  memcpy(r->buf, start, len);
  const char *end = r->end;
  for (;;) {
    TRY(grow_buf(r, len + 8));
    if (p >= end) return GIVE_UP;
    uint8_t c = (uint8_t)*p;
    if (c == '"') break;
    if (c < 0x20) return GIVE_UP;
    if (c >= 0x80) {
      size_t k = utf8_seq((const uint8_t *)p, (const uint8_t *)end);
      if (!k) return GIVE_UP;
      memcpy(r->buf + len, p, k);
      len += k;
      p += k;
      continue;
    }
    if (c != '\\') {
      r->buf[len++] = (char)c;
      p++;
      continue;
    }
    if (end - p < 2) return GIVE_UP;
    char e = p[1];
    p += 2;
    switch (e) {
    case '"': r->buf[len++] = '"'; continue;
    case '\\': r->buf[len++] = '\\'; continue;
    case '/': r->buf[len++] = '/'; continue;
    case 'b': r->buf[len++] = '\b'; continue;
    case 'f': r->buf[len++] = '\f'; continue;
    case 'n': r->buf[len++] = '\n'; continue;
    case 'r': r->buf[len++] = '\r'; continue;
    case 't': r->buf[len++] = '\t'; continue;
    case 'u': break;
    default: return GIVE_UP;
    }
    uint32_t cp;
    if (end - p < 4 || hex4(p, &cp)) return GIVE_UP;
    p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate: its low half must follow */
      uint32_t lo;
      if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) || lo < 0xDC00 ||
          lo > 0xDFFF)
        return GIVE_UP;
      p += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
      return GIVE_UP; /* a lone low half; NUL (jansson refuses it too) */
    }
    char *o = r->buf + len;
    if (cp < 0x80) {
      o[0] = (char)cp, len += 1;
    } else if (cp < 0x800) {
      o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), len += 2;
    } else if (cp < 0x10000) {
      o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
      o[2] = (char)(0x80 | (cp & 0x3F)), len += 3;
    } else {
      o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
      o[2] = (char)(0x80 | (cp >> 6 & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), len += 4;
    }
  }
  r->buf[len] = '\0';
  r->p = p + 1;
  *s = r->buf;
  *n = len;
  return 0;
}

/* The string at r->p (its opening quote). *s and *n give its content: in
 * the text when it has no escapes (*in_text true; not NUL-terminated), else
 * unescaped in r->buf (NUL-terminated, until the next string). */
static int read_string(reader_t *r, const char **s, size_t *n, bool *in_text) {
  const char *p = r->p + 1, *start = p, *end = r->end;
  for (;;) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
      unsigned k = first_special8(p);
      p += k;
      if (k < 8) break;
    }
#endif
    while (p < end && !special((uint8_t)*p)) p++;
    if (p >= end) return GIVE_UP;
    uint8_t c = (uint8_t)*p;
    if (c == '"') break;
    if (c == '\\') {
      *in_text = false;
      return read_escaped(r, start, p, s, n);
    }
    if (c < 0x80) return GIVE_UP; /* a control character */
    size_t k = utf8_seq((const uint8_t *)p, (const uint8_t *)end);
    if (!k) return GIVE_UP;
    p += k;
  }
  *s = start;
  *n = (size_t)(p - start);
  *in_text = true;
  r->p = p + 1;
  return 0;
}

/* s (n bytes) NUL-terminated: itself when it is already in r->buf. */
static const char *c_string(reader_t *r, const char *s, size_t n, bool in_text) {
  if (!in_text) return s;
  if (grow_buf(r, n + 1)) return NULL;
  memcpy(r->buf, s, n);
  r->buf[n] = '\0';
  return r->buf;
}

/* A JSON number: integral (no fraction or exponent) in *i, else in *d. */
typedef struct number {
  bool integral;
  int64_t i;
  double d;
} number_t;

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int read_number(reader_t *r, number_t *out) {
  const char *p = r->p, *end = r->end, *start = p;
  bool neg = p < end && *p == '-';
  if (neg) p++;
  if (p >= end || !is_digit(*p)) return GIVE_UP;
  uint64_t v = 0;
  size_t digits = 0;
  if (*p == '0') {
    p++;
    if (p < end && is_digit(*p)) return GIVE_UP; /* leading zero */
  } else {
    for (; p < end && is_digit(*p); p++, digits++) v = v * 10 + (uint64_t)(*p - '0');
  }
  bool real = false;
  if (p < end && *p == '.') {
    p++;
    if (p >= end || !is_digit(*p)) return GIVE_UP;
    while (p < end && is_digit(*p)) p++;
    real = true;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || !is_digit(*p)) return GIVE_UP;
    while (p < end && is_digit(*p)) p++;
    real = true;
  }
  r->p = p;
  if (!real) {
    /* Past 19 digits, or past int64 at 19: jansson refuses it too. */
    if (digits > 19 || (digits == 19 && v > (uint64_t)INT64_MAX + neg)) return GIVE_UP;
    out->integral = true;
    out->i = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
  }
  char tmp[64];
  size_t len = (size_t)(p - start);
  if (len >= sizeof tmp) return GIVE_UP;
  memcpy(tmp, start, len);
  tmp[len] = '\0';
  errno = 0;
  double d = strtod(tmp, NULL);
  if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL)) return GIVE_UP; /* as jansson */
  out->integral = false;
  out->d = d;
  return 0;
}

/* "-?[0-9]+" (a string the tree reader takes to strtoll) or "[0-9]+"
 * (strtoull), into a magnitude and a sign; false for anything else. */
static bool decimal_text(const char *s, size_t n, bool allow_neg, uint64_t *mag, bool *neg) {
  *neg = allow_neg && n > 0 && s[0] == '-';
  size_t i = *neg;
  if (i == n) return false;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (!is_digit(s[i])) return false;
    uint64_t digit = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *mag = v;
  return true;
}

/* ---- skipping a value (an unknown field) ------------------------------------ */

static int skip_value(reader_t *r, int depth) {
  if (depth > SKIP_MAX_DEPTH) return GIVE_UP;
  const char *s;
  size_t n;
  bool in_text;
  number_t num;
  switch (peek(r)) {
  case '"': return read_string(r, &s, &n, &in_text);
  case 't': return literal(r, "true", 4);
  case 'f': return literal(r, "false", 5);
  case 'n': return literal(r, "null", 4);
  case '{':
    r->p++;
    skip_ws(r);
    if (peek(r) == '}') {
      r->p++;
      return 0;
    }
    for (;;) {
      if (peek(r) != '"') return GIVE_UP;
      TRY(read_string(r, &s, &n, &in_text));
      TRY(expect(r, ':'));
      TRY(skip_value(r, depth + 1));
      TRY(next(r, '}'));
      if (r->p[-1] == '}') return 0;
    }
  case '[':
    r->p++;
    skip_ws(r);
    if (peek(r) == ']') {
      r->p++;
      return 0;
    }
    for (;;) {
      TRY(skip_value(r, depth + 1));
      TRY(next(r, ']'));
      if (r->p[-1] == ']') return 0;
    }
  default: return read_number(r, &num);
  }
}

/* ---- (descriptor, key) lookups ----------------------------------------------- */

/* The slot of (desc, key) when the key is in the text, or NULL; *at is
 * where a new one would go. The table is made at the first miss. */
static slot_t *slot_find(reader_t *r, const void *desc, const char *k, size_t n, size_t *at) {
  if (!r->slots) {
    r->slots_mask = 63;
    r->slots = calloc(r->slots_mask + 1, sizeof *r->slots);
    if (!r->slots) {
      r->slots_mask = 0;
      *at = SIZE_MAX;
      return NULL;
    }
  }
  size_t i = twe__json_key_hash(desc, k, n) & r->slots_mask;
  for (;; i = (i + 1) & r->slots_mask) {
    slot_t *s = &r->slots[i];
    if (!s->desc) break;
    if (s->desc == desc && s->len == n && twe__json_key_equal(s->key, k, n)) return s;
  }
  *at = i;
  return NULL;
}

/* Adds a slot at *at (from slot_find), growing the table when half full. */
static slot_t *slot_add(reader_t *r, size_t at, const slot_t *v) {
  if (at == SIZE_MAX) return NULL; /* no table */
  if ((r->slots_used + 1) * 2 > r->slots_mask + 1) {
    size_t cap = (r->slots_mask + 1) * 2;
    slot_t *bigger = calloc(cap, sizeof *bigger);
    if (!bigger) return NULL;
    for (size_t i = 0; i <= r->slots_mask; i++) {
      const slot_t *s = &r->slots[i];
      if (!s->desc) continue;
      size_t j = twe__json_key_hash(s->desc, s->key, s->len) & (cap - 1);
      while (bigger[j].desc) j = (j + 1) & (cap - 1);
      bigger[j] = *s;
    }
    free(r->slots);
    r->slots = bigger;
    r->slots_mask = cap - 1;
    at = twe__json_key_hash(v->desc, v->key, v->len) & r->slots_mask;
    while (r->slots[at].desc) at = (at + 1) & r->slots_mask;
  }
  r->slots[at] = *v;
  r->slots_used++;
  return &r->slots[at];
}

static bool tree_type(const ProtobufCMessageDescriptor *d) {
  return d == &google__protobuf__any__descriptor || d == &google__protobuf__struct__descriptor ||
         d == &google__protobuf__value__descriptor ||
         d == &google__protobuf__list_value__descriptor;
}

/* The field a key names in desc (NULL: none), with its flags: from the
 * index, else from this call's slots, else looked up (and kept in a slot,
 * unless the key had escapes: it is in r->buf, not in the text). */
static int lookup_field(reader_t *r, const ProtobufCMessageDescriptor *desc, const char *k,
                        size_t n, bool in_text, slot_t *tmp, const slot_t **out) {
  const twe__json_key_t *known = twe__json_index_find(desc, k, n);
  if (known) {
    *out = known;
    return 0;
  }
  size_t at = 0;
  if (in_text) {
    const slot_t *s = slot_find(r, desc, k, n, &at);
    if (s) {
      *out = s;
      return 0;
    }
  }
  const char *key = c_string(r, k, n, in_text);
  if (!key) return GIVE_UP;
  const ProtobufCFieldDescriptor *f = twe__json_find_field(desc, key);
  slot_t v = {.desc = desc, .key = k, .len = (uint32_t)n, .flags = twe__json_field_flags(f),
              .field = f};
  if (!in_text) {
    *tmp = v;
    *out = tmp;
    return 0;
  }
  const slot_t *s = slot_add(r, at, &v);
  if (!s) return GIVE_UP;
  *out = s;
  return 0;
}

/* ---- values ---------------------------------------------------------------------- */

static int read_message(reader_t *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);

/* An integer field's value: a JSON integer, or a string of digits (the
 * tree reader's strtoll / strtoull forms; others are left to it). */
static int read_int(reader_t *r, int64_t min, int64_t max, int64_t *out) {
  int64_t v;
  if (peek(r) == '"') {
    const char *s;
    size_t n;
    bool in_text, neg;
    uint64_t mag;
    TRY(read_string(r, &s, &n, &in_text));
    if (!decimal_text(s, n, true, &mag, &neg)) return GIVE_UP;
    if (mag > (uint64_t)INT64_MAX + neg) return GIVE_UP;
    v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
  } else {
    number_t num;
    TRY(read_number(r, &num));
    if (!num.integral) return GIVE_UP;
    v = num.i;
  }
  if (v < min || v > max) return GIVE_UP;
  *out = v;
  return 0;
}

static int read_uint(reader_t *r, uint64_t max, uint64_t *out) {
  uint64_t v;
  if (peek(r) == '"') {
    const char *s;
    size_t n;
    bool in_text, neg;
    TRY(read_string(r, &s, &n, &in_text));
    if (!decimal_text(s, n, false, &v, &neg)) return GIVE_UP;
  } else {
    number_t num;
    TRY(read_number(r, &num));
    if (!num.integral || num.i < 0) return GIVE_UP;
    v = (uint64_t)num.i;
  }
  if (v > max) return GIVE_UP;
  *out = v;
  return 0;
}

static int read_double(reader_t *r, bool is_float, double *out) {
  double d;
  if (peek(r) == '"') {
    const char *s;
    size_t n;
    bool in_text;
    TRY(read_string(r, &s, &n, &in_text));
    if (n == 3 && !memcmp(s, "NaN", 3)) d = NAN;
    else if (n == 8 && !memcmp(s, "Infinity", 8)) d = INFINITY;
    else if (n == 9 && !memcmp(s, "-Infinity", 9)) d = -INFINITY;
    else return GIVE_UP; /* a number in a string: the tree reader's */
  } else {
    number_t num;
    TRY(read_number(r, &num));
    d = num.integral ? (double)num.i : num.d;
  }
  if (is_float && isfinite(d) && fabs(d) > FLT_MAX) return GIVE_UP;
  *out = d;
  return 0;
}

static int read_enum(reader_t *r, const ProtobufCEnumDescriptor *ed, int32_t *out) {
  if (peek(r) != '"') {
    int64_t v;
    TRY(read_int(r, INT32_MIN, INT32_MAX, &v));
    *out = (int32_t)v;
    return 0;
  }
  const char *s;
  size_t n;
  bool in_text;
  TRY(read_string(r, &s, &n, &in_text));
  const twe__json_key_t *known = twe__json_index_find(ed, s, n);
  if (known) {
    *out = known->value;
    return 0;
  }
  size_t at = 0;
  if (in_text) {
    const slot_t *hit = slot_find(r, ed, s, n, &at);
    if (hit) {
      *out = hit->value;
      return 0;
    }
  }
  const char *name = c_string(r, s, n, in_text);
  int32_t v;
  if (!name || !twe__json_enum_by_name(ed, name, &v)) return GIVE_UP;
  if (in_text) {
    slot_t slot = {.desc = ed, .key = s, .len = (uint32_t)n, .value = v};
    if (!slot_add(r, at, &slot)) return GIVE_UP;
  }
  *out = v;
  return 0;
}

/* One value of f's type into dst (the field, or an element of its array). */
static int read_element(reader_t *r, const ProtobufCFieldDescriptor *f, void *dst) {
  int64_t i;
  uint64_t u;
  double d;
  const char *s;
  size_t n;
  bool in_text;
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    TRY(read_int(r, INT32_MIN, INT32_MAX, &i));
    *(int32_t *)dst = (int32_t)i;
    return 0;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    TRY(read_uint(r, UINT32_MAX, &u));
    *(uint32_t *)dst = (uint32_t)u;
    return 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    TRY(read_int(r, INT64_MIN, INT64_MAX, &i));
    *(int64_t *)dst = i;
    return 0;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    TRY(read_uint(r, UINT64_MAX, &u));
    *(uint64_t *)dst = u;
    return 0;
  case PROTOBUF_C_TYPE_FLOAT:
    TRY(read_double(r, true, &d));
    *(float *)dst = (float)d;
    return 0;
  case PROTOBUF_C_TYPE_DOUBLE:
    TRY(read_double(r, false, &d));
    *(double *)dst = d;
    return 0;
  case PROTOBUF_C_TYPE_BOOL:
    if (peek(r) == 't') {
      TRY(literal(r, "true", 4));
      *(protobuf_c_boolean *)dst = 1;
    } else {
      TRY(literal(r, "false", 5));
      *(protobuf_c_boolean *)dst = 0;
    }
    return 0;
  case PROTOBUF_C_TYPE_ENUM: return read_enum(r, f->descriptor, (int32_t *)dst);
  case PROTOBUF_C_TYPE_STRING: {
    if (peek(r) != '"') return GIVE_UP;
    TRY(read_string(r, &s, &n, &in_text));
    char *copy = twe__arena_alloc(r->arena, n + 1);
    if (!copy) return GIVE_UP;
    memcpy(copy, s, n);
    copy[n] = '\0';
    *(char **)dst = copy;
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES:
    if (peek(r) != '"') return GIVE_UP;
    TRY(read_string(r, &s, &n, &in_text));
    return twe__json_base64(r->arena, s, n, dst) ? GIVE_UP : 0;
  case PROTOBUF_C_TYPE_MESSAGE: return read_message(r, f->descriptor, (ProtobufCMessage **)dst);
  }
  return GIVE_UP;
}

/* A value the tree reader sets: jansson parses just its text. */
static int read_field_tree(reader_t *r, const ProtobufCFieldDescriptor *f, ProtobufCMessage *msg) {
  const char *start = r->p;
  TRY(skip_value(r, 0));
  json_t *j = json_loadb(start, (size_t)(r->p - start), JSON_DECODE_ANY, NULL);
  if (!j) return GIVE_UP;
  int rc = twe__json_tree_field(f, j, msg, r->arena, r->depth);
  json_decref(j);
  return rc ? GIVE_UP : 0;
}

/* A map written as an object: {"key": value, ...}. */
static int read_map(reader_t *r, const ProtobufCFieldDescriptor *f, uint8_t *base) {
  const ProtobufCMessageDescriptor *ed = f->descriptor;
  const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
  if (kf->type != PROTOBUF_C_TYPE_STRING) return GIVE_UP;
  size_t mark = r->stack_len, n = 0;
  r->p++;
  skip_ws(r);
  if (peek(r) == '}') {
    r->p++;
  } else {
    for (;;) {
      const char *k;
      size_t kn;
      bool in_text;
      if (peek(r) != '"' || n == MAP_MAX_ENTRIES) return GIVE_UP;
      TRY(read_string(r, &k, &kn, &in_text));
      ProtobufCMessage *e = twe__arena_alloc(r->arena, ed->sizeof_message);
      char *key = twe__arena_alloc(r->arena, kn + 1);
      if (!e || !key) return GIVE_UP;
      ed->message_init(e);
      memcpy(key, k, kn);
      key[kn] = '\0';
      for (size_t i = 0; i < n; i++) { /* a key twice: jansson keeps the last */
        ProtobufCMessage *other;
        memcpy(&other, r->stack + mark + i * sizeof other, sizeof other);
        if (!strcmp(*(char **)((uint8_t *)other + kf->offset), key)) return GIVE_UP;
      }
      *(char **)((uint8_t *)e + kf->offset) = key;
      TRY(expect(r, ':'));
      if (peek(r) == 'n') return GIVE_UP; /* a null value is an error */
      TRY(read_element(r, vf, (uint8_t *)e + vf->offset));
      TRY(push(r, &e, sizeof e));
      n++;
      TRY(next(r, '}'));
      if (r->p[-1] == '}') break;
    }
  }
  ProtobufCMessage **entries = twe__arena_alloc(r->arena, n * sizeof *entries);
  if (!entries) return GIVE_UP;
  if (n) memcpy(entries, r->stack + mark, n * sizeof *entries);
  r->stack_len = mark;
  *(size_t *)(base + f->quantifier_offset) = n;
  *(ProtobufCMessage ***)(base + f->offset) = entries;
  return 0;
}

static int read_repeated(reader_t *r, const ProtobufCFieldDescriptor *f, uint8_t *base,
                         bool is_map) {
  if (peek(r) == '{' && is_map) return read_map(r, f, base);
  if (peek(r) != '[') return GIVE_UP;
  size_t size = twe__json_element_size(f->type), mark = r->stack_len;
  r->p++;
  skip_ws(r);
  if (peek(r) == ']') {
    r->p++;
  } else {
    for (;;) {
      uint64_t elem[2]; /* the biggest element: ProtobufCBinaryData */
      if (peek(r) == 'n') return GIVE_UP; /* null in an array is an error */
      TRY(read_element(r, f, elem));
      TRY(push(r, elem, size));
      TRY(next(r, ']'));
      if (r->p[-1] == ']') break;
    }
  }
  size_t bytes = r->stack_len - mark;
  void *arr = twe__arena_alloc(r->arena, bytes);
  if (!arr) return GIVE_UP;
  if (bytes) memcpy(arr, r->stack + mark, bytes);
  r->stack_len = mark;
  *(size_t *)(base + f->quantifier_offset) = bytes / size;
  *(void **)(base + f->offset) = arr;
  return 0;
}

/* The value of field f (from slot s) of msg. */
static int read_field(reader_t *r, const slot_t *s, ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *f = s->field;
  uint8_t *base = (uint8_t *)msg;
  if (s->flags & TWE__JSON_KEY_TREE) return read_field_tree(r, f, msg);
  if (peek(r) == 'n') return literal(r, "null", 4); /* null: not set */
  if (f->label == PROTOBUF_C_LABEL_REPEATED) return read_repeated(r, f, base, s->flags & TWE__JSON_KEY_MAP);
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
    if (*which != 0 && *which != f->id) return GIVE_UP; /* two members of a oneof */
    TRY(read_element(r, f, base + f->offset));
    *which = f->id;
    return 0;
  }
  TRY(read_element(r, f, base + f->offset));
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
      f->type != PROTOBUF_C_TYPE_MESSAGE)
    *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
  return 0;
}

/* The fields of an object into msg. */
static int read_fields(reader_t *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *msg) {
  uint64_t seen[MAX_FIELDS / 64] = {0};
  if (d->n_fields > MAX_FIELDS || peek(r) != '{') return GIVE_UP;
  r->p++;
  skip_ws(r);
  if (peek(r) == '}') {
    r->p++;
    return 0;
  }
  for (;;) {
    const char *k;
    size_t n;
    bool in_text;
    if (peek(r) != '"') return GIVE_UP;
    TRY(read_string(r, &k, &n, &in_text));
    if (r->track_top && r->depth == 1) {
      r->top_events |= n == 6 && !memcmp(k, "events", 6);
      r->top_history |= n == 7 && !memcmp(k, "history", 7);
    }
    slot_t tmp;
    const slot_t *s;
    TRY(lookup_field(r, d, k, n, in_text, &tmp, &s));
    TRY(expect(r, ':'));
    if (!s->field) {
      TRY(skip_value(r, 0));
    } else {
      size_t i = (size_t)(s->field - d->fields);
      if (seen[i / 64] >> (i % 64) & 1) return GIVE_UP; /* a field twice */
      seen[i / 64] |= 1ULL << (i % 64);
      TRY(read_field(r, s, msg));
    }
    TRY(next(r, '}'));
    if (r->p[-1] == '}') return 0;
  }
}

/* Well-known types written as one JSON string or scalar. */
static bool is_special(const ProtobufCMessageDescriptor *d) {
  return strncmp(d->name, "google.protobuf.", 16) == 0 &&
         (d == &google__protobuf__timestamp__descriptor ||
          d == &google__protobuf__duration__descriptor ||
          d == &google__protobuf__field_mask__descriptor || twe__json_is_wrapper(d));
}

static int read_special(reader_t *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage *msg) {
  bool ts = d == &google__protobuf__timestamp__descriptor,
       du = d == &google__protobuf__duration__descriptor,
       fm = d == &google__protobuf__field_mask__descriptor;
  if (ts || du || fm) {
    const char *s;
    size_t n;
    bool in_text;
    if (peek(r) != '"') return GIVE_UP;
    TRY(read_string(r, &s, &n, &in_text));
    const char *text = c_string(r, s, n, in_text);
    if (!text) return GIVE_UP;
    if (ts) return twe__json_timestamp(text, (Google__Protobuf__Timestamp *)msg) ? 0 : GIVE_UP;
    if (du) return twe__json_duration(text, (Google__Protobuf__Duration *)msg) ? 0 : GIVE_UP;
    return twe__json_field_mask(r->arena, text, (Google__Protobuf__FieldMask *)msg) ? GIVE_UP : 0;
  }
  return read_element(r, &d->fields[0], (uint8_t *)msg + d->fields[0].offset); /* a wrapper */
}

static int read_message(reader_t *r, const ProtobufCMessageDescriptor *d, ProtobufCMessage **out) {
  if (r->depth >= TWE_JSON_MAX_DEPTH || tree_type(d)) return GIVE_UP;
  ProtobufCMessage *msg = twe__arena_alloc(r->arena, d->sizeof_message);
  if (!msg) return GIVE_UP;
  d->message_init(msg);
  r->depth++;
  int rc = is_special(d) ? read_special(r, d, msg) : read_fields(r, d, msg);
  r->depth--;
  if (rc) return GIVE_UP;
  *out = msg;
  return 0;
}

/* ---- entry points ----------------------------------------------------------------- */

static int reader_init(reader_t *r, const char *text, size_t len, twe_arena_t *arena) {
  memset(r, 0, sizeof *r);
  r->p = text;
  r->end = text + len;
  r->arena = arena;
  return 0;
}

/* The end of the document: whitespace only, then frees the scratch. */
static int reader_finish(reader_t *r, int rc) {
  if (rc == 0) {
    skip_ws(r);
    if (r->p != r->end) rc = GIVE_UP;
  }
  free(r->slots);
  free(r->stack);
  free(r->buf);
  return rc;
}

int twe__json_text_read(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                        twe_arena_t *arena, ProtobufCMessage **out) {
  reader_t r;
  if (reader_init(&r, text, len, arena)) return GIVE_UP;
  skip_ws(&r);
  ProtobufCMessage *msg = NULL;
  int rc = reader_finish(&r, read_message(&r, desc, &msg));
  if (rc == 0) *out = msg;
  return rc;
}

int twe__json_text_read_history(const char *text, size_t len, twe_arena_t *arena,
                                Temporal__Api__History__V1__History **out) {
  const ProtobufCMessageDescriptor *hd = &temporal__api__history__v1__history__descriptor,
      *rd = &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor;
  reader_t r;
  if (reader_init(&r, text, len, arena)) return GIVE_UP;
  skip_ws(&r);
  Temporal__Api__History__V1__History *h = NULL;
  int rc = GIVE_UP;
  if (peek(&r) == '[') {
    /* A bare array: the events of a History, read at the depth the tree
     * reader reads them ({"events": [...]}). */
    h = twe__arena_alloc(arena, sizeof *h);
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(hd, "events");
    if (h && f) {
      temporal__api__history__v1__history__init(h);
      r.depth = 1;
      rc = read_repeated(&r, f, (uint8_t *)h, false);
      r.depth = 0;
    }
  } else if (peek(&r) == '{') {
    /* A response when its first key is "history"; a History otherwise. A
     * guess the keys then contradict goes to the tree reader. */
    const char *save = r.p, *k = NULL;
    size_t n = 0;
    bool in_text;
    r.p++;
    skip_ws(&r);
    bool response = peek(&r) == '"' && read_string(&r, &k, &n, &in_text) == 0 && n == 7 &&
                    !memcmp(k, "history", 7);
    r.p = save;
    r.track_top = true;
    ProtobufCMessage *msg = NULL;
    rc = read_message(&r, response ? rd : hd, &msg);
    if (rc == 0 && response) {
      if (r.top_events) rc = GIVE_UP;
      h = ((Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *)msg)->history;
      if (rc == 0 && !h) { /* {"history": null} */
        h = twe__arena_alloc(arena, sizeof *h);
        if (h) temporal__api__history__v1__history__init(h);
        else rc = GIVE_UP;
      }
    } else if (rc == 0) {
      if (r.top_history && !r.top_events) rc = GIVE_UP;
      h = (Temporal__Api__History__V1__History *)msg;
    }
  }
  rc = reader_finish(&r, rc);
  if (rc == 0) *out = h;
  return rc;
}
