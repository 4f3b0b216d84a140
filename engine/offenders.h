/* engine/offenders.h — the runs the watchdog had to stop, remembered so
 * that the server's retries of their workflow tasks do not run the same
 * code blindly.
 *
 * When the watchdog preempts a task, the server retries it (a new attempt
 * every workflow task timeout). Running the same code again costs the same
 * again: a CPU loop its budget, a blocking call a retired thread each time,
 * until no thread is left. So the worker remembers each offending run:
 *   - blocked (its thread was retired, or it was abandoned while blocked):
 *     its tasks fail at once, before any of its code runs, while the
 *     retired thread is alive and until a hold has passed; the hold doubles
 *     with each offence (hold_ns, 2 x, 4 x, ... up to max_hold_ns). One run
 *     therefore never holds more than one retired thread;
 *   - cpu (preempted at its CPU budget): the next attempt runs with half
 *     the budget, a quarter after two offences, down to a sixteenth.
 * A task of the run that completes normally forgets it. The table is
 * bounded: past capacity, the run offended longest ago whose thread is gone
 * makes room.
 *
 * Thread: any (one mutex; a lookup while the table is empty takes no lock,
 * so a worker without offenders pays one atomic load per task). */
#ifndef TWE_ENGINE_OFFENDERS_H
#define TWE_ENGINE_OFFENDERS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/watchdog.h"

typedef struct twe__offenders twe__offenders_t;

enum twe__offence {
  TWE__OFFENCE_CPU = 1,     /* preempted at its CPU budget */
  TWE__OFFENCE_BLOCKED = 2, /* preempted while blocked, abandoned without a retirement */
  TWE__OFFENCE_RETIRED = 3, /* blocked where it could not be abandoned: cost a thread */
};

typedef struct twe__offenders_options {
  size_t capacity;     /* runs remembered (0: 4096) */
  int64_t hold_ns;     /* hold after a first blocking offence (0: 10 s) */
  int64_t max_hold_ns; /* the most a hold grows to (0: 10 min) */
} twe__offenders_options_t;

/* What to do with a task of an offending run. */
typedef struct twe__offender_verdict {
  bool hold;             /* fail the task at once, with message */
  int64_t cpu_budget_ns; /* 0: the default budget; else a smaller one */
  char message[640];
} twe__offender_verdict_t;

/* opts may be NULL (defaults). Returns 0 or -ENOMEM. */
int twe__offenders_create(const twe__offenders_options_t *opts, twe__offenders_t **out);
/* NULL is a no-op. */
void twe__offenders_destroy(twe__offenders_t *t);

/* Records an offence of run_id (workflow_type for messages). retired: the
 * retired thread's record (TWE__OFFENCE_RETIRED), which must stay readable
 * as long as the table (the watchdog keeps records until it is destroyed).
 * now_ns: CLOCK_MONOTONIC. */
void twe__offenders_record(twe__offenders_t *t, const char *run_id, const char *workflow_type,
                           enum twe__offence kind, twe__watched_t *retired, int64_t now_ns);
/* Whether run_id offended before; if so, fills *out. default_cpu_budget_ns
 * is the budget a smaller one is derived from (0: none). */
bool twe__offenders_check(twe__offenders_t *t, const char *run_id, int64_t default_cpu_budget_ns,
                          int64_t now_ns, twe__offender_verdict_t *out);
/* A task of run_id completed: it is forgiven. */
void twe__offenders_forget(twe__offenders_t *t, const char *run_id);
/* Runs remembered now. */
size_t twe__offenders_count(const twe__offenders_t *t);

#endif /* TWE_ENGINE_OFFENDERS_H */
