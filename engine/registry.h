/* engine/registry.h — the workflow and activity types a worker knows, by
 * name.
 *
 * Filled before the worker starts, then only read (by every shard and pool
 * thread at once, without locks: nothing changes after start).
 *
 * Thread: add before start, on the owner's thread; find from any thread. */
#ifndef TWE_ENGINE_REGISTRY_H
#define TWE_ENGINE_REGISTRY_H
#include <stddef.h>
#include "twe/activity.h"
#include "twe/workflow.h"

typedef struct twe_registered_workflow {
  char *name;
  twe_workflow_fn fn;
  void *user;
} twe_registered_workflow_t;

typedef struct twe_registered_activity {
  char *name;
  twe_activity_fn fn;
  void *user;
} twe_registered_activity_t;

typedef struct twe_registry {
  twe_registered_workflow_t *workflows;
  size_t workflow_count, workflow_cap;
  twe_registered_activity_t *activities;
  size_t activity_count, activity_cap;
} twe_registry_t;

void twe__registry_init(twe_registry_t *reg);
void twe__registry_destroy(twe_registry_t *reg);
/* Returns 0, -EEXIST, -EINVAL (empty name, NULL fn), -ENOMEM. */
int twe__registry_add_workflow(twe_registry_t *reg, const char *name, twe_workflow_fn fn,
                               void *user);
int twe__registry_add_activity(twe_registry_t *reg, const char *name, twe_activity_fn fn,
                               void *user);
/* NULL when not registered. */
const twe_registered_workflow_t *twe__registry_workflow(const twe_registry_t *reg,
                                                        const char *name);
const twe_registered_activity_t *twe__registry_activity(const twe_registry_t *reg,
                                                        const char *name);
/* "a, b, c" (sorted) of the registered workflow / activity names into buf,
 * truncated to len; for error messages. */
void twe__registry_workflow_names(const twe_registry_t *reg, char *buf, size_t len);
void twe__registry_activity_names(const twe_registry_t *reg, char *buf, size_t len);

#endif /* TWE_ENGINE_REGISTRY_H */
