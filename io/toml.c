/* io/toml.c — the TOML subset of temporal.toml. See io/toml.h. */
#include "io/toml.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twe/error.h"

typedef struct parser {
  const char *s, *end;
  int line;
  char *err;
  size_t err_len;
  int status; /* the first failure */
} parser_t;

/* A growing string. */
typedef struct str {
  char *p;
  size_t len, cap;
} str_t;

static int fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser_t *p, const char *fmt, ...) {
  if (p->status) return p->status;
  p->status = TWE_ECONFIG;
  if (p->err_len) {
    int n = snprintf(p->err, p->err_len, "line %d: ", p->line);
    if (n >= 0 && (size_t)n < p->err_len) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return p->status;
}

static int oom(parser_t *p) {
  if (!p->status) p->status = -ENOMEM;
  return p->status;
}

static int str_add(parser_t *p, str_t *s, const char *data, size_t n) {
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    while (cap < s->len + n + 1) cap *= 2;
    char *q = realloc(s->p, cap);
    if (!q) return oom(p);
    s->p = q;
    s->cap = cap;
  }
  memcpy(s->p + s->len, data, n);
  s->len += n;
  s->p[s->len] = 0;
  return 0;
}

static int str_ch(parser_t *p, str_t *s, char c) {
  return str_add(p, s, &c, 1);
}

static bool at(const parser_t *p, const char *lit) {
  size_t n = strlen(lit);
  return (size_t)(p->end - p->s) >= n && memcmp(p->s, lit, n) == 0;
}

static void skip_ws(parser_t *p) {
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t')) p->s++;
}

/* After a value or a header: blanks, an optional comment, then the end of
 * the line (or of the text). */
static int end_of_line(parser_t *p) {
  skip_ws(p);
  if (p->s < p->end && *p->s == '#')
    while (p->s < p->end && *p->s != '\n') p->s++;
  if (p->s < p->end && *p->s == '\r') p->s++;
  if (p->s == p->end) return 0;
  if (*p->s != '\n') return fail(p, "unexpected '%c' after the value", *p->s);
  p->s++;
  p->line++;
  return 0;
}

/* The UTF-8 bytes of code point cp. */
static int put_utf8(parser_t *p, str_t *s, uint32_t cp) {
  char b[4];
  size_t n;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return fail(p, "invalid unicode escape");
  if (cp < 0x80) {
    b[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xC0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xE0 | (cp >> 12));
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  return str_add(p, s, b, n);
}

/* A backslash escape of a basic string (p->s after the backslash). */
static int escape(parser_t *p, str_t *s, bool multiline) {
  if (p->s == p->end) return fail(p, "unterminated string");
  char c = *p->s++;
  switch (c) {
    case 'b': return str_ch(p, s, '\b');
    case 't': return str_ch(p, s, '\t');
    case 'n': return str_ch(p, s, '\n');
    case 'f': return str_ch(p, s, '\f');
    case 'r': return str_ch(p, s, '\r');
    case 'e': return str_ch(p, s, 0x1B);
    case '"': return str_ch(p, s, '"');
    case '\\': return str_ch(p, s, '\\');
    case 'u':
    case 'U': {
      int digits = c == 'u' ? 4 : 8;
      uint32_t cp = 0;
      for (int i = 0; i < digits; i++) {
        if (p->s == p->end) return fail(p, "unterminated unicode escape");
        char h = *p->s++;
        int v = h >= '0' && h <= '9'   ? h - '0'
                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                       : -1;
        if (v < 0) return fail(p, "bad hex digit in a unicode escape");
        cp = cp * 16 + (uint32_t)v;
      }
      return put_utf8(p, s, cp);
    }
    default:
      break;
  }
  if (multiline && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
    /* A line-ending backslash: the newline and the blanks after it go. */
    p->s--;
    const char *q = p->s;
    while (q < p->end && (*q == ' ' || *q == '\t')) q++;
    if (q < p->end && *q == '\r') q++;
    if (q == p->end || *q != '\n') return fail(p, "a backslash must end the line");
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) {
      if (*p->s == '\n') p->line++;
      p->s++;
    }
    return 0;
  }
  return fail(p, "unknown escape \\%c", c);
}

