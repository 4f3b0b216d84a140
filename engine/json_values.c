/* engine/json_values.c — packing and unpacking JSON payloads with jansson's
 * formats; see engine/json_values.h. */
#include "engine/json_values.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/values.h"
#include "twe/error.h"

/* err gets a non-retryable twe.InvalidArgument with what, in arena. */
static int json_error(twe_arena_t *arena, twe_error_info_t *err, const char *what,
                      const json_error_t *e) {
  if (!err) return TWE_EJSON;
  char msg[300];
  snprintf(msg, sizeof msg, "%s: %s", what, e && e->text[0] ? e->text : "invalid JSON");
  memset(err, 0, sizeof *err);
  err->type = "twe.InvalidArgument";
  err->message = twe__str(arena, msg);
  err->non_retryable = true;
  return TWE_EJSON;
}

int twe__json_vpack(twe_arena_t *arena, twe_payload_t *out, twe_error_info_t *err,
                    const char *fmt, va_list ap) {
  json_error_t e;
  json_t *v = json_vpack_ex(&e, 0, fmt, ap);
  if (!v) return json_error(arena, err, "cannot pack JSON", &e);
  const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
  size_t len = json_dumpb(v, NULL, 0, flags);
  char *text = len ? twe__arena_alloc(arena, len) : NULL;
  int rc = 0;
  if (!len) {
    rc = json_error(arena, err, "cannot serialise the packed JSON", NULL);
  } else if (!text) {
    rc = twe__arena_error(arena);
  } else if (json_dumpb(v, text, len, flags) != len) {
    rc = json_error(arena, err, "cannot serialise the packed JSON", NULL);
  } else {
    out->encoding = "json/plain";
    out->data = text;
    out->len = len;
  }
  json_decref(v);
  return rc;
}

int twe__json_vunpack(twe_arena_t *arena, twe__json_keep_t **keep, const twe_payload_t *p,
                      twe_error_info_t *err, const char *fmt, va_list ap) {
  json_error_t e;
  memset(&e, 0, sizeof e);
  if (!p || !twe_payload_is_json(p)) {
    snprintf(e.text, sizeof e.text, "the value is not json/plain (encoding %s)",
             p && p->encoding ? p->encoding : "none");
    return json_error(arena, err, "cannot unpack", &e);
  }
  json_t *doc = json_loadb(p->data, p->len, JSON_DECODE_ANY, &e);
  if (!doc) return json_error(arena, err, "cannot unpack: not JSON", &e);
  twe__json_keep_t *k = twe__arena_alloc(arena, sizeof *k);
  if (!k) {
    json_decref(doc);
    return twe__arena_error(arena);
  }
  k->doc = doc;
  k->next = *keep;
  *keep = k;
  if (json_vunpack_ex(doc, &e, 0, fmt, ap) < 0)
    return json_error(arena, err, "cannot unpack", &e);
  return 0;
}

void twe__json_release(twe__json_keep_t *keep) {
  for (; keep; keep = keep->next) json_decref(keep->doc);
}
