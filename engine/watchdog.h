/* engine/watchdog.h — budgets for workflow tasks, and what happens when a
 * task goes over one.
 *
 * One watchdog thread per worker watches every shard thread while it
 * applies a workflow task. It charges two budgets, neither of them wall
 * time:
 *   cpu      the shard thread's CPU time since the task began (read from
 *            the thread's CPU clock);
 *   blocked  the time the thread spent asleep in a system call (state S or
 *            D in /proc/self/task/<tid>/stat, sampled every tick).
 * Time the thread is runnable but not running (a busy machine, a CPU quota
 * throttling the process) is state R and counts for neither.
 *
 * Crossing a warning threshold logs the workflow type, run id, time used
 * and the code location (sampled with a signal), once per task. Crossing a
 * budget preempts:
 *   1. The watchdog marks the task for preemption and signals the thread.
 *      The handler abandons the workflow's fiber (switches back to the
 *      scheduler, never to return to it) when the thread is in workflow
 *      code at a safe point: not in engine code (the thread's mode says
 *      so) and not inside libc, the allocator or another system library
 *      (engine/codemap.h). Engine code that holds the mark reaches a safe
 *      point soon: it checks at the end of every workflow API call and
 *      before resuming any fiber. The task then fails with
 *      WORKFLOW_WORKER_UNHANDLED_FAILURE and the run is dropped.
 *   2. Code that stays where it cannot be abandoned (blocked in a system
 *      call, spinning inside libc) for the retire grace after the mark costs
 *      its thread: the watchdog retires it (the thread may never touch the
 *      shard again; it exits at its next safe point, if one ever comes) and
 *      the worker starts a replacement thread that takes the shard over.
 *      At most max_retired retired threads may be alive at once.
 *
 * The thread's mode is one atomic word: IDLE (no task), ENGINE (a task, in
 * engine code), USER (a task, in workflow code) or RETIRED. Only the shard
 * thread moves between ENGINE and USER; the watchdog moves USER to RETIRED
 * with a compare-and-swap, so a thread coming back to engine code either
 * wins (and carries on) or finds itself retired (and exits).
 *
 * Threads: twe__watchdog_create/destroy/stats on the worker's owner thread;
 * twe__watch_attach and every twe__watch_* call below it on the shard
 * thread the record belongs to; the API guards on a workflow fiber. */
#ifndef TWE_ENGINE_WATCHDOG_H
#define TWE_ENGINE_WATCHDOG_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef struct twe__watchdog twe__watchdog_t;
typedef struct twe__watched twe__watched_t;

enum twe__watch_mode { TWE__WATCH_IDLE, TWE__WATCH_ENGINE, TWE__WATCH_USER, TWE__WATCH_RETIRED };
enum twe__watch_reason { TWE__WATCH_CPU = 1, TWE__WATCH_BLOCKED = 2 };

typedef struct twe__watchdog_options {
  /* 0: no limit for that threshold. */
  int64_t cpu_warning_ns, cpu_budget_ns;
  int64_t blocked_warning_ns, blocked_budget_ns;
  unsigned max_retired;      /* retired threads alive at once (>= 1) */
  int64_t tick_ns;           /* 0: 10 ms (or a twentieth of the smallest threshold) */
  int64_t retire_grace_ns;   /* 0: 100 ms */
} twe__watchdog_options_t;

/* What the worker does for the watchdog. Called on the watchdog thread. */
typedef struct twe__watchdog_hooks {
  /* rec's thread was retired: start a replacement for shard `shard`
   * (rec->shard) that first fails the task rec was applying with
   * rec->message. Return 0, or < 0 if no thread could be started (the
   * shard then stays stuck; the watchdog says so). */
  int (*replace_thread)(void *arg, twe__watched_t *rec);
  /* A retired thread has exited: what it left behind (its run's
   * arena and fiber stacks) may go. */
  void (*retired_gone)(void *arg, twe__watched_t *rec);
  void *arg;
} twe__watchdog_hooks_t;

typedef struct twe__watchdog_counters {
  _Atomic uint64_t cpu_warnings, blocked_warnings, preemptions;
  _Atomic uint64_t threads_retired, retired_alive;
} twe__watchdog_counters_t;

/* One watched shard thread. Fields are written by the thread itself unless
 * marked; the watchdog reads what it needs through the atomics. */
struct twe__watched {
  twe__watchdog_t *wd;
  unsigned shard;           /* the shard's index */
  pid_t tid;
  pthread_t thread;
  clockid_t cpu_clock;      /* the thread's CPU clock, readable by the watchdog */
  int stat_fd;              /* /proc/self/task/<tid>/stat, read by the watchdog */
  void *altstack;           /* the signal stack of this thread */
  size_t altstack_size;

