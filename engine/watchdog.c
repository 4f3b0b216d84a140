/* engine/watchdog.c — the watchdog thread, its signal handler and the mode
 * transitions of watched shard threads. See engine/watchdog.h for the
 * design; the hazards it answers are in DESIGN.md ("The watchdog").
 *
 * Why a signal: the only way to take a CPU away from code that never
 * returns to the engine is to interrupt it where it is. Why the handler
 * may switch away without returning: the interrupted code is workflow code
 * outside every library (engine/codemap.h says so from its program
 * counter), so nothing it holds belongs to anyone else; the run that owns
 * its memory is dropped whole. The handler restores the thread's signal
 * mask before it leaves, and leaves the signal stack by switching stacks
 * (the kernel decides "on the signal stack" from the stack pointer). */
#define _GNU_SOURCE /* gettid, sigaltstack, SCHED_IDLE */
#include "engine/watchdog.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine/codemap.h"
#include "engine/fiber.h"

#define NS_PER_S 1000000000ll
#define NS_PER_MS 1000000ll
/* Quiet ticks in a row (every thread idle, no task begun) before dozing. */
#define DOZE_AFTER 10

struct twe__watchdog {
  twe__watchdog_options_t opt;
  twe__watchdog_hooks_t hooks;
  twe__watchdog_counters_t counters;
  pthread_mutex_t lock; /* the lists; held by the watchdog during a tick */
  pthread_cond_t cond;  /* destroy, and a task begun while dozing, wake the thread */
  bool stop;
  /* The watchdog sleeps until a task begins (see doze). */
  _Atomic bool dozing;
  twe__watched_t *watched; /* attached threads, including retired ones still alive */
  twe__watched_t *dead;    /* retired and exited: freed at destroy */
  pthread_t thread;
  bool started;
};

/* The calling thread's record. Initial-exec: the signal handler reads it,
 * and that model needs no allocation on first access. */
static __thread twe__watched_t *tls_rec __attribute__((tls_model("initial-exec")));

/* The state word (see engine/watchdog.h). */
#define STATE(seq, mode) (((uint64_t)(seq) << 2) | (uint64_t)(mode))
#define STATE_MODE(w) ((int)((w) & 3u))
#define STATE_SEQ(w) ((w) >> 2)

/* g_signal samples, preempts and retires (its handler runs on the thread's
 * signal stack); g_yield_signal ends a slice (its handler runs on the
 * interrupted fiber's own stack: the frame holding the interrupted
 * registers must survive while other fibers use the signal stack). The
 * sample handler raises the yield signal at itself when the fiber may be
 * switched out, with room on its stack for the frame. */
static int g_signal, g_yield_signal;
static size_t g_yield_room; /* stack a yield frame needs below the fiber's sp */
static pthread_once_t g_signal_once = PTHREAD_ONCE_INIT;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t clock_ns(clockid_t c) {
  struct timespec ts;
  if (clock_gettime(c, &ts) != 0) return -1;
  return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* --- leaving for good ------------------------------------------------------ */

/* A retired thread reached a point where it may go: it exits at once,
 * without unwinding (its stack is a workflow fiber's) and without touching
 * the shard, which another thread owns now. Nobody joins it: a join would
 * hand its stack, and the static TLS in it, to the next thread created,
 * while libraries (jemalloc) still list that TLS as the dead thread's. Its
 * stack stays reserved (untouched pages cost nothing); the watchdog learns
 * of the exit from its /proc stat file, which fails once the task is gone. */
_Noreturn static void exit_retired(void) {
  for (;;) syscall(SYS_exit, 0);
}

/* --- the signal handler ------------------------------------------------------ */

static uintptr_t context_pc(const ucontext_t *uc) {
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.pc;
#else
  (void)uc;
  return 0;
#endif
}

static uintptr_t context_sp(const ucontext_t *uc) {
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.sp;
#else
  (void)uc;
  return 0;
#endif
}

/* Whether task seq is marked for preemption. */
static bool marked(const twe__watched_t *rec, uint64_t seq) {
  return seq != 0 && atomic_load_explicit(&rec->preempt_seq, memory_order_acquire) == seq;
}

/* Whether slice seq should end. */
static bool yield_marked(const twe__watched_t *rec, uint64_t seq) {
  return seq != 0 && atomic_load_explicit(&rec->yield_seq, memory_order_acquire) == seq;
}

/* Async-signal-safe throughout: atomics, the codemap's lock-free lookup,
 * sigprocmask, the fiber switch, exit. */
static void on_signal(int sig, siginfo_t *si, void *ucv) {
  (void)sig;
  (void)si;
  twe__watched_t *rec = tls_rec;
  if (!rec) return;
  int saved_errno = errno;
  ucontext_t *uc = ucv;
  uintptr_t pc = context_pc(uc);
  atomic_store_explicit(&rec->sampled_pc, pc, memory_order_relaxed);
  atomic_fetch_add_explicit(&rec->samples, 1, memory_order_release);
  uint64_t state = atomic_load_explicit(&rec->state, memory_order_acquire);
  int mode = STATE_MODE(state);
  uint64_t seq = STATE_SEQ(state);
  if (mode == TWE__WATCH_RETIRED) {
    if (twe__codemap_pc_is_safe(pc)) exit_retired();
  } else if (mode == TWE__WATCH_USER && marked(rec, seq)) {
    if (!twe__codemap_pc_is_safe(pc)) {
      atomic_fetch_add_explicit(&rec->unsafe_samples, 1, memory_order_relaxed);
    } else {
      uint64_t expected = state;
      if (atomic_compare_exchange_strong_explicit(&rec->state, &expected,
                                                  STATE(seq, TWE__WATCH_ENGINE),
                                                  memory_order_acq_rel, memory_order_acquire)) {
        rec->abandoned_pc = pc;
        rec->depth = 0;
        sigprocmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
        twe__fiber_abandon();
      }
      if (STATE_MODE(expected) == TWE__WATCH_RETIRED) exit_retired();
    }
  } else if (mode == TWE__WATCH_USER && yield_marked(rec, seq) && g_yield_signal &&
             twe__codemap_pc_is_safe(pc) &&
             twe__fiber_room(context_sp(uc)) >= g_yield_room) {
    /* Pending until this handler returns (it is in our sa_mask), then
     * delivered at pc, on the fiber's stack. */
    syscall(SYS_tgkill, getpid(), rec->tid, g_yield_signal);
  }
  errno = saved_errno;
}

/* The yield signal's handler, on the fiber's own stack: its frame keeps the
 * interrupted registers while the fiber is switched out. Resumed (perhaps
 * by another thread, when this one was retired meanwhile), it returns and
 * the kernel restores them. */
static void on_yield(int sig, siginfo_t *si, void *ucv) {
  (void)sig;
  (void)si;
  twe__watched_t *rec = tls_rec;
  if (!rec || !twe__fiber_current()) return;
  ucontext_t *uc = ucv;
  uint64_t state = atomic_load_explicit(&rec->state, memory_order_acquire);
  uint64_t seq = STATE_SEQ(state);
  /* A preemption mark wins: the sample handler abandons the fiber. */
  if (STATE_MODE(state) != TWE__WATCH_USER || !yield_marked(rec, seq) || marked(rec, seq) ||
      !twe__codemap_pc_is_safe(context_pc(uc)))
    return;
  uint64_t expected = state;
  if (!atomic_compare_exchange_strong_explicit(&rec->state, &expected,
                                               STATE(seq, TWE__WATCH_ENGINE),
                                               memory_order_acq_rel, memory_order_acquire)) {
    if (STATE_MODE(expected) == TWE__WATCH_RETIRED) exit_retired();
    return;
  }
  int saved_errno = errno;
  rec->sliced = true;
  rec->depth = 0;
  /* Other fibers and the shard run with the interrupted mask, not the
   * handler's. */
  sigprocmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
  twe__fiber_yield();
  /* Resumed in a later slice, maybe on another thread: its record, its
   * signal stack (sigreturn installs the one saved in the frame). Block
   * our signals until sigreturn restores the interrupted mask. */
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, g_signal);
  sigaddset(&block, g_yield_signal);
  sigprocmask(SIG_BLOCK, &block, NULL);
  stack_t ss;
  if (sigaltstack(NULL, &ss) == 0) uc->uc_stack = ss;
  rec = tls_rec;
  if (rec) {
    rec->depth = 0;
    atomic_store_explicit(&rec->state, STATE(rec->seq, TWE__WATCH_USER), memory_order_release);
  }
  errno = saved_errno;
}

