/* tests/proto/test_json_index.c — the key index (proto/json_index.c) says
 * what the lookup rules of proto/json.c say, for every field of every
 * registered message type (by .proto name and by json_name) and every
 * value of the enums they use (by name and by Temporal's shorthand), and
 * knows nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto/json_internal.h"

extern const ProtobufCMessageDescriptor *const twe__proto_registry[];
extern const size_t twe__proto_registry_count;

/* name's json_name, in buf. */
static const char *json_name(const char *name, char *buf, size_t size) {
  size_t n = 0;
  bool up = false;
  for (; *name && n + 1 < size; name++) {
    if (*name == '_') {
      up = true;
      continue;
    }
    buf[n++] = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
    up = false;
  }
  buf[n] = '\0';
  return buf;
}

static void check_field_key(const ProtobufCMessageDescriptor *d, const char *key) {
  const twe__json_key_t *k = twe__json_index_find(d, key, strlen(key));
  const ProtobufCFieldDescriptor *f = twe__json_find_field(d, key);
  if (!k || k->field != f) fail_msg("%s: key \"%s\": the index and the rules differ", d->name, key);
  assert_int_equal(k->flags, twe__json_field_flags(f));
}

static void check_enum_key(const ProtobufCEnumDescriptor *ed, const char *key) {
  int32_t want;
  assert_true(twe__json_enum_by_name(ed, key, &want));
  const twe__json_key_t *k = twe__json_index_find(ed, key, strlen(key));
  if (!k || k->value != want) fail_msg("%s: \"%s\": the index and the rules differ", ed->name, key);
}

static void test_json_index_find_agrees_with_rules(void **state) {
  (void)state;
  size_t fields = 0, values = 0;
  for (size_t i = 0; i < twe__proto_registry_count; i++) {
    const ProtobufCMessageDescriptor *d = twe__proto_registry[i];
    for (unsigned j = 0; j < d->n_fields; j++) {
      const ProtobufCFieldDescriptor *f = &d->fields[j];
      char buf[256];
      check_field_key(d, f->name);
      check_field_key(d, json_name(f->name, buf, sizeof buf));
      fields++;
      if (f->type != PROTOBUF_C_TYPE_ENUM) continue;
      const ProtobufCEnumDescriptor *ed = f->descriptor;
      char prefix[160];
      bool have = twe__json_enum_prefix(ed->short_name, prefix, sizeof prefix);
      for (unsigned v = 0; v < ed->n_values; v++) {
        const char *name = ed->values[v].name;
        check_enum_key(ed, name);
        /* The shorthand: the name without the prefix, in PascalCase. */
        const char *rest =
            have && !strncmp(name, prefix, strlen(prefix)) ? name + strlen(prefix) : name;
        size_t n = 0;
        bool start = true;
        for (; *rest && n + 1 < sizeof buf; rest++) {
          if (*rest == '_') {
            start = true;
            continue;
          }
          buf[n++] = !start && *rest >= 'A' && *rest <= 'Z' ? (char)(*rest - 'A' + 'a') : *rest;
          start = false;
        }
        buf[n] = '\0';
        if (n) check_enum_key(ed, buf);
        values++;
      }
    }
  }
  print_message("%zu fields and %zu enum values (with repeats) checked\n", fields, values);
  assert_true(fields > 1000);
  const ProtobufCMessageDescriptor *ev = &temporal__api__history__v1__history_event__descriptor;
  const twe__json_key_t *k = twe__json_index_find(ev, "eventId", 7);
  assert_non_null(k);
  assert_string_equal(k->field->name, "event_id");
}

static void test_json_index_find_unknown(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *ev = &temporal__api__history__v1__history_event__descriptor;
  assert_null(twe__json_index_find(ev, "noSuchField", 11));
  assert_null(twe__json_index_find(ev, "eventid", 7)); /* exact spelling only */
  assert_null(twe__json_index_find(ev, "eventI", 6));  /* a prefix */
  static const ProtobufCMessageDescriptor other = {0}; /* not in the registry */
  assert_null(twe__json_index_find(&other, "eventId", 7));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_index_find_agrees_with_rules),
      cmocka_unit_test(test_json_index_find_unknown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