/* A string value (p->s at its opening quote) into *s. */
static int string_value(parser_t *p, str_t *s) {
  bool basic = *p->s == '"';
  const char *q3 = basic ? "\"\"\"" : "'''";
  bool multi = at(p, q3);
  p->s += multi ? 3 : 1;
  if (multi) { /* a newline right after the opening quotes is not part of it */
    if (at(p, "\r\n")) p->s += 2, p->line++;
    else if (at(p, "\n")) p->s++, p->line++;
  }
  for (;;) {
    if (p->s == p->end) return fail(p, "unterminated string");
    if (multi ? at(p, q3) : *p->s == (basic ? '"' : '\'')) {
      p->s += multi ? 3 : 1;
      /* Up to two more quotes belong to the string ("""a""""). */
      while (multi && p->s < p->end && *p->s == q3[0] && !at(p, q3)) {
        if (str_ch(p, s, *p->s++) < 0) return p->status;
      }
      return s->p ? 0 : str_add(p, s, "", 0);
    }
    char c = *p->s;
    if (c == '\n') {
      if (!multi) return fail(p, "newline in a string");
      p->line++;
    } else if ((unsigned char)c < 0x20 && c != '\t' && c != '\r') {
      return fail(p, "control character in a string");
    }
    p->s++;
    int rc = basic && c == '\\' ? escape(p, s, multi) : str_ch(p, s, c);
    if (rc < 0) return rc;
  }
}

static bool bare_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

/* A dotted key (bare or quoted parts) into *path, after prefix. */
static int key_path(parser_t *p, str_t *path) {
  for (;;) {
    skip_ws(p);
    if (p->s == p->end) return fail(p, "a key is missing");
    if (path->len && str_ch(p, path, '.') < 0) return p->status;
    if (*p->s == '"' || *p->s == '\'') {
      if (at(p, "\"\"\"") || at(p, "'''")) return fail(p, "a key cannot be a multi-line string");
      str_t part = {0};
      int rc = string_value(p, &part);
      if (rc == 0) rc = str_add(p, path, part.p ? part.p : "", part.len);
      free(part.p);
      if (rc < 0) return rc;
    } else {
      const char *k = p->s;
      while (p->s < p->end && bare_char(*p->s)) p->s++;
      if (p->s == k) return fail(p, "a key is missing");
      if (str_add(p, path, k, (size_t)(p->s - k)) < 0) return p->status;
    }
    skip_ws(p);
    if (p->s < p->end && *p->s == '.') {
      p->s++;
      continue;
    }
    return 0;
  }
}

/* An integer (decimal, underscores between digits). */
static int int_value(parser_t *p, long long *out) {
  const char *q = p->s;
  bool neg = false;
  if (*q == '+' || *q == '-') neg = *q++ == '-';
  long long v = 0;
  bool digit = false, prev_digit = false;
  for (; q < p->end; q++) {
    if (*q >= '0' && *q <= '9') {
      int d = *q - '0';
      if (v > (LLONG_MAX - d) / 10) return fail(p, "integer out of range");
      v = v * 10 + d;
      digit = prev_digit = true;
    } else if (*q == '_' && prev_digit && q + 1 < p->end && q[1] >= '0' && q[1] <= '9') {
      prev_digit = false;
    } else {
      break;
    }
  }
  if (!digit) return fail(p, "a value is missing or not supported");
  if (q < p->end && (*q == '.' || *q == 'e' || *q == 'E' || *q == ':' || *q == '-' ||
                     *q == 'x' || *q == 'o' || *q == 'b'))
    return fail(p, "floats, dates and non-decimal integers are not supported");
  p->s = q;
  *out = neg ? -v : v;
  return 0;
}