static void install_signal(void) {
  int sig = SIGRTMAX - 3;
  const char *env = getenv("TWE_WATCHDOG_SIGNAL");
  if (env && *env) {
    long v = strtol(env, NULL, 10);
    if (v >= SIGRTMIN && v <= SIGRTMAX) sig = (int)v;
    else fprintf(stderr, "twe: watchdog: TWE_WATCHDOG_SIGNAL=%s is not a real-time signal "
                 "(%d..%d); using %d\n", env, SIGRTMIN, SIGRTMAX, sig);
  }
  struct sigaction old;
  if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
    fprintf(stderr, "twe: watchdog: signal %d already had a handler; the watchdog takes it "
            "(set TWE_WATCHDOG_SIGNAL to move it)\n", sig);
  int ysig = sig - 1;
  if (ysig < SIGRTMIN || (sigaction(ysig, NULL, &old) == 0 && old.sa_handler != SIG_DFL &&
                          old.sa_handler != SIG_IGN))
    ysig = 0; /* taken: slices end only in engine code */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  /* SA_RESTART: workflow code blocked in a system call that the watchdog
   * only samples carries on as if nothing happened. */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (ysig) sigaddset(&sa.sa_mask, ysig);
  if (sigaction(sig, &sa, NULL) != 0) {
    fprintf(stderr, "twe: watchdog: sigaction(%d): %s; budgets will log but not preempt\n", sig,
            strerror(errno));
    sig = 0;
  }
#if defined(__SANITIZE_THREAD__)
  /* TSan runs handlers later, from its own frames: a handler that switches
   * fibers there would confuse it. Slices end in engine code only. */
  ysig = 0;
#endif
  if (sig && ysig) {
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_yield;
    sa.sa_flags = SA_SIGINFO | SA_RESTART; /* no SA_ONSTACK: on the fiber's stack */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, sig);
    if (sigaction(ysig, &sa, NULL) != 0) ysig = 0;
  }
  /* The kernel's frame (registers, FP and vector state), the handler and
   * the switch, with a margin: what must be free below the fiber's sp. */
#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51 /* the kernel's auxv entry (elf.h), absent from older headers */
#endif
  long frame = (long)getauxval(AT_MINSIGSTKSZ);
  if (frame <= 0) frame = 4096;
  g_yield_room = (size_t)frame + 8192;
  g_signal = sig;
  g_yield_signal = sig ? ysig : 0;
}

/* --- on the watched thread ------------------------------------------------------ */

twe__watched_t *twe__watch_self(void) { return tls_rec; }

int twe__watch_mode(const twe__watched_t *rec) {
  return STATE_MODE(atomic_load_explicit(&rec->state, memory_order_acquire));
}

