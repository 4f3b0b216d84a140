/* proto/registry.c — name -> descriptor index over the generated table. */
#include "proto/registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "twe/error.h"

/* Written by proto/gen_registry.cmake at build time. */
extern const ProtobufCMessageDescriptor *const twe__proto_registry[];
extern const size_t twe__proto_registry_count;

static const ProtobufCMessageDescriptor **sorted_by_name;
static pthread_once_t sorted_once = PTHREAD_ONCE_INIT;

static int compare_by_name(const void *a, const void *b) {
  const ProtobufCMessageDescriptor *const *da = a;
  const ProtobufCMessageDescriptor *const *db = b;
  return strcmp((*da)->name, (*db)->name);
}

/* pthread_once orders this against every later lookup, on any thread. If
 * the copy cannot be allocated, lookups fall back to a linear scan. */
static void build_index(void) {
  const ProtobufCMessageDescriptor **copy = malloc(twe__proto_registry_count * sizeof *copy);
  if (!copy) return;
  memcpy(copy, twe__proto_registry, twe__proto_registry_count * sizeof *copy);
  qsort(copy, twe__proto_registry_count, sizeof *copy, compare_by_name);
  sorted_by_name = copy;
}

/* strcmp of a NUL-terminated name against a counted one. */
static int compare_counted(const char *name, const char *key, size_t len) {
  int c = strncmp(name, key, len);
  if (c) return c;
  return name[len] ? 1 : 0;
}

const ProtobufCMessageDescriptor *twe__proto_descriptor_by_name(const char *full_name, size_t len) {
  pthread_once(&sorted_once, build_index);
  if (!sorted_by_name) {
    for (size_t i = 0; i < twe__proto_registry_count; i++)
      if (compare_counted(twe__proto_registry[i]->name, full_name, len) == 0)
        return twe__proto_registry[i];
    return NULL;
  }
  size_t lo = 0, hi = twe__proto_registry_count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = compare_counted(sorted_by_name[mid]->name, full_name, len);
    if (c == 0) return sorted_by_name[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const char *twe__proto_any_type_name(const char *type_url, size_t *len) {
  const char *slash = strrchr(type_url, '/');
  const char *name = slash ? slash + 1 : type_url;
  *len = strlen(name);
  return name;
}

int twe__proto_any_unpack(const Google__Protobuf__Any *any, twe_arena_t *arena,
                          ProtobufCMessage **out, const ProtobufCMessageDescriptor **desc_out) {
  size_t len;
  const char *name = twe__proto_any_type_name(any->type_url ? any->type_url : "", &len);
  const ProtobufCMessageDescriptor *desc = twe__proto_descriptor_by_name(name, len);
  *desc_out = desc;
  if (!desc) return TWE_EENCODING;
  return twe__proto_decode(desc, arena, any->value.data, any->value.len, out);
}
