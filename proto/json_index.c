/* proto/json_index.c — the JSON keys of every registered message type and
 * the names of every enum their fields use, in one hash index, built once.
 *
 * The one-pass reader (json_text.c) looks up every key it reads; found by
 * a binary search of the .proto names, a snake_case conversion and a check
 * of the json_name, each lookup cost more than reading the value, and the
 * keys of a short history are mostly seen once. The index answers in one
 * hash and one compare. Entries are made in the order the lookup rules of
 * json.c go (.proto name before json_name, fields and enum values in
 * descriptor order, the first kept), so what the index says is what those
 * rules say; a key it does not know is left to them.
 *
 * Cost: about 5,800 keys, half a MiB with their table and names, built in
 * about 3 million instructions (a millisecond) at the first JSON text read. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "proto/json_internal.h"

/* Written by proto/gen_registry.cmake at build time. */
extern const ProtobufCMessageDescriptor *const twe__proto_registry[];
extern const size_t twe__proto_registry_count;

static struct {
  twe__json_key_t *keys;
  size_t n, cap;
  /* The key's hash (high half) and 1 + its index (low half; 0: free):
   * most probes that miss stop at the hash. */
  uint64_t *slots;
  size_t mask;
  twe_arena_t names; /* json_names and enum shorthands */
} ix;
static pthread_once_t ix_once = PTHREAD_ONCE_INIT;

static bool tree_type(const ProtobufCMessageDescriptor *d) {
  return d == &google__protobuf__any__descriptor || d == &google__protobuf__struct__descriptor ||
         d == &google__protobuf__value__descriptor ||
         d == &google__protobuf__list_value__descriptor;
}

uint32_t twe__json_field_flags(const ProtobufCFieldDescriptor *f) {
  if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE) return 0;
  const ProtobufCMessageDescriptor *d = f->descriptor;
  if (tree_type(d)) return TWE__JSON_KEY_TREE;
  if (f->label != PROTOBUF_C_LABEL_REPEATED || !twe__json_is_map_entry(d)) return 0;
  const ProtobufCFieldDescriptor *vf = &d->fields[1];
  if (vf->type == PROTOBUF_C_TYPE_MESSAGE && tree_type(vf->descriptor)) return TWE__JSON_KEY_TREE;
  return TWE__JSON_KEY_MAP;
}

static const twe__json_key_t *find(const void *desc, const char *key, size_t len) {
  uint32_t h = twe__json_key_hash(desc, key, len);
  for (size_t i = h & ix.mask;; i = (i + 1) & ix.mask) {
    uint64_t s = ix.slots[i];
    if (!s) return NULL;
    if ((uint32_t)(s >> 32) != h) continue;
    const twe__json_key_t *k = &ix.keys[(uint32_t)s - 1];
    if (k->desc == desc && k->len == len && twe__json_key_equal(k->key, key, len)) return k;
  }
}

/* Adds v unless its (desc, key) is there already: the first one stays. */
static void add(const twe__json_key_t *v) {
  if (ix.n == ix.cap || find(v->desc, v->key, v->len)) return; /* ix.cap: counted; never */
  uint32_t h = twe__json_key_hash(v->desc, v->key, v->len);
  size_t i = h & ix.mask;
  while (ix.slots[i]) i = (i + 1) & ix.mask;
  ix.keys[ix.n] = *v;
  ix.slots[i] = (uint64_t)h << 32 | (uint32_t)++ix.n;
}

/* name's json_name (twe__json_camel_equal's rule) in the names arena. */
static const char *camel(const char *name) {
  size_t n = strlen(name);
  char *out = twe__arena_alloc(&ix.names, n + 1), *o = out;
  if (!out) return NULL;
  bool up = false;
  for (; *name; name++) {
    char ch = *name;
    if (ch == '_') {
      up = true;
      continue;
    }
    if (up && ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
    up = false;
    *o++ = ch;
  }
  *o = '\0';
  return out;
}

/* rest ("WORKFLOW_EXECUTION_STARTED") in PascalCase, as
 * twe__json_pascal_equal reads it ("WorkflowExecutionStarted"). */
static const char *pascal(const char *rest) {
  char *out = twe__arena_alloc(&ix.names, strlen(rest) + 1);
  if (out) twe__json_pascal(rest, out);
  return out;
}

static void add_enum(const ProtobufCEnumDescriptor *ed) {
  if (!ed->n_values || find(ed, ed->values[0].name, strlen(ed->values[0].name))) return; /* seen */
  for (unsigned i = 0; i < ed->n_values; i++) {
    const char *name = ed->values[i].name;
    add(&(twe__json_key_t){
        .desc = ed, .key = name, .len = (uint32_t)strlen(name), .value = ed->values[i].value});
  }
  char prefix[160];
  size_t plen = twe__json_enum_prefix_len(ed, prefix, sizeof prefix);
  for (unsigned i = 0; i < ed->n_values; i++) {
    const char *rest = twe__json_enum_rest(ed->values[i].name, prefix, plen);
    const char *p = pascal(rest);
    if (p && twe__json_pascal_equal(rest, p))
      add(&(twe__json_key_t){
          .desc = ed, .key = p, .len = (uint32_t)strlen(p), .value = ed->values[i].value});
  }
}

static void add_message(const ProtobufCMessageDescriptor *d) {
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    add(&(twe__json_key_t){.desc = d,
                           .key = f->name,
                           .len = (uint32_t)strlen(f->name),
                           .flags = twe__json_field_flags(f),
                           .field = f});
  }
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *c = camel(f->name);
    if (c && twe__json_camel_equal(f->name, c))
      add(&(twe__json_key_t){.desc = d,
                             .key = c,
                             .len = (uint32_t)strlen(c),
                             .flags = twe__json_field_flags(f),
                             .field = f});
    if (f->type == PROTOBUF_C_TYPE_ENUM) add_enum(f->descriptor);
  }
}

/* pthread_once orders this against every later lookup, on any thread. On
 * a failed malloc the index stays empty and every key is looked up the
 * slow way. */
static void build(void) {
  size_t cap = 0;
  for (size_t i = 0; i < twe__proto_registry_count; i++) {
    const ProtobufCMessageDescriptor *d = twe__proto_registry[i];
    cap += 2 * d->n_fields;
    for (unsigned j = 0; j < d->n_fields; j++)
      if (d->fields[j].type == PROTOBUF_C_TYPE_ENUM)
        cap += 2 * ((const ProtobufCEnumDescriptor *)d->fields[j].descriptor)->n_values;
  }
  size_t slots = 1024;
  while (slots < 2 * cap) slots *= 2;
  ix.keys = malloc(cap * sizeof *ix.keys);
  ix.slots = calloc(slots, sizeof *ix.slots);
  if (!ix.keys || !ix.slots) {
    free(ix.keys);
    free(ix.slots);
    ix.keys = NULL;
    ix.slots = NULL;
    return;
  }
  ix.cap = cap;
  ix.mask = slots - 1;
  twe__arena_init(&ix.names, 0);
  for (size_t i = 0; i < twe__proto_registry_count; i++) add_message(twe__proto_registry[i]);
  twe__json_key_t *fit = realloc(ix.keys, ix.n * sizeof *ix.keys); /* cap was a bound */
  if (fit) ix.keys = fit;
}

const twe__json_key_t *twe__json_index_find(const void *desc, const char *key, size_t len) {
  pthread_once(&ix_once, build);
  return ix.slots ? find(desc, key, len) : NULL;
}