  /* The mode and the task it is in, one word: (task sequence << 2) | enum
   * twe__watch_mode. One word so that the watchdog's USER -> RETIRED can
   * only hit the task it marked. Release on a new task publishes the
   * fields below. */
  _Atomic uint64_t state;
  uint64_t seq;                   /* the current task's sequence (thread-private) */
  _Atomic int64_t task_cpu_start_ns; /* the thread's CPU clock when the task began */
  pthread_mutex_t names_lock;     /* guards the two names (the watchdog copies them) */
  char workflow_type[128];
  char run_id[64];
  int depth;                      /* nested workflow API calls (thread-private) */
  const char *api_fn;             /* the outermost API call in progress */

  /* Watchdog -> thread: the task sequence to preempt (0: none), and why.
   * Release on preempt_seq publishes reason and the figures. */
  _Atomic uint64_t preempt_seq;
  _Atomic int preempt_reason;
  _Atomic int64_t preempt_used_ns, preempt_budget_ns;

  /* Signal handler -> watchdog: the last interrupted program counter; how
   * many signals the thread took; how many of them found it marked, in
   * workflow code, at a place it could not be abandoned (evidence for
   * retirement: a thread that merely waits for a CPU takes no signal). */
  _Atomic uintptr_t sampled_pc;
  _Atomic uint64_t samples;
  _Atomic uint64_t unsafe_samples;
  uintptr_t abandoned_pc;         /* where the handler abandoned the fiber */

  /* Retirement (written by the watchdog before the replacement starts):
   * the failure message for the task the thread was stuck in. */
  char message[1024];
  _Atomic bool gone;              /* the retired thread has exited */

  /* The watchdog's own bookkeeping (watchdog thread only). */
  uint64_t wd_seq;
  int64_t wd_last_ns, wd_blocked_ns, wd_marked_ns, wd_last_signal_ns;
  uint64_t wd_unsafe_at_mark;
  bool wd_cpu_warned, wd_blocked_warned, wd_stuck_logged;
  twe__watched_t *wd_next;
};

/* Creates the watchdog and starts its thread. Installs the process-wide
 * handler of the preemption signal (SIGRTMAX-3, or TWE_WATCHDOG_SIGNAL from
 * the environment) on first use. Returns 0, -ENOMEM or a pthread error. */
int twe__watchdog_create(const twe__watchdog_options_t *opts, const twe__watchdog_hooks_t *hooks,
                         twe__watchdog_t **out);
/* Stops the thread and frees the records. Retired threads still alive are
 * left alone (their records leak: they may still touch them).
 * After every shard thread is joined. NULL is a no-op. */
void twe__watchdog_destroy(twe__watchdog_t *wd);
const twe__watchdog_counters_t *twe__watchdog_counters(const twe__watchdog_t *wd);

/* --- on the watched shard thread --------------------------------------- */

/* Registers the calling thread for shard `shard`: its signal stack, its
 * /proc stat file, the thread-local record the API guards find. Returns
 * the record or NULL (out of memory: the thread runs unwatched). */
twe__watched_t *twe__watch_attach(twe__watchdog_t *wd, unsigned shard);
/* Unregisters the calling thread at its normal end. */
void twe__watch_detach(twe__watched_t *rec);
/* The calling thread's record, or NULL (not a watched thread). */
twe__watched_t *twe__watch_self(void);
/* rec's mode now (enum twe__watch_mode). Thread: any. */
int twe__watch_mode(const twe__watched_t *rec);

/* A task begins / ends on this thread (rec may be NULL: no-op). */
void twe__watch_task_begin(twe__watched_t *rec, const char *workflow_type, const char *run_id);
void twe__watch_task_end(twe__watched_t *rec);

/* Whether the current task was marked for preemption (scheduler side:
 * checked before resuming a fiber). */
bool twe__watch_preempt_due(const twe__watched_t *rec);
/* Formats the failure message of a preempted task into buf: type, run,
 * time used, budget and where (symbolized here, off the signal path). */
void twe__watch_preempt_message(twe__watched_t *rec, char *buf, size_t len);

/* --- on a workflow fiber (engine/run.c, engine/workflow_api.c) ------------ */

/* Workflow code starts / stops running on this fiber (the workflow
 * function's entry and return). Leaving exits the thread if it was retired
 * meanwhile. */
void twe__watch_user_enter(void);
void twe__watch_user_leave(void);
/* Guards of the workflow API: enter at the top of every twe_workflow_*
 * call (nested calls fine), leave when it returns (the cleanup attribute
 * below does it on every return path). Leaving the outermost call is a
 * safe point: a pending preemption abandons the fiber there. */
void twe__watch_api_enter(const char *fn);
void twe__watch_api_leave(int *unused);
/* Around a fiber's yield inside an API call: the nesting depth belongs to
 * the fiber, and other fibers run in between. */
int twe__watch_depth_save(void);
void twe__watch_depth_restore(int depth);
#define TWE__WATCH_API_GUARD()                                                             \
  __attribute__((cleanup(twe__watch_api_leave))) int twe__watch_guard_ = (twe__watch_api_enter(__func__), 0); \
  (void)twe__watch_guard_

#endif /* TWE_ENGINE_WATCHDOG_H */
