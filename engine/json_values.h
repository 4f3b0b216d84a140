/* engine/json_values.h — JSON payloads packed and unpacked with jansson's
 * format strings (json_pack / json_unpack), for workflow and activity code
 * (twe_workflow_pack ..., twe_activity_pack ...): the text packed lands in
 * an arena, and the documents unpacked stay alive on a keep list until
 * their owner (the run, the activity attempt) ends, so the strings and
 * json_t pointers unpacking hands out need no free and leak nothing when a
 * run is evicted with its fibers abandoned.
 *
 * Thread: the owner's. */
#ifndef TWE_ENGINE_JSON_VALUES_H
#define TWE_ENGINE_JSON_VALUES_H
#include <jansson.h>
#include <stdarg.h>
#include "proto/arena.h"
#include "twe/value.h"

typedef struct twe__json_keep {
  json_t *doc;
  struct twe__json_keep *next;
} twe__json_keep_t;

/* Packs fmt/ap into a json/plain payload whose text is in arena. Returns 0,
 * or TWE_EJSON with jansson's reason in *err (strings in arena; err may be
 * NULL), or the arena's error. */
int twe__json_vpack(twe_arena_t *arena, twe_payload_t *out, twe_error_info_t *err,
                    const char *fmt, va_list ap);
/* Parses p (JSON) and unpacks it by fmt/ap; the document joins *keep (node
 * in arena) so what was unpacked stays valid until twe__json_release.
 * Returns 0, TWE_EJSON (not JSON, or not what fmt says: the reason in
 * *err), or the arena's error. */
int twe__json_vunpack(twe_arena_t *arena, twe__json_keep_t **keep, const twe_payload_t *p,
                      twe_error_info_t *err, const char *fmt, va_list ap);
/* Drops every document on keep (the nodes are the arena's). */
void twe__json_release(twe__json_keep_t *keep);

#endif /* TWE_ENGINE_JSON_VALUES_H */
