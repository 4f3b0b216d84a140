/* sched/pool.h — an activity thread pool: threads that run jobs which may
 * block (activity code, local activities), owned by one shard.
 *
 * Each shard owns its pool(s): the owner submits jobs, receives their results
 * and stops the pool; nothing else touches it. The pool is bounded and has no
 * queue: a job is accepted only when a thread is idle or one more may start
 * (try_submit says -EAGAIN otherwise), and the owner's slots (sched/slots.h)
 * decide how many jobs run at once and keep it from polling work it could
 * not start.
 *
 * Elastic: min_threads start with the pool and stay; more start as jobs
 * need them, up to threads; a thread above min_threads that stays idle for
 * idle_timeout_ns exits (blocked activities are cheap to give a thread,
 * idle threads are not worth keeping). A retiring thread is detached and
 * leaves on its own; its slot is reused once it is gone. Each thread has a mailbox from the owner (jobs) and one to
 * the owner (results): SPSC both ways, results wake the owner through its
 * waiter, and done callbacks run on the owner thread in twe__pool_reap.
 *
 * Threads are not pinned unless a CPU set is given (the CPU plan gives the
 * CPUs not taken by pinned shards). They run below the owner's shard thread
 * (SCHED_IDLE by default): workflow tasks must not wait behind activities
 * that happen to share a CPU with the shard. Stop: no new jobs; running jobs get a
 * grace period to finish; then they are asked to cancel
 * (twe__job_cancelled() turns true) and get a second period; a thread still
 * inside user code after that is abandoned, never waited on.
 */
#ifndef TWE_SCHED_POOL_H
#define TWE_SCHED_POOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/cpumask.h"
#include "sched/waiter.h"

typedef struct twe_pool twe_pool_t;
typedef struct twe_job twe_job_t;

/* Runs the job. May block. Should return soon after twe__job_cancelled(job)
 * turns true. Thread: a pool thread. */
typedef void (*twe_job_run_cb)(twe_job_t *job);

/* The job is back: status 0 when run returned, -ECANCELED when it was
 * cancelled before it started (run was not called). The job belongs to the
 * owner again. Fires exactly once per accepted job, except for jobs abandoned
 * by twe__pool_destroy. Thread: the owner, inside twe__pool_reap or
 * twe__pool_stop. */
typedef void (*twe_job_done_cb)(twe_job_t *job, int status);

/* Called instead of done for a job whose thread was abandoned (see
 * twe__pool_destroy), when its run finally returns, so that it can free what
 * it holds. May be NULL (the job then leaks). Thread: the abandoned pool
 * thread, after the owner is gone. */
typedef void (*twe_job_abandoned_cb)(twe_job_t *job);

/* A job: embed it in the caller's object. Belongs to the pool from an
 * accepted try_submit until done. */
struct twe_job {
  twe_job_run_cb run;
  twe_job_done_cb done;
  twe_job_abandoned_cb abandoned;
  void *arg;
  /* Internal. */
  _Atomic int cancel_requested; /* owner -> pool thread */
  unsigned worker;
};

/* How pool threads yield to the owner's shard thread. Each thread applies
 * it to itself when it starts, before its first job. A thread never ends up
 * above the priority it inherits from the creating thread. */
enum twe_pool_priority {
  /* SCHED_IDLE: the threads run only on CPU time nothing else at normal
   * priority wants (the default). */
  TWE_POOL_PRIORITY_IDLE = 0,
  /* SCHED_OTHER at the nice value `nice` (a real-time policy inherited from
   * the creator is dropped to SCHED_OTHER; a creator nicer than `nice`
   * keeps its own). */
  TWE_POOL_PRIORITY_NICE = 1,
  /* The creating thread's policy and nice value, unchanged. */
  TWE_POOL_PRIORITY_NORMAL = 2,
};

/* How long a thread above min_threads may idle before it exits (default). */
#define TWE_POOL_IDLE_TIMEOUT_NS (5ll * 1000000000ll)