twe__watched_t *twe__watch_attach(twe__watchdog_t *wd, unsigned shard) {
  if (!wd) return NULL;
  twe__watched_t *rec = calloc(1, sizeof *rec);
  if (!rec) return NULL;
  rec->wd = wd;
  rec->shard = shard;
  rec->tid = gettid();
  rec->thread = pthread_self();
  rec->stat_fd = -1;
  if (pthread_getcpuclockid(rec->thread, &rec->cpu_clock) != 0) rec->cpu_clock = CLOCK_THREAD_CPUTIME_ID;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)rec->tid);
  rec->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
  /* The handler runs on its own stack: a fiber's 64 KiB may be nearly used
   * up by the code being interrupted. */
  size_t size = 64 * 1024;
  long min = sysconf(_SC_SIGSTKSZ);
  if (min > 0 && (size_t)min * 4 > size) size = (size_t)min * 4;
  void *stk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stk != MAP_FAILED) {
    stack_t ss = {.ss_sp = stk, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) == 0) {
      rec->altstack = stk;
      rec->altstack_size = size;
    } else {
      munmap(stk, size);
    }
  }
  pthread_mutex_init(&rec->names_lock, NULL);
  atomic_init(&rec->state, STATE(0, TWE__WATCH_IDLE));
  tls_rec = rec;
  pthread_mutex_lock(&wd->lock);
  rec->wd_next = wd->watched;
  wd->watched = rec;
  pthread_mutex_unlock(&wd->lock);
  return rec;
}

static void free_record(twe__watched_t *rec) {
  if (rec->stat_fd >= 0) close(rec->stat_fd);
  if (rec->altstack) munmap(rec->altstack, rec->altstack_size);
  pthread_mutex_destroy(&rec->names_lock);
  free(rec);
}

static void unlink_record(twe__watchdog_t *wd, twe__watched_t *rec) {
  for (twe__watched_t **pp = &wd->watched; *pp; pp = &(*pp)->wd_next)
    if (*pp == rec) {
      *pp = rec->wd_next;
      rec->wd_next = NULL;
      return;
    }
}

void twe__watch_detach(twe__watched_t *rec) {
  if (!rec) return;
  twe__watchdog_t *wd = rec->wd;
  tls_rec = NULL;
  if (rec->altstack) {
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
  }
  pthread_mutex_lock(&wd->lock);
  unlink_record(wd, rec);
  pthread_mutex_unlock(&wd->lock);
  free_record(rec);
}

/* A task began while the watchdog dozed: the first to see it wakes it. */
static void wake_dozing(twe__watchdog_t *wd) {
  if (!atomic_exchange_explicit(&wd->dozing, false, memory_order_acq_rel)) return;
  /* Under the lock: the watchdog holds it from its last look until it
   * waits, so the signal cannot fall between the two. */
  pthread_mutex_lock(&wd->lock);
  pthread_cond_signal(&wd->cond);
  pthread_mutex_unlock(&wd->lock);
}

/* name (NULL: "") into dst, cut to fit: once per task, so no snprintf. */
static void copy_name(char *dst, size_t size, const char *name) {
  size_t n = name ? strnlen(name, size - 1) : 0;
  memcpy(dst, name ? name : "", n);
  dst[n] = 0;
}

void twe__watch_task_begin(twe__watched_t *rec, const char *workflow_type, const char *run_id,
                           const twe__watch_task_t *task) {
  if (!rec) return;
  pthread_mutex_lock(&rec->names_lock);
  copy_name(rec->workflow_type, sizeof rec->workflow_type, workflow_type);
  copy_name(rec->run_id, sizeof rec->run_id, run_id);
  pthread_mutex_unlock(&rec->names_lock);
  int64_t now = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  atomic_store_explicit(&rec->task_cpu_start_ns, now - (task ? task->cpu_ns : 0),
                        memory_order_relaxed);
  atomic_store_explicit(&rec->slice_cpu_start_ns, now, memory_order_relaxed);
  atomic_store_explicit(&rec->task_slice_ns,
                        task && task->sliceable ? rec->wd->opt.slice_ns : 0,
                        memory_order_relaxed);
  atomic_store_explicit(&rec->task_cpu_budget_ns, task ? task->cpu_budget_ns : 0,
                        memory_order_relaxed);
  atomic_store_explicit(&rec->carried_blocked_ns, task ? task->blocked_ns : 0,
                        memory_order_relaxed);
  atomic_store_explicit(&rec->blocked_now_ns, task ? task->blocked_ns : 0, memory_order_relaxed);
  atomic_store_explicit(&rec->task_warned, task ? task->warned : 0, memory_order_relaxed);
  rec->depth = 0;
  rec->api_fn = NULL;
  rec->abandoned_pc = 0;
  rec->sliced = false;
  /* The store releases: the watchdog that sees the new sequence sees the
   * fields above. And it is seq_cst: either the watchdog, about to doze,
   * sees this state (and stays up), or the load below sees it dozing (and
   * wakes it); both sides store, then load, seq_cst (no fence: TSan does
   * not support them). */
  rec->seq++;
  atomic_store_explicit(&rec->state, STATE(rec->seq, TWE__WATCH_ENGINE), memory_order_seq_cst);
  if (atomic_load_explicit(&rec->wd->dozing, memory_order_seq_cst)) wake_dozing(rec->wd);
}

void twe__watch_task_end(twe__watched_t *rec, twe__watch_task_t *task) {
  if (!rec) return;
  atomic_store_explicit(&rec->state, STATE(rec->seq, TWE__WATCH_IDLE), memory_order_release);
  if (!task) return;
  int64_t now = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  task->cpu_ns = now - atomic_load_explicit(&rec->task_cpu_start_ns, memory_order_relaxed);
  /* Acquire: pairs with the watchdog's release of its latest figures (a
   * tick still under way may add a little after this; it is lost). */
  task->blocked_ns = atomic_load_explicit(&rec->blocked_now_ns, memory_order_acquire);
  task->warned = atomic_load_explicit(&rec->task_warned, memory_order_acquire);
}

