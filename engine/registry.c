/* engine/registry.c — workflow and activity types by name (see
 * engine/registry.h). A few dozen types at most: a linear scan is cheaper
 * than hashing and keeps the tables in registration order. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "engine/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void twe__registry_init(twe_registry_t *reg) { memset(reg, 0, sizeof *reg); }

void twe__registry_destroy(twe_registry_t *reg) {
  for (size_t i = 0; i < reg->workflow_count; i++) free(reg->workflows[i].name);
  for (size_t i = 0; i < reg->activity_count; i++) free(reg->activities[i].name);
  free(reg->workflows);
  free(reg->activities);
  memset(reg, 0, sizeof *reg);
}

/* Grows *items (of elem bytes each) to hold one more. */
static int grow(void **items, size_t *cap, size_t count, size_t elem) {
  if (count < *cap) return 0;
  size_t n = *cap ? *cap * 2 : 8;
  void *p = realloc(*items, n * elem);
  if (!p) return -ENOMEM;
  *items = p;
  *cap = n;
  return 0;
}

int twe__registry_add_workflow(twe_registry_t *reg, const char *name, twe_workflow_fn fn,
                               void *user) {
  if (!name || !*name || !fn) return -EINVAL;
  if (twe__registry_workflow(reg, name)) return -EEXIST;
  int rc = grow((void **)&reg->workflows, &reg->workflow_cap, reg->workflow_count,
                sizeof *reg->workflows);
  if (rc < 0) return rc;
  char *copy = strdup(name);
  if (!copy) return -ENOMEM;
  reg->workflows[reg->workflow_count++] = (twe_registered_workflow_t){copy, fn, user};
  return 0;
}

int twe__registry_add_activity(twe_registry_t *reg, const char *name, twe_activity_fn fn,
                               void *user) {
  if (!name || !*name || !fn) return -EINVAL;
  if (twe__registry_activity(reg, name)) return -EEXIST;
  int rc = grow((void **)&reg->activities, &reg->activity_cap, reg->activity_count,
                sizeof *reg->activities);
  if (rc < 0) return rc;
  char *copy = strdup(name);
  if (!copy) return -ENOMEM;
  reg->activities[reg->activity_count++] = (twe_registered_activity_t){copy, fn, user};
  return 0;
}

const twe_registered_workflow_t *twe__registry_workflow(const twe_registry_t *reg,
                                                        const char *name) {
  for (size_t i = 0; name && i < reg->workflow_count; i++)
    if (strcmp(reg->workflows[i].name, name) == 0) return &reg->workflows[i];
  return NULL;
}

const twe_registered_activity_t *twe__registry_activity(const twe_registry_t *reg,
                                                        const char *name) {
  for (size_t i = 0; name && i < reg->activity_count; i++)
    if (strcmp(reg->activities[i].name, name) == 0) return &reg->activities[i];
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes the names, sorted, comma-separated, truncated to len. */
static void join_sorted(const char **names, size_t n, char *buf, size_t len) {
  if (!len) return;
  buf[0] = 0;
  qsort(names, n, sizeof *names, cmp_str);
  size_t used = 0;
  for (size_t i = 0; i < n && used + 1 < len; i++) {
    const char *sep = i ? ", " : "";
    for (const char *p = sep; *p && used + 1 < len; p++) buf[used++] = *p;
    for (const char *p = names[i]; *p && used + 1 < len; p++) buf[used++] = *p;
  }
  buf[used] = 0;
  if (n == 0) {
    const char *none = "none";
    size_t i = 0;
    for (; none[i] && i + 1 < len; i++) buf[i] = none[i];
    buf[i] = 0;
  }
}

void twe__registry_workflow_names(const twe_registry_t *reg, char *buf, size_t len) {
  const char **names = malloc((reg->workflow_count + 1) * sizeof *names);
  if (!names) {
    if (len) buf[0] = 0;
    return;
  }
  for (size_t i = 0; i < reg->workflow_count; i++) names[i] = reg->workflows[i].name;
  join_sorted(names, reg->workflow_count, buf, len);
  free(names);
}

void twe__registry_activity_names(const twe_registry_t *reg, char *buf, size_t len) {
  const char **names = malloc((reg->activity_count + 1) * sizeof *names);
  if (!names) {
    if (len) buf[0] = 0;
    return;
  }
  for (size_t i = 0; i < reg->activity_count; i++) names[i] = reg->activities[i].name;
  join_sorted(names, reg->activity_count, buf, len);
  free(names);
}