typedef struct twe_pool_options {
  unsigned threads;          /* >= 1: the most jobs running at once */
  unsigned min_threads;      /* started at create and kept (0: threads, a
                              * fixed pool; more than threads: -EINVAL) */
  int64_t idle_timeout_ns;   /* 0: TWE_POOL_IDLE_TIMEOUT_NS */
  unsigned id;               /* thread names are twe-act-<id>-<i> */
  const twe_cpumask_t *cpus; /* allowed CPUs, or NULL to inherit; read by
                              * create only */
  size_t stack_size;         /* 0: the default */
  /* How pool threads yield to the owner's shard thread (workflow tasks must
   * not wait behind activities): an enum twe_pool_priority, 0 is IDLE. When
   * the OS refuses it, one line goes to stderr (once per pool) and the
   * threads carry on at the priority they inherited: the pool never fails
   * over it. */
  int priority;
  int nice; /* 1..19 with TWE_POOL_PRIORITY_NICE (0: 10); ignored otherwise */
  /* A CPU group each pool thread moves into as it starts
   * (sched/cpu_group.h), or NULL. A refusal is treated as the priority's:
   * one line to stderr per pool, and the thread runs where it is. It must
   * stay valid until every pool thread has moved (each does so as it
   * starts, right after naming itself; a refusal also reads its directory
   * for the line). */
  struct twe_cpu_group *cpu_group;
} twe_pool_options_t;

/* Creates the pool and starts its threads. owner: the owner thread's waiter
 * (a shard's), notified when results arrive; it must outlive the pool's
 * use by the owner. Returns 0 and *out, -EINVAL (no threads, an empty CPU
 * set, an unknown priority, a nice outside 0..19), -ENOMEM or a negative
 * errno from pthread_create. Thread: the owner. */
int twe__pool_create(const twe_pool_options_t *options, twe_waiter_t *owner, twe_pool_t **out);

/* Hands job to an idle thread, or to a new one below threads. Returns 0
 * (accepted: done will fire), -EAGAIN (every thread busy and no more may
 * start; nothing happened) or -ESHUTDOWN (stopping).
 * Thread: the owner. */
int twe__pool_try_submit(twe_pool_t *pool, twe_job_t *job);

/* Takes up to budget results and fires their done callbacks, then retires
 * the thread idle longest if it is past idle_timeout_ns and above
 * min_threads. Returns how many results. Fits twe_shard_poll_cb (via
 * twe__pool_poll). Thread: the owner. */
size_t twe__pool_reap(twe_pool_t *pool, size_t budget);

/* twe__pool_reap with the signature of a shard poller (arg is the pool). */
size_t twe__pool_poll(void *pool, size_t budget);

/* Threads idle / running a job. Thread: the owner. */
unsigned twe__pool_idle(const twe_pool_t *pool);
unsigned twe__pool_busy(const twe_pool_t *pool);
/* Jobs try_submit would accept now: idle threads plus threads that may
 * still start (0 once stopping). Threads alive now (started, not retired)
 * and the most that were at once. Thread: the owner. */
unsigned twe__pool_capacity(const twe_pool_t *pool);
unsigned twe__pool_threads(const twe_pool_t *pool);
unsigned twe__pool_peak(const twe_pool_t *pool);

/* The priority the pool's threads run at: the requested enum
 * twe_pool_priority, or TWE_POOL_PRIORITY_NORMAL once a thread was refused
 * it. Threads apply it as they start, before their first job: it is final
 * once every thread has run a job. Thread: any. */
int twe__pool_priority_applied(const twe_pool_t *pool);

/* Asks a running job to stop. Thread: the owner (any thread is safe). */
void twe__job_cancel(twe_job_t *job);

/* Whether the job was asked to stop. Thread: any (meant for run). */
bool twe__job_cancelled(const twe_job_t *job);

/* Stops the pool, waiting in the owner's loop (it parks on the owner's
 * waiter; reaping and done callbacks happen meanwhile): no more jobs; up to
 * grace_ns for running jobs to finish; then cancel them all and wait up to
 * cancel_wait_ns more; then let idle threads exit and join them. Returns 0
 * when every thread has exited, -ETIMEDOUT when some are still inside a
 * job's run (twe__pool_destroy abandons them). Thread: the owner, once. */
int twe__pool_stop(twe_pool_t *pool, int64_t grace_ns, int64_t cancel_wait_ns);

/* Frees the pool. Threads still running a job (after a stop that said
 * -ETIMEDOUT, or without a stop: then it stops with no grace) are detached:
 * their jobs' done never fires, their abandoned hook fires on their own
 * thread when run returns, and the last of them frees the pool's memory.
 * Returns the number of abandoned threads. Thread: the owner. */
unsigned twe__pool_destroy(twe_pool_t *pool);

#endif /* TWE_SCHED_POOL_H */