bool twe__watch_preempt_due(const twe__watched_t *rec) {
  return rec && marked(rec, rec->seq);
}

bool twe__watch_yield_due(const twe__watched_t *rec) {
  return rec && yield_marked(rec, rec->seq);
}

bool twe__watch_take_sliced(twe__watched_t *rec) {
  if (!rec || !rec->sliced) return false;
  rec->sliced = false;
  return true;
}

int twe__watch_preempt_reason(const twe__watched_t *rec) {
  return rec ? atomic_load_explicit(&rec->preempt_reason, memory_order_relaxed) : 0;
}

void twe__watch_user_enter(void) {
  twe__watched_t *rec = tls_rec;
  if (!rec) return;
  rec->depth = 0;
  /* A store is enough: only this thread leaves ENGINE, and the watchdog
   * retires only from USER. */
  atomic_store_explicit(&rec->state, STATE(rec->seq, TWE__WATCH_USER), memory_order_release);
}

void twe__watch_user_leave(void) {
  twe__watched_t *rec = tls_rec;
  if (!rec) return;
  uint64_t expected = STATE(rec->seq, TWE__WATCH_USER);
  if (!atomic_compare_exchange_strong_explicit(&rec->state, &expected,
                                               STATE(rec->seq, TWE__WATCH_ENGINE),
                                               memory_order_acq_rel, memory_order_acquire) &&
      STATE_MODE(expected) == TWE__WATCH_RETIRED)
    exit_retired(); /* another thread owns the shard now: not one more step */
}

void twe__watch_api_enter(const char *fn) {
  twe__watched_t *rec = tls_rec;
  if (!rec) return;
  if (rec->depth++ == 0) {
    /* Named first: a signal landing before the switch below abandons the
     * fiber "at the start of its call to fn". */
    rec->api_fn = fn;
    twe__watch_user_leave();
  }
}

void twe__watch_api_leave(int *unused) {
  (void)unused;
  twe__watched_t *rec = tls_rec;
  if (!rec || rec->depth <= 0) return;
  if (--rec->depth > 0) return;
  /* The end of the outermost call: engine state is whole again, so this is
   * a safe point to leave the fiber for good. */
  if (marked(rec, rec->seq)) {
    rec->abandoned_pc = 0;
    twe__fiber_abandon();
  }
  rec->api_fn = NULL;
  if (yield_marked(rec, rec->seq) && twe__fiber_current()) {
    /* The slice is over: back to the scheduler, in engine mode; resumed
     * in a later slice (perhaps on another thread, with its own record). */
    rec->sliced = true;
    twe__fiber_yield();
  }
  twe__watch_user_enter();
}

int twe__watch_depth_save(void) {
  twe__watched_t *rec = tls_rec;
  return rec ? rec->depth : 0;
}

void twe__watch_depth_restore(int depth) {
  twe__watched_t *rec = tls_rec;
  if (rec) rec->depth = depth;
}

/* --- messages ---------------------------------------------------------------------- */

static void copy_names(twe__watched_t *rec, char *type, size_t tlen, char *run, size_t rlen) {
  pthread_mutex_lock(&rec->names_lock);
  snprintf(type, tlen, "%s", rec->workflow_type);
  snprintf(run, rlen, "%s", rec->run_id);
  pthread_mutex_unlock(&rec->names_lock);
}

static void describe_use(char *buf, size_t len, int reason, int64_t used, int64_t limit,
                         const char *limit_name) {
  if (reason == TWE__WATCH_CPU)
    snprintf(buf, len, "used %.2f s of CPU in this task, over its %s of %.2f s",
             (double)used / NS_PER_S, limit_name, (double)limit / NS_PER_S);
  else
    snprintf(buf, len, "was blocked in a system call for %.2f s in this task, over its %s of "
             "%.2f s", (double)used / NS_PER_S, limit_name, (double)limit / NS_PER_S);
}

void twe__watch_preempt_message(twe__watched_t *rec, char *buf, size_t len) {
  int reason = atomic_load_explicit(&rec->preempt_reason, memory_order_relaxed);
  int64_t used = atomic_load_explicit(&rec->preempt_used_ns, memory_order_relaxed);
  int64_t budget = atomic_load_explicit(&rec->preempt_budget_ns, memory_order_relaxed);
  if (reason == TWE__WATCH_CPU) {
    int64_t now = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    int64_t start = atomic_load_explicit(&rec->task_cpu_start_ns, memory_order_relaxed);
    if (now >= 0 && start >= 0 && now - start > used) used = now - start;
  }
  char type[128], run[64], use[192], where[256];
  copy_names(rec, type, sizeof type, run, sizeof run);
  describe_use(use, sizeof use, reason, used, budget, "budget");
  char sym[224] = "";
  if (rec->abandoned_pc) twe__codemap_symbolize(rec->abandoned_pc, sym, sizeof sym);
  if (rec->abandoned_pc && !(rec->api_fn && strncmp(sym, "twe__watch_", 11) == 0)) {
    snprintf(where, sizeof where, "interrupted at %s", sym);
  } else if (rec->abandoned_pc) {
    snprintf(where, sizeof where, "interrupted at the start of its call to %s", rec->api_fn);
  } else if (rec->api_fn) {
    snprintf(where, sizeof where, "stopped at the end of its call to %s", rec->api_fn);
  } else {
    snprintf(where, sizeof where, "stopped between two of its activations");
  }
  snprintf(buf, len, "workflow task preempted by the twe watchdog: workflow \"%s\" (run %s) %s; "
           "%s", type, run, use, where);
  atomic_fetch_add_explicit(&rec->wd->counters.preemptions, 1, memory_order_relaxed);
}

