/* engine/watchdog.h — budgets for workflow tasks, time slices, and what
 * happens when a task goes over a budget.
 *
 * One watchdog thread per worker watches every shard thread while it
 * applies a workflow task. It charges two budgets, neither of them wall
 * time:
 *   cpu      the shard thread's CPU time in the task (read from the
 *            thread's CPU clock);
 *   blocked  the time the thread spent asleep in a system call (state S or
 *            D in /proc/self/task/<tid>/stat, sampled every tick).
 * Time the thread is runnable but not running (a busy machine, a CPU quota
 * throttling the process) is state R and counts for neither.
 *
 * Time slices: a task may be applied in several slices. Once a slice has
 * used slice_ns of CPU, the watchdog asks the thread to give the shard up
 * at the next safe point: workflow code at a safe instruction is switched
 * out by a second signal whose handler runs on the fiber's own stack (so
 * the interrupted registers wait in its frame until the fiber is resumed);
 * engine code yields at the end of a workflow API call, between fibers or
 * between history events. The run then answers TWE__RUN_SLICED and the
 * shard serves other tasks before it resumes this one. The budgets are
 * charged across slices (twe__watch_task_t carries them).
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
 *      Past max_retired retired threads alive it still does so, logging
 *      each one, up to hard_max_retired; at that cap the shard cannot be
 *      given a thread and the lost_shard hook is told (the worker stops:
 *      a worker that cannot serve says so instead of hanging).
 *
 * An idle worker's watchdog sleeps: after DOZE_AFTER ticks in a row (100 ms
 * by default) in which every watched thread was idle and none began a
 * task, it waits until the next twe__watch_task_begin wakes it (which costs
 * each task a seq_cst store and one load), so a worker with nothing to do is not
 * woken 100 times a second. A tick that finds every thread idle waits two
 * ticks for the next (a busy worker's tasks are mostly short).
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
  unsigned max_retired;      /* retired threads alive before each new one is
                                logged as over the limit (>= 1) */
  unsigned hard_max_retired; /* retired threads alive at most (0: 64; at
                                least max_retired) */
  int64_t slice_ns;          /* CPU per slice of a sliceable task (0: none) */
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
  /* rec's shard is stuck and cannot get a thread (hard_max_retired reached,
   * or no thread could be started); rec->message says why. Called once per
   * stuck task. */
  void (*lost_shard)(void *arg, twe__watched_t *rec);
  /* A line for the worker's log: level is a twe_log_level_t, type and run
   * name the workflow ("" when none). NULL: stderr. */
  void (*log)(void *arg, int level, unsigned shard, const char *type, const char *run,
              const char *message);
  void *arg;
} twe__watchdog_hooks_t;

typedef struct twe__watchdog_counters {
  _Atomic uint64_t cpu_warnings, blocked_warnings, preemptions;
  _Atomic uint64_t threads_retired, retired_alive;
  _Atomic uint64_t dozes; /* times the watchdog slept until a task began */
} twe__watchdog_counters_t;

/* What a task carries from one slice to the next, and its own limits. The
 * shard keeps one per task in flight; zero it when the task begins. */
typedef struct twe__watch_task {
  int64_t cpu_ns, blocked_ns; /* charged in earlier slices */
  int64_t cpu_budget_ns;      /* 0: the watchdog's (a smaller one for a run
                                 preempted before: engine/offenders.h) */
  int warned;                 /* warnings already logged (bits of
                                 enum twe__watch_reason) */
  bool sliceable;             /* may be ended at a slice */
} twe__watch_task_t;

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
  _Atomic int64_t task_cpu_start_ns; /* the thread's CPU clock when the task began,
                                       less what earlier slices used */
  _Atomic int64_t slice_cpu_start_ns; /* the thread's CPU clock when the slice began */
  _Atomic int64_t task_slice_ns;      /* this slice's length (0: not sliceable) */
  _Atomic int64_t task_cpu_budget_ns; /* this task's CPU budget (0: the default) */
  _Atomic int64_t carried_blocked_ns; /* blocked time of earlier slices */
  _Atomic int task_warned;            /* warnings logged (earlier slices, or this
                                         one: the watchdog adds bits) */
  _Atomic int64_t blocked_now_ns;     /* watchdog -> thread: blocked time of the
                                         task so far, for the next slice */
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
  /* Watchdog -> thread: the slice to end at the next safe point (0: none).
   * sliced: the thread ended one (thread-private; twe__watch_take_sliced). */
  _Atomic uint64_t yield_seq;
  bool sliced;

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
  uint64_t wd_quiet_state; /* the state word at the last tick (dozing) */
  int64_t wd_last_ns, wd_blocked_ns, wd_marked_ns, wd_last_signal_ns;
  uint64_t wd_unsafe_at_mark;
  bool wd_stuck_logged;
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
/* Describes what the threads watched for shard `shard` are doing now, for
 * a stop that ran past its deadline: each one's workflow type and run and,
 * when it is in a task, where (sampled with a signal, symbolized). Thread:
 * any but the watchdog's. */
void twe__watchdog_describe_shard(twe__watchdog_t *wd, unsigned shard, char *buf, size_t len);

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

/* A task (or a slice of one) begins / ends on this thread (rec may be
 * NULL: no-op). task may be NULL: one slice, the default budget. At the end
 * task holds the totals so far (this slice's use included). */
void twe__watch_task_begin(twe__watched_t *rec, const char *workflow_type, const char *run_id,
                           const twe__watch_task_t *task);
void twe__watch_task_end(twe__watched_t *rec, twe__watch_task_t *task);

/* Whether the current slice should end here (checked by engine code at
 * its safe points: between fibers, between history events). */
bool twe__watch_yield_due(const twe__watched_t *rec);
/* After a fiber came back to the scheduler: whether it came back because
 * its slice ended (rather than to wait); clears the flag. */
bool twe__watch_take_sliced(twe__watched_t *rec);
/* Why the last preempted task was stopped: enum twe__watch_reason. */
int twe__watch_preempt_reason(const twe__watched_t *rec);

/* Whether the current task was marked for preemption (scheduler side:
 * checked before resuming a fiber). */
bool twe__watch_preempt_due(const twe__watched_t *rec);
/* Formats the failure message of a preempted task into buf: type, run,
 * time used, budget and where (symbolized here, off the signal path). */
void twe__watch_preempt_message(twe__watched_t *rec, char *buf, size_t len);

/* --- on a workflow fiber (engine/workflow/run.c, engine/workflow/workflow_api.c) ------------ */

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