static int add_entry(parser_t *p, twe_toml_t *t, str_t *path, const twe_toml_entry_t *e) {
  if (twe__toml_get(t, path->p)) return fail(p, "duplicate key %s", path->p);
  twe_toml_entry_t *es = realloc(t->entries, (t->n + 1) * sizeof *es);
  if (!es) return oom(p);
  t->entries = es;
  es[t->n] = *e;
  es[t->n].path = path->p;
  path->p = NULL;
  t->n++;
  return 0;
}

static int parse(parser_t *p, twe_toml_t *t) {
  str_t table = {0};
  int rc = 0;
  while (rc == 0 && p->s < p->end) {
    skip_ws(p);
    if (p->s == p->end) break;
    char c = *p->s;
    if (c == '\n' || c == '\r' || c == '#') {
      rc = end_of_line(p);
      continue;
    }
    if (c == '[') {
      p->s++;
      if (p->s < p->end && *p->s == '[') {
        rc = fail(p, "arrays of tables are not supported");
        break;
      }
      free(table.p);
      table = (str_t){0};
      if ((rc = key_path(p, &table)) < 0) break;
      if (p->s == p->end || *p->s != ']') {
        rc = fail(p, "']' expected after the table name");
        break;
      }
      p->s++;
      rc = end_of_line(p);
      continue;
    }
    str_t path = {0};
    if (table.len) rc = str_add(p, &path, table.p, table.len);
    size_t before = path.len;
    if (rc == 0) rc = key_path(p, &path);
    if (rc == 0 && path.len == before) rc = fail(p, "a key is missing");
    if (rc == 0 && (p->s == p->end || *p->s != '=')) rc = fail(p, "'=' expected after the key");
    if (rc == 0) {
      p->s++;
      skip_ws(p);
      twe_toml_entry_t e = {.line = p->line};
      if (p->s == p->end || *p->s == '\n' || *p->s == '#') {
        rc = fail(p, "a value is missing");
      } else if (*p->s == '"' || *p->s == '\'') {
        str_t v = {0};
        e.type = TWE_TOML_STRING;
        rc = string_value(p, &v);
        e.string = v.p;
        if (rc == 0) rc = add_entry(p, t, &path, &e);
        else free(v.p);
      } else if (*p->s == '[' || *p->s == '{') {
        rc = fail(p, "arrays and inline tables are not supported");
      } else if (at(p, "true") || at(p, "false")) {
        e.type = TWE_TOML_BOOL;
        e.boolean = *p->s == 't';
        p->s += e.boolean ? 4 : 5;
        rc = add_entry(p, t, &path, &e);
      } else {
        e.type = TWE_TOML_INT;
        rc = int_value(p, &e.integer);
        if (rc == 0) rc = add_entry(p, t, &path, &e);
      }
    }
    free(path.p);
    if (rc == 0) rc = end_of_line(p);
  }
  free(table.p);
  return p->status ? p->status : rc;
}

int twe__toml_parse(const char *text, size_t len, twe_toml_t *out, char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  if (err_len) err[0] = 0;
  parser_t p = {.s = text, .end = text + len, .line = 1, .err = err, .err_len = err_len};
  if (memchr(text, 0, len)) {
    p.line = 1;
    for (const char *q = text; *q; q++) p.line += *q == '\n';
    return fail(&p, "NUL byte in the file");
  }
  int rc = parse(&p, out);
  if (rc < 0) twe__toml_free(out);
  return rc;
}

const twe_toml_entry_t *twe__toml_get(const twe_toml_t *t, const char *path) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->entries[i].path, path) == 0) return &t->entries[i];
  return NULL;
}

void twe__toml_free(twe_toml_t *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->entries[i].path);
    free(t->entries[i].string);
  }
  free(t->entries);
  memset(t, 0, sizeof *t);
}