/* --- the watchdog thread -------------------------------------------------------------- */

static void send_signal(twe__watched_t *rec, int64_t now) {
  rec->wd_last_signal_ns = now;
  if (g_signal) pthread_kill(rec->thread, g_signal);
}

/* Signals rec's thread and waits (briefly) for the handler to record where
 * it was. Returns the program counter, or 0. */
static uintptr_t sample_pc(twe__watched_t *rec, int64_t now) {
  uint64_t before = atomic_load_explicit(&rec->samples, memory_order_acquire);
  send_signal(rec, now);
  for (int i = 0; i < 50; i++) {
    if (atomic_load_explicit(&rec->samples, memory_order_acquire) != before)
      return atomic_load_explicit(&rec->sampled_pc, memory_order_relaxed);
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

static void where_now(twe__watched_t *rec, int64_t now, char *buf, size_t len) {
  uintptr_t pc = sample_pc(rec, now);
  if (pc) twe__codemap_symbolize(pc, buf, len);
  else snprintf(buf, len, "(no sample: the thread did not take the signal)");
}

static void describe(twe__watched_t *rec, char *buf, size_t len) {
  uint64_t st = atomic_load_explicit(&rec->state, memory_order_acquire);
  int mode = STATE_MODE(st);
  char type[128], run[64], where[224] = "";
  copy_names(rec, type, sizeof type, run, sizeof run);
  if (mode == TWE__WATCH_IDLE) {
    snprintf(buf, len, "thread %d is between tasks", (int)rec->tid);
    return;
  }
  /* Not send_signal: the last-signal time is the watchdog thread's own. */
  uint64_t before = atomic_load_explicit(&rec->samples, memory_order_acquire);
  uintptr_t pc = 0;
  if (g_signal && pthread_kill(rec->thread, g_signal) == 0)
    for (int i = 0; i < 100 && !pc; i++) {
      if (atomic_load_explicit(&rec->samples, memory_order_acquire) != before)
        pc = atomic_load_explicit(&rec->sampled_pc, memory_order_relaxed);
      else nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
  if (pc) twe__codemap_symbolize(pc, where, sizeof where);
  else snprintf(where, sizeof where, "(no sample: the thread did not take the signal)");
  snprintf(buf, len, "thread %d is %s workflow \"%s\" (run %s), at %s", (int)rec->tid,
           mode == TWE__WATCH_USER      ? "in the code of"
           : mode == TWE__WATCH_RETIRED ? "retired, still in the code of"
                                        : "in engine code for",
           type, run, where);
}

void twe__watchdog_describe_shard(twe__watchdog_t *wd, unsigned shard, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  pthread_mutex_lock(&wd->lock);
  for (twe__watched_t *rec = wd->watched; rec && used + 1 < len; rec = rec->wd_next) {
    if (rec->shard != shard) continue;
    char one[512];
    describe(rec, one, sizeof one);
    int n = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", one);
    if (n < 0) break;
    used += (size_t)n < len - used ? (size_t)n : len - used - 1;
  }
  pthread_mutex_unlock(&wd->lock);
  if (!used) snprintf(buf, len, "no watched thread");
}

/* The thread's scheduler state from /proc: 'R', 'S', 'D', ... or 0. */
static char thread_state(const twe__watched_t *rec) {
  if (rec->stat_fd < 0) return 0;
  char buf[512];
  ssize_t n = pread(rec->stat_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *paren = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
  return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* A line for the worker's log (the log hook), else stderr. level: a
 * twe_log_level_t (2: warn, 3: error). */
static void say(twe__watchdog_t *wd, int level, unsigned shard, const char *type,
                const char *run, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void say(twe__watchdog_t *wd, int level, unsigned shard, const char *type,
                const char *run, const char *fmt, ...) {
  char msg[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (wd->hooks.log) wd->hooks.log(wd->hooks.arg, level, shard, type, run, msg);
  else fprintf(stderr, "twe: watchdog: shard %u: %s\n", shard, msg);
}

static void warn(twe__watched_t *rec, int reason, int64_t used, int64_t warning, int64_t budget,
                 int64_t now) {
  twe__watchdog_t *wd = rec->wd;
  char type[128], run[64], use[192], where[224];
  copy_names(rec, type, sizeof type, run, sizeof run);
  describe_use(use, sizeof use, reason, used, warning, "warning threshold");
  where_now(rec, now, where, sizeof where);
  char budget_text[64] = "no budget";
  if (budget > 0) snprintf(budget_text, sizeof budget_text, "budget %.2f s", (double)budget / NS_PER_S);
  say(wd, 2, rec->shard, type, run, "watchdog: workflow \"%s\" (run %s) %s (%s); now at %s",
      type, run, use, budget_text, where);
  atomic_fetch_add_explicit(reason == TWE__WATCH_CPU ? &wd->counters.cpu_warnings
                                                     : &wd->counters.blocked_warnings,
                            1, memory_order_relaxed);
}

static void retire(twe__watched_t *rec, int64_t now) {
  twe__watchdog_t *wd = rec->wd;
  uint64_t alive = atomic_load_explicit(&wd->counters.retired_alive, memory_order_relaxed);
  if (alive >= wd->opt.hard_max_retired) {
    /* The cap on threads (and what each keeps: its stack, the stuck run's
     * memory): this shard cannot get a thread. Said once per stuck task. */
    if (!rec->wd_stuck_logged) {
      char type[128], run[64];
      copy_names(rec, type, sizeof type, run, sizeof run);
      snprintf(rec->message, sizeof rec->message,
               "shard %u is stuck in workflow \"%s\" (run %s), which cannot be preempted where "
               "it is, and %" PRIu64 " retired threads are alive already (the hard cap): the "
               "shard cannot be given a new thread", rec->shard, type, run, alive);
      say(wd, 3, rec->shard, type, run, "watchdog: %s", rec->message);
      rec->wd_stuck_logged = true;
      if (wd->hooks.lost_shard) wd->hooks.lost_shard(wd->hooks.arg, rec);
    }
    return;
  }
  char type[128], run[64], use[192], where[224], count[160];
  copy_names(rec, type, sizeof type, run, sizeof run);
  int reason = atomic_load_explicit(&rec->preempt_reason, memory_order_relaxed);
  int64_t used = atomic_load_explicit(&rec->preempt_used_ns, memory_order_relaxed);
  if (reason == TWE__WATCH_BLOCKED) used = rec->wd_blocked_ns;
  else {
    int64_t c = clock_ns(rec->cpu_clock);
    int64_t start = atomic_load_explicit(&rec->task_cpu_start_ns, memory_order_relaxed);
    if (c >= 0 && c - start > used) used = c - start;
  }
  describe_use(use, sizeof use, reason, used,
               atomic_load_explicit(&rec->preempt_budget_ns, memory_order_relaxed), "budget");
  where_now(rec, now, where, sizeof where);
  if (alive + 1 > wd->opt.max_retired)
    snprintf(count, sizeof count, "%" PRIu64 " retired threads alive, over the limit of %u "
             "(hard cap %u)", alive + 1, wd->opt.max_retired, wd->opt.hard_max_retired);
  else
    snprintf(count, sizeof count, "%" PRIu64 " of at most %u retired threads alive", alive + 1,
             wd->opt.max_retired);
  snprintf(rec->message, sizeof rec->message,
           "workflow task preempted by the twe watchdog: workflow \"%s\" (run %s) %s; it could "
           "not be interrupted safely at %s, so its thread (shard %u) was retired and replaced "
           "(%s)",
           type, run, use, where, rec->shard, count);
  uint64_t expected = STATE(rec->wd_seq, TWE__WATCH_USER);
  /* acq_rel: the message above is published with the mode; from here on
   * the thread never touches the shard again. Only the marked task: a
   * thread that was preempted meanwhile and runs its next task is fine. */
  if (!atomic_compare_exchange_strong_explicit(&rec->state, &expected,
                                               STATE(rec->wd_seq, TWE__WATCH_RETIRED),
                                               memory_order_acq_rel, memory_order_acquire))
    return; /* it came back to engine code meanwhile: it will reach a safe point */
  atomic_fetch_add_explicit(&wd->counters.threads_retired, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&wd->counters.retired_alive, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&wd->counters.preemptions, 1, memory_order_relaxed);
  say(wd, 2, rec->shard, type, run, "watchdog: thread %d retired: %s", (int)rec->tid,
      rec->message);
  /* Both threads are pinned to the shard's CPU: the retired one, if it
   * spins, must not take it from its replacement. */
  struct sched_param sp = {0};
  pthread_setschedparam(rec->thread, SCHED_IDLE, &sp);
  int rc = wd->hooks.replace_thread ? wd->hooks.replace_thread(wd->hooks.arg, rec) : -ENOSYS;
  if (rc < 0) {
    say(wd, 3, rec->shard, type, run,
        "watchdog: no replacement thread could be started (%s); the shard is lost",
        strerror(-rc));
    if (wd->hooks.lost_shard) wd->hooks.lost_shard(wd->hooks.arg, rec);
  }
}

/* Whether rec's thread has exited (its /proc file says so: the open file
 * pins that task, so a reused thread id cannot fool it). */
static bool thread_gone(const twe__watched_t *rec) {
  if (rec->stat_fd < 0) return false;
  char c;
  return pread(rec->stat_fd, &c, 1, 0) < 0 && errno == ESRCH;
}

/* A retired thread: forgotten once it exits; meanwhile signalled every tick,
 * which lets it exit as soon as it is at a safe point, and makes it run the
 * kernel work it owes the shard's io_uring (completions of requests it
 * submitted run as its task work, which a sleeping thread runs only when
 * something wakes it). */
static bool check_retired(twe__watched_t *rec, int64_t now) {
  twe__watchdog_t *wd = rec->wd;
  if (thread_gone(rec)) {
    atomic_fetch_sub_explicit(&wd->counters.retired_alive, 1, memory_order_relaxed);
    atomic_store_explicit(&rec->gone, true, memory_order_release);
    say(wd, 1, rec->shard, NULL, NULL, "watchdog: retired thread %d has exited", (int)rec->tid);
    if (wd->hooks.retired_gone) wd->hooks.retired_gone(wd->hooks.arg, rec);
    return true;
  }
  if (now - rec->wd_last_signal_ns >= wd->opt.tick_ns) send_signal(rec, now);
  return false;
}

static void check(twe__watched_t *rec, int64_t now) {
  twe__watchdog_t *wd = rec->wd;
  const twe__watchdog_options_t *o = &wd->opt;
  uint64_t st = atomic_load_explicit(&rec->state, memory_order_acquire);
  int mode = STATE_MODE(st);
  if (mode == TWE__WATCH_IDLE) return;
  uint64_t seq = STATE_SEQ(st);
  if (seq != rec->wd_seq) { /* a new task (or slice) since the last tick */
    rec->wd_seq = seq;
    rec->wd_last_ns = now;
    rec->wd_blocked_ns = atomic_load_explicit(&rec->carried_blocked_ns, memory_order_relaxed);
    rec->wd_marked_ns = 0;
    rec->wd_stuck_logged = false;
  }
  int64_t cpu_now = clock_ns(rec->cpu_clock);
  int64_t cpu = cpu_now < 0 ? 0 : cpu_now - atomic_load_explicit(&rec->task_cpu_start_ns,
                                                                 memory_order_relaxed);
  /* Blocked time is charged to workflow code only: engine code may sleep
   * briefly (a page fault, a log line to a slow stderr) and is trusted to
   * come back. */
  char state = mode == TWE__WATCH_USER ? thread_state(rec) : 0;
  if (state == 'S' || state == 'D') rec->wd_blocked_ns += now - rec->wd_last_ns;
  rec->wd_last_ns = now;
  int64_t blocked = rec->wd_blocked_ns;
  /* Release: the thread ending its slice reads this for the next one. */
  atomic_store_explicit(&rec->blocked_now_ns, blocked, memory_order_release);
  int64_t cpu_budget = atomic_load_explicit(&rec->task_cpu_budget_ns, memory_order_relaxed);
  if (cpu_budget <= 0) cpu_budget = o->cpu_budget_ns;
  int64_t cpu_warning = o->cpu_warning_ns;
  if (cpu_warning > 0 && cpu_budget > 0 && cpu_warning >= cpu_budget) cpu_warning = cpu_budget / 2;

  int warned = atomic_load_explicit(&rec->task_warned, memory_order_relaxed);
  if (cpu_warning > 0 && cpu >= cpu_warning && !(warned & TWE__WATCH_CPU)) {
    atomic_fetch_or_explicit(&rec->task_warned, TWE__WATCH_CPU, memory_order_release);
    warn(rec, TWE__WATCH_CPU, cpu, cpu_warning, cpu_budget, now);
  }
  if (o->blocked_warning_ns > 0 && blocked >= o->blocked_warning_ns &&
      !(warned & TWE__WATCH_BLOCKED)) {
    atomic_fetch_or_explicit(&rec->task_warned, TWE__WATCH_BLOCKED, memory_order_release);
    warn(rec, TWE__WATCH_BLOCKED, blocked, o->blocked_warning_ns, o->blocked_budget_ns, now);
  }
  if (!rec->wd_marked_ns) {
    int reason = 0;
    int64_t used = 0, budget = 0;
    if (cpu_budget > 0 && cpu >= cpu_budget) {
      reason = TWE__WATCH_CPU, used = cpu, budget = cpu_budget;
    } else if (o->blocked_budget_ns > 0 && blocked >= o->blocked_budget_ns) {
      reason = TWE__WATCH_BLOCKED, used = blocked, budget = o->blocked_budget_ns;
    }
    if (!reason) {
      /* Within budget: end the slice once it has had its share of CPU.
       * Engine code checks the mark itself; workflow code needs the
       * signal (again every tick: it may be inside libc at first). */
      int64_t slice = atomic_load_explicit(&rec->task_slice_ns, memory_order_relaxed);
      int64_t slice_cpu = cpu_now < 0 ? 0 : cpu_now - atomic_load_explicit(&rec->slice_cpu_start_ns,
                                                                           memory_order_relaxed);
      if (slice > 0 && slice_cpu >= slice) {
        if (!yield_marked(rec, seq))
          atomic_store_explicit(&rec->yield_seq, seq, memory_order_release);
        if (mode == TWE__WATCH_USER) send_signal(rec, now);
      }
      return;
    }
    atomic_store_explicit(&rec->preempt_reason, reason, memory_order_relaxed);
    atomic_store_explicit(&rec->preempt_used_ns, used, memory_order_relaxed);
    atomic_store_explicit(&rec->preempt_budget_ns, budget, memory_order_relaxed);
    /* Release: the thread that sees the mark sees why. */
    atomic_store_explicit(&rec->preempt_seq, seq, memory_order_release);
    rec->wd_marked_ns = now;
    rec->wd_unsafe_at_mark = atomic_load_explicit(&rec->unsafe_samples, memory_order_relaxed);
    send_signal(rec, now);
    return;
  }
  /* Marked and still in this task: engine code reaches a safe point by
   * itself; workflow code gets the signal again each tick (it may have
   * moved somewhere safe), and is retired once the grace is over. */
  if (mode != TWE__WATCH_USER) return;
  /* Evidence that it cannot be abandoned where it is: it took signals at
   * unsafe places, or it sleeps right now. A thread that only waits for a
   * CPU (starved, throttled) shows neither, and is abandoned when it runs. */
  uint64_t unsafe = atomic_load_explicit(&rec->unsafe_samples, memory_order_relaxed) -
                    rec->wd_unsafe_at_mark;
  bool stuck = unsafe >= 2 || state == 'S' || state == 'D';
  if (now - rec->wd_marked_ns >= o->retire_grace_ns && stuck) retire(rec, now);
  else send_signal(rec, now);
}

/* Whether every thread is idle and none began a task since the last call
 * (each record's state word is remembered); *idle: whether every thread is
 * idle now. Lock held. */
static bool quiet(twe__watchdog_t *wd, bool *idle) {
  bool q = true, all_idle = true;
  for (twe__watched_t *rec = wd->watched; rec; rec = rec->wd_next) {
    /* seq_cst: doze's store of `dozing` comes first (twe__watch_task_begin). */
    uint64_t st = atomic_load_explicit(&rec->state, memory_order_seq_cst);
    if (STATE_MODE(st) != TWE__WATCH_IDLE) all_idle = false;
    if (st != rec->wd_quiet_state) q = false;
    rec->wd_quiet_state = st;
  }
  if (idle) *idle = all_idle;
  return q && all_idle;
}

/* Sleeps until a task begins (wake_dozing) or destroy. Lock held. */
static void doze(twe__watchdog_t *wd) {
  atomic_store_explicit(&wd->dozing, true, memory_order_seq_cst); /* see twe__watch_task_begin */
  if (quiet(wd, NULL)) {
    atomic_fetch_add_explicit(&wd->counters.dozes, 1, memory_order_relaxed);
    while (atomic_load_explicit(&wd->dozing, memory_order_acquire) && !wd->stop)
      pthread_cond_wait(&wd->cond, &wd->lock);
  }
  atomic_store_explicit(&wd->dozing, false, memory_order_relaxed);
}

static void *watchdog_main(void *arg) {
  twe__watchdog_t *wd = arg;
  pthread_setname_np(pthread_self(), "twe-watchdog");
  unsigned quiet_ticks = 0;
  bool idle = false;
  pthread_mutex_lock(&wd->lock);
  while (!wd->stop) {
    /* After a tick that found every thread idle, the next comes two ticks
     * later: a task begun meanwhile is seen at most two ticks in (its slice
     * still ends within 10-20 ms of CPU by default, and up to two ticks of
     * its blocked time go uncharged), and a busy worker whose tasks are
     * short wakes its watchdog about half as often. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + (idle ? 2 * wd->opt.tick_ns : wd->opt.tick_ns);
    until.tv_sec += ns / NS_PER_S;
    until.tv_nsec = ns % NS_PER_S;
    pthread_cond_timedwait(&wd->cond, &wd->lock, &until);
    if (wd->stop) break;
    /* Objects loaded since the last tick (a dlopen'ed workflow library)
     * get their code ranges; cheap when nothing changed. */
    twe__codemap_refresh();
    int64_t now = mono_ns();
    twe__watched_t **pp = &wd->watched;
    while (*pp) {
      twe__watched_t *rec = *pp;
      if (twe__watch_mode(rec) == TWE__WATCH_RETIRED) {
        if (check_retired(rec, now)) {
          *pp = rec->wd_next;
          rec->wd_next = wd->dead;
          wd->dead = rec;
          continue;
        }
      } else {
        check(rec, now);
      }
      pp = &rec->wd_next;
    }
    quiet_ticks = quiet(wd, &idle) ? quiet_ticks + 1 : 0;
    if (quiet_ticks >= DOZE_AFTER) {
      doze(wd);
      quiet_ticks = 0;
    }
  }
  pthread_mutex_unlock(&wd->lock);
  return NULL;
}

/* --- life cycle ------------------------------------------------------------------------ */

int twe__watchdog_create(const twe__watchdog_options_t *opts, const twe__watchdog_hooks_t *hooks,
                         twe__watchdog_t **out) {
  pthread_once(&g_signal_once, install_signal);
  int rc = twe__codemap_refresh();
  if (rc < 0) return rc;
  twe__watchdog_t *wd = calloc(1, sizeof *wd);
  if (!wd) return -ENOMEM;
  wd->opt = *opts;
  if (hooks) wd->hooks = *hooks;
  if (wd->opt.max_retired == 0) wd->opt.max_retired = 1;
  if (wd->opt.hard_max_retired == 0) wd->opt.hard_max_retired = 64;
  if (wd->opt.hard_max_retired < wd->opt.max_retired) wd->opt.hard_max_retired = wd->opt.max_retired;
  if (wd->opt.retire_grace_ns <= 0) wd->opt.retire_grace_ns = 100 * NS_PER_MS;
  if (wd->opt.tick_ns <= 0) {
    /* A twentieth of the smallest threshold, between 1 and 10 ms: small
     * budgets (tests) are still met closely, and an idle worker wakes 100
     * times a second at most. */
    int64_t t = 10 * NS_PER_MS;
    /* Not the slice: a slice ends within a tick of its length (10-20 ms by
     * default), and a shorter tick would wake an idle worker more. */
    const int64_t all[] = {opts->cpu_warning_ns, opts->cpu_budget_ns, opts->blocked_warning_ns,
                           opts->blocked_budget_ns};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
      if (all[i] > 0 && all[i] / 20 < t) t = all[i] / 20;
    wd->opt.tick_ns = t < NS_PER_MS ? NS_PER_MS : t;
  }
  pthread_mutex_init(&wd->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&wd->cond, &ca);
  pthread_condattr_destroy(&ca);
  int r = pthread_create(&wd->thread, NULL, watchdog_main, wd);
  if (r) {
    pthread_cond_destroy(&wd->cond);
    pthread_mutex_destroy(&wd->lock);
    free(wd);
    return -r;
  }
  wd->started = true;
  *out = wd;
  return 0;
}

void twe__watchdog_destroy(twe__watchdog_t *wd) {
  if (!wd) return;
  pthread_mutex_lock(&wd->lock);
  wd->stop = true;
  pthread_cond_signal(&wd->cond);
  pthread_mutex_unlock(&wd->lock);
  if (wd->started) pthread_join(wd->thread, NULL);
  /* Left: retired threads still alive (blocked somewhere). They may yet
   * run into their record, so it stays. */
  size_t leaked = 0;
  for (twe__watched_t *rec = wd->watched, *next; rec; rec = next) {
    next = rec->wd_next;
    if (twe__watch_mode(rec) == TWE__WATCH_RETIRED) {
      if (thread_gone(rec)) free_record(rec);
      else leaked++;
    }
    /* Attached records of live shard threads belong to them (detached at
     * their end, before this call). */
  }
  for (twe__watched_t *rec = wd->dead, *next; rec; rec = next) {
    next = rec->wd_next;
    free_record(rec);
  }
  if (leaked)
    fprintf(stderr, "twe: watchdog: %zu retired thread(s) still blocked in workflow code are "
            "left behind\n", leaked);
  pthread_cond_destroy(&wd->cond);
  pthread_mutex_destroy(&wd->lock);
  /* wd itself stays when threads were left: their records point at it. */
  if (!leaked) free(wd);
}

const twe__watchdog_counters_t *twe__watchdog_counters(const twe__watchdog_t *wd) {
  return &wd->counters;
}
