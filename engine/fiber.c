/* engine/fiber.c — fibers: slab-carved stacks with canaries, and our own
 * context switch (x86-64 System V, aarch64 AAPCS64).
 *
 * The fiber record (struct twe_fiber) lives at the top of its own stack:
 * creating a fiber costs no malloc, and the warm free list links through the
 * records; beyond FREE_WARM free stacks a freed slot goes cold (every page
 * dropped, listed in an array: see release_stack()). The stack grows down
 * from just below the record towards a 64-byte canary at its low end. A
 * stack is stack_size bytes, page-aligned:
 *
 *   slab:  [lead page][ stack 0 ][ stack 1 ] ... [ stack 63 ]
 *   stack: [ ... usable, grows down ... | record | C ]
 *
 * C, the last 64 bytes of each stack, is the canary of the stack above it
 * (the lead page's tail is stack 0's). Thus a fiber's canary sits in the
 * page that already holds its lower neighbour's record and first frames,
 * and a shallow suspended fiber costs one resident page rather than two
 * (its top page, plus a page of its own low end just for the canary).
 *
 * Debug mode (TWE_FIBER_GUARD_PAGES=1): [guard page][C | usable | record]
 * per stack, each canary in its own stack, a PROT_NONE page below.
 *
 * A slab is one mmap holding SLAB_STACKS slots, carved from the top down so
 * that an overflow of the newest fiber runs into not-yet-carved (zero,
 * unshared) memory rather than a neighbour. Adjacent slabs of identical
 * protection usually merge into one VMA, so 100,000 fibers cost a handful of
 * VMAs. Slabs are unmapped only with the pool.
 *
 * Switching saves the callee-saved registers on the outgoing stack and keeps
 * only the stack pointer in the fiber record (or, for the thread's own stack,
 * in thread-local storage).
 *
 * Stowing (twe__fiber_stow) copies a suspended fiber's live stack, record
 * included, to the heap and drops all its pages; its top page held the
 * canary of the slot above, so the pool keeps a bit per stowed slot (slabs
 * sorted by address) and a canary that reads as zeros passes only when the
 * slot below is stowed. */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE, MAP_STACK, madvise */
#include "engine/fiber.h"

#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* --- sanitizer detection ---------------------------------------------------- */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TWE_FIBER_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define TWE_FIBER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(TWE_FIBER_ASAN)
#define TWE_FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(TWE_FIBER_TSAN)
#define TWE_FIBER_TSAN 1
#endif

#ifdef TWE_FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define NO_ASAN __attribute__((no_sanitize_address))
#else
#define NO_ASAN
#endif
#ifdef TWE_FIBER_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* --- tunables ------------------------------------------------------------------ */
enum {
  DEFAULT_STACK = 64 * 1024,
  MIN_STACK = 16 * 1024,
  /* 64 stacks per slab: 4 MiB of address space at the default size (nothing
   * is committed until touched), and at most one new VMA per 64 fibers even
   * when the kernel cannot merge neighbouring slabs. */
  SLAB_STACKS = 64,
  /* Freed stacks beyond this many on the free list are handed back to the
   * kernel (MADV_DONTNEED, all but the record's page) so RSS falls after a
   * mass eviction; the first ones stay warm for the common churn of a few
   * runs finishing and starting. DONTNEED rather than MADV_FREE: FREE only
   * drops pages under memory pressure, so RSS would not visibly fall. */
  FREE_WARM = 64,
  CANARY_WORDS = 8,
};
#define MAX_STACK ((size_t)256 << 20)
#define CANARY_SEED UINT64_C(0x7477655f63616e61) /* "twe_cana" */

/* --- types ------------------------------------------------------------------ */
struct twe_fiber {
  void *sp; /* saved stack pointer while suspended (or not yet started) */
  twe_fiber_pool_t *pool;
  twe_fiber_fn fn;
  void *arg;
  unsigned char *stack_low; /* lowest usable byte; the canary just below */
  twe_fiber_t *next_free;   /* free-list link while the slot is unused */
  uint64_t id;              /* names the fiber in abort messages */
  bool finished;
  bool abandoned; /* left mid-function by twe__fiber_abandon: never resumed */
  bool live;
#ifdef TWE_FIBER_ASAN
  void *asan_fake_stack; /* ASan's fake stack of this fiber while switched out */
#endif
#ifdef TWE_FIBER_TSAN
  void *tsan_fiber;
#endif
};

struct twe_fiber_pool {
  size_t stack_size;  /* page-rounded bytes per stack, record included */
  size_t slot_size;   /* stack_size plus the guard page, if any */
  size_t slab_size;   /* SLAB_STACKS slots plus the lead page, if no guards */
  size_t record_size; /* bytes at the top of each stack for struct twe_fiber */
  size_t page;
  bool guard_pages;
  twe_fiber_t *free_list;
  size_t free_count;
  unsigned char **slabs;
  size_t slabs_len, slabs_cap;
  /* The slabs again, by address, each with a bit per slot set while the
   * slot's top page is dropped (its fiber stowed, or the slot cold): that
   * page holds the canary of the slot above, which then reads as zeros. */
  unsigned char **by_addr;
  uint64_t *dropped;
  size_t dropped_count;
  /* Cold slots: free, every page dropped, the record too, so they are
   * listed here rather than linked through their records. */
  twe_fiber_t **cold;
  size_t cold_len, cold_cap;
  size_t carve_left; /* uncarved slots in the newest slab, carved top down */
  size_t stacks_total, stacks_in_use;
  uint64_t next_id;
};

/* Per thread: the fiber running and where the thread's own stack stopped. */
static _Thread_local struct {
  twe_fiber_t *current;
  void *sched_sp; /* the scheduler's stack pointer while a fiber runs */
#ifdef TWE_FIBER_ASAN
  void *asan_fake_stack;
  const void *sched_bottom; /* the thread stack's bounds, as ASan reports them */
  size_t sched_size;
#endif
#ifdef TWE_FIBER_TSAN
  void *tsan_thread_fiber;
#endif
} tls;

/* --- the context switch ---------------------------------------------------- */
/* Saves the callee-saved state on the current stack, stores the stack
 * pointer in *save_sp, switches to to_sp and restores the state found there.
 * Returns when someone switches back to *save_sp. */
void twe__fiber_switch(void **save_sp, void *to_sp);
/* A new fiber's first code: the initial frame "returns" here with the fiber
 * record in a callee-saved register; it calls twe__fiber_main. */
void twe__fiber_entry(void);
_Noreturn void twe__fiber_main(twe_fiber_t *f);

#if defined(__x86_64__)
/* Frame, from the saved sp up: MXCSR (4 bytes), x87 control word (2 bytes,
 * padded to 8), r15, r14, r13, r12, rbx, rbp, return address. The FP
 * control words are callee-saved in the System V ABI: a fiber that changes
 * the rounding mode must not change it for the scheduler, nor the reverse. */
__asm__(
    ".text\n"
    ".globl twe__fiber_switch\n"
    ".hidden twe__fiber_switch\n"
    ".type twe__fiber_switch,@function\n"
    ".p2align 4\n"
    "twe__fiber_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size twe__fiber_switch, .-twe__fiber_switch\n"
    "\n"
    ".globl twe__fiber_entry\n"
    ".hidden twe__fiber_entry\n"
    ".type twe__fiber_entry,@function\n"
    ".p2align 4\n"
    "twe__fiber_entry:\n"
    "  .cfi_startproc\n"
    "  .cfi_undefined rip\n" /* debuggers: the fiber's call chain ends here */
    "  movq %r12, %rdi\n"
    "  call twe__fiber_main\n"
    "  ud2\n"
    "  .cfi_endproc\n"
    ".size twe__fiber_entry, .-twe__fiber_entry\n");

enum { SWITCH_FRAME = 64 };

static void *initial_frame(twe_fiber_t *f, uintptr_t top) {
  /* After the final ret pops the entry address, rsp is top - 16: aligned to
   * 16 as before a call, so twe__fiber_main starts with the ABI's alignment. */
  uint64_t *frame = (uint64_t *)(top - 16 - SWITCH_FRAME);
  memset(frame, 0, SWITCH_FRAME + 16);
  /* Default FP environment, not the creator's: workflow code must compute
   * the same on every worker whatever the host program set. */
  uint32_t mxcsr = 0x1F80;
  uint16_t fpucw = 0x037F;
  memcpy(frame, &mxcsr, sizeof mxcsr);
  memcpy((unsigned char *)frame + 4, &fpucw, sizeof fpucw);
  frame[4] = (uint64_t)(uintptr_t)f;                 /* r12 */
  frame[6] = 0;                                      /* rbp: ends frame chains */
  frame[7] = (uint64_t)(uintptr_t)&twe__fiber_entry; /* return address */
  return frame;
}

#elif defined(__aarch64__)
/* Frame of 176 bytes, from the saved sp up: x19..x28, x29 (fp), x30 (lr),
 * d8..d15, FPCR (rounding mode and flush-to-zero, preserved for the same
 * reason as MXCSR on x86-64), padding to keep sp 16-byte aligned. */
__asm__(
    ".text\n"
    ".globl twe__fiber_switch\n"
    ".hidden twe__fiber_switch\n"
    ".type twe__fiber_switch,%function\n"
    ".p2align 4\n"
    "twe__fiber_switch:\n"
    "  sub sp, sp, #176\n"
    "  stp x19, x20, [sp, #0]\n"
    "  stp x21, x22, [sp, #16]\n"
    "  stp x23, x24, [sp, #32]\n"
    "  stp x25, x26, [sp, #48]\n"
    "  stp x27, x28, [sp, #64]\n"
    "  stp x29, x30, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n"
    "  stp d10, d11, [sp, #112]\n"
    "  stp d12, d13, [sp, #128]\n"
    "  stp d14, d15, [sp, #144]\n"
    "  mrs x9, fpcr\n"
    "  str x9, [sp, #160]\n"
    "  mov x9, sp\n"
    "  str x9, [x0]\n"
    "  mov sp, x1\n"
    "  ldp x19, x20, [sp, #0]\n"
    "  ldp x21, x22, [sp, #16]\n"
    "  ldp x23, x24, [sp, #32]\n"
    "  ldp x25, x26, [sp, #48]\n"
    "  ldp x27, x28, [sp, #64]\n"
    "  ldp x29, x30, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n"
    "  ldp d10, d11, [sp, #112]\n"
    "  ldp d12, d13, [sp, #128]\n"
    "  ldp d14, d15, [sp, #144]\n"
    "  ldr x9, [sp, #160]\n"
    "  msr fpcr, x9\n"
    "  add sp, sp, #176\n"
    "  ret\n"
    ".size twe__fiber_switch, .-twe__fiber_switch\n"
    "\n"
    ".globl twe__fiber_entry\n"
    ".hidden twe__fiber_entry\n"
    ".type twe__fiber_entry,%function\n"
    ".p2align 4\n"
    "twe__fiber_entry:\n"
    "  .cfi_startproc\n"
    "  .cfi_undefined x30\n" /* debuggers: the fiber's call chain ends here */
    "  mov x0, x19\n"
    "  bl twe__fiber_main\n"
    "  brk #0\n"
    "  .cfi_endproc\n"
    ".size twe__fiber_entry, .-twe__fiber_entry\n");

enum { SWITCH_FRAME = 176 };

static void *initial_frame(twe_fiber_t *f, uintptr_t top) {
  uint64_t *frame = (uint64_t *)(top - SWITCH_FRAME);
  memset(frame, 0, SWITCH_FRAME);
  frame[0] = (uint64_t)(uintptr_t)f;                  /* x19 */
  frame[10] = 0;                                      /* x29: ends frame chains */
  frame[11] = (uint64_t)(uintptr_t)&twe__fiber_entry; /* x30 */
  frame[20] = 0;                                      /* FPCR: IEEE defaults */
  return frame;
}

#else
#error "engine/fiber.c: no context switch for this architecture (x86-64 and aarch64 only)"
#endif

/* --- failures ------------------------------------------------------------------ */
__attribute__((format(printf, 1, 2))) _Noreturn static void die(const char *fmt, ...);

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("twe: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}

/* --- canaries ---------------------------------------------------------------- */
/* Each word depends on its address so that a copied stack region or a
 * stray constant cannot pass for a canary. */
static uint64_t canary_word(const uint64_t *at) {
  return CANARY_SEED ^ ((uint64_t)(uintptr_t)at * UINT64_C(0x9E3779B97F4A7C15));
}

static uint64_t *canary_at(const twe_fiber_t *f) {
  return (uint64_t *)(void *)(f->stack_low - CANARY_WORDS * sizeof(uint64_t));
}

NO_ASAN static void canary_write(twe_fiber_t *f) {
  uint64_t *w = canary_at(f);
  for (int i = 0; i < CANARY_WORDS; i++) w[i] = canary_word(&w[i]);
}

static bool lower_neighbour_dropped(const twe_fiber_t *f);

/* Not instrumented: stale frames of an overflowing fiber may have left the
 * canary's shadow poisoned, and the point here is to report the overflow. */
NO_ASAN static void canary_check(const twe_fiber_t *f) {
  const volatile uint64_t *w = canary_at(f);
  bool zero = true;
  for (int i = 0; i < CANARY_WORDS && zero; i++) zero = w[i] == 0;
  /* The slot below has its top page dropped (stowed or cold): the canary
   * reads as the kernel's zero page until that slot is used again (which
   * writes it back). */
  if (zero && lower_neighbour_dropped(f)) return;
  for (int i = 0; i < CANARY_WORDS; i++) {
    if (w[i] != canary_word((const uint64_t *)&w[i])) {
      die("fiber %" PRIu64 " (fn %p, arg %p): stack canary at %p smashed: stack overflow "
          "in its %zu-byte stack; memory next to it may be corrupt, aborting",
          f->id, (void *)(uintptr_t)f->fn, f->arg, (void *)canary_at(f), f->pool->stack_size);
    }
  }
}

/* --- sanitizer hooks --------------------------------------------------------- */
#ifdef TWE_FIBER_ASAN
static size_t stack_usable(const twe_fiber_t *f) {
  return (size_t)((const unsigned char *)f - f->stack_low);
}
#endif

/* The scheduler is about to switch into f. */
static void san_enter(twe_fiber_t *f) {
#ifdef TWE_FIBER_ASAN
  __sanitizer_start_switch_fiber(&tls.asan_fake_stack, f->stack_low, stack_usable(f));
#endif
#ifdef TWE_FIBER_TSAN
  if (!tls.tsan_thread_fiber) tls.tsan_thread_fiber = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(f->tsan_fiber, 0);
#endif
  (void)f;
}

/* The scheduler got control back from a fiber. */
static void san_entered_scheduler(void) {
#ifdef TWE_FIBER_ASAN
  __sanitizer_finish_switch_fiber(tls.asan_fake_stack, NULL, NULL);
#endif
}

/* f is about to switch back to the scheduler; finished: for good. */
static void san_leave(twe_fiber_t *f, bool finished) {
#ifdef TWE_FIBER_ASAN
  /* NULL for a finished fiber: ASan frees its fake stack. */
  __sanitizer_start_switch_fiber(finished ? NULL : &f->asan_fake_stack, tls.sched_bottom,
                                 tls.sched_size);
#endif
#ifdef TWE_FIBER_TSAN
  __tsan_switch_to_fiber(tls.tsan_thread_fiber, 0);
#endif
  (void)f;
  (void)finished;
}

/* f runs again (first entry: fake_stack NULL); learn the thread stack's
 * bounds to switch back to. */
static void san_entered_fiber(twe_fiber_t *f, bool first) {
#ifdef TWE_FIBER_ASAN
  __sanitizer_finish_switch_fiber(first ? NULL : f->asan_fake_stack, &tls.sched_bottom,
                                  &tls.sched_size);
#endif
  (void)f;
  (void)first;
}

/* --- switching --------------------------------------------------------------- */
void twe__fiber_main(twe_fiber_t *f) {
  san_entered_fiber(f, true);
  f->fn(f->arg);
  f->finished = true;
  san_leave(f, true);
  twe__fiber_switch(&f->sp, tls.sched_sp);
  die("finished fiber %" PRIu64 " was resumed", f->id); /* unreachable */
}

int twe__fiber_resume(twe_fiber_t *f) {
  if (tls.current) {
    die("twe__fiber_resume(fiber %" PRIu64 ") from inside fiber %" PRIu64
        ": resume only from the thread's own stack",
        f->id, tls.current->id);
  }
  if (!f->live || f->finished) die("twe__fiber_resume: fiber %" PRIu64 " has finished", f->id);
  if (f->abandoned) die("twe__fiber_resume: fiber %" PRIu64 " was abandoned", f->id);
  canary_check(f);
  tls.current = f;
  san_enter(f);
  twe__fiber_switch(&tls.sched_sp, f->sp);
  san_entered_scheduler();
  tls.current = NULL;
  /* Checked here, on the thread's own stack, rather than inside yield: a
   * fiber that overflowed may have little stack left to report it on. */
  canary_check(f);
  if (f->abandoned) return TWE_FIBER_ABANDONED;
  return f->finished ? 0 : 1;
}

void twe__fiber_abandon(void) {
  twe_fiber_t *f = tls.current;
  if (!f) die("twe__fiber_abandon called outside a fiber");
  f->abandoned = true;
  /* Announced like a fiber's end: ASan drops its fake stack, TSan switches
   * back to the thread. The registers saved into f->sp (possibly on the
   * signal stack) are never loaded again. */
  san_leave(f, true);
  twe__fiber_switch(&f->sp, tls.sched_sp);
  die("abandoned fiber %" PRIu64 " was resumed", f->id); /* unreachable */
}

void twe__fiber_yield(void) {
  twe_fiber_t *f = tls.current;
  if (!f) die("twe__fiber_yield called outside a fiber");
  san_leave(f, false);
  twe__fiber_switch(&f->sp, tls.sched_sp);
  san_entered_fiber(f, false);
}

twe_fiber_t *twe__fiber_current(void) {
  return tls.current;
}

size_t twe__fiber_room(uintptr_t sp) {
  const twe_fiber_t *f = tls.current;
  if (!f) return 0;
  uintptr_t low = (uintptr_t)f->stack_low, high = (uintptr_t)f; /* the record tops the stack */
  return sp > low && sp <= high ? (size_t)(sp - low) : 0;
}

bool twe__fiber_finished(const twe_fiber_t *f) {
  return f->finished;
}

/* --- pool ---------------------------------------------------------------------- */
static bool env_guard_pages(void) {
  const char *v = getenv("TWE_FIBER_GUARD_PAGES");
  return v && *v && strcmp(v, "0") != 0;
}

int twe__fiber_pool_create(size_t stack_size, twe_fiber_pool_t **out) {
  long pg = sysconf(_SC_PAGESIZE);
  size_t page = pg > 0 ? (size_t)pg : 4096;
  if (stack_size == 0) stack_size = DEFAULT_STACK;
  if (stack_size > MAX_STACK) return -EINVAL;
  if (stack_size < MIN_STACK) stack_size = MIN_STACK;
  stack_size = (stack_size + page - 1) / page * page;
  twe_fiber_pool_t *p = calloc(1, sizeof *p);
  if (!p) return -ENOMEM;
  p->page = page;
  p->stack_size = stack_size;
  p->guard_pages = env_guard_pages();
  p->slot_size = stack_size + (p->guard_pages ? page : 0);
  p->slab_size = p->slot_size * SLAB_STACKS + (p->guard_pages ? 0 : page);
  p->record_size = (sizeof(twe_fiber_t) + 63) & ~(size_t)63;
  *out = p;
  return 0;
}

static void slab_unmap(twe_fiber_pool_t *p, unsigned char *slab) {
  size_t len = p->slab_size;
#ifdef TWE_FIBER_ASAN
  /* Stale frame poison must not outlive the mapping: the next mmap may
   * return the same addresses. */
  __asan_unpoison_memory_region(slab, len);
#endif
  munmap(slab, len);
}

void twe__fiber_pool_destroy(twe_fiber_pool_t *pool) {
  if (!pool) return;
  if (pool->stacks_in_use) {
    die("twe__fiber_pool_destroy: %zu fibers of the pool are still alive", pool->stacks_in_use);
  }
  for (size_t i = 0; i < pool->slabs_len; i++) slab_unmap(pool, pool->slabs[i]);
  free(pool->slabs);
  free(pool->by_addr);
  free(pool->dropped);
  free(pool->cold);
  free(pool);
}

void twe__fiber_pool_stats(const twe_fiber_pool_t *pool, twe_fiber_pool_stats_t *out) {
  out->stack_size = pool->stack_size;
  out->slabs = pool->slabs_len;
  out->stacks_total = pool->stacks_total;
  out->stacks_in_use = pool->stacks_in_use;
}

static int slab_add(twe_fiber_pool_t *p) {
  if (p->slabs_len == p->slabs_cap) {
    size_t cap = p->slabs_cap ? p->slabs_cap * 2 : 16;
    unsigned char **s = realloc(p->slabs, cap * sizeof *s);
    if (!s) return -ENOMEM;
    p->slabs = s;
    unsigned char **a = realloc(p->by_addr, cap * sizeof *a);
    if (!a) return -ENOMEM;
    p->by_addr = a;
    uint64_t *st = realloc(p->dropped, cap * sizeof *st);
    if (!st) return -ENOMEM;
    p->dropped = st;
    p->slabs_cap = cap;
  }
  size_t len = p->slab_size;
  /* MAP_STACK: a hint today, and since Linux 6.7 it also keeps transparent
   * huge pages off, which MADV_NOHUGEPAGE does on older kernels: a 2 MiB
   * page behind a stack of which 4 KiB are touched would defeat the slab. */
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return -ENOMEM;
#ifdef MADV_NOHUGEPAGE
  (void)madvise(m, len, MADV_NOHUGEPAGE);
#endif
  unsigned char *slab = m;
  if (p->guard_pages) {
    /* Debug mode: each protection change splits the mapping, 2 VMAs/stack. */
    for (size_t i = 0; i < SLAB_STACKS; i++) {
      if (mprotect(slab + i * p->slot_size, p->page, PROT_NONE) != 0) {
        munmap(m, len);
        return -ENOMEM;
      }
    }
  }
  size_t at = p->slabs_len;
  while (at > 0 && p->by_addr[at - 1] > slab) {
    p->by_addr[at] = p->by_addr[at - 1];
    p->dropped[at] = p->dropped[at - 1];
    at--;
  }
  p->by_addr[at] = slab;
  p->dropped[at] = 0;
  p->slabs[p->slabs_len++] = slab;
  p->carve_left = SLAB_STACKS;
  return 0;
}

static void set_dropped(twe_fiber_pool_t *p, twe_fiber_t *f, bool dropped);
static void write_upper_canary(twe_fiber_pool_t *p, twe_fiber_t *f);
static unsigned char *stack_low_of(const twe_fiber_pool_t *p, const twe_fiber_t *f);

/* A stack slot's record, from the free list, the cold slots, or newly
 * carved. */
static twe_fiber_t *acquire_stack(twe_fiber_pool_t *p) {
  twe_fiber_t *f = p->free_list;
  if (f) {
    p->free_list = f->next_free;
    p->free_count--;
    return f;
  }
  if (p->cold_len) {
    f = p->cold[--p->cold_len];
    set_dropped(p, f, false);
    write_upper_canary(p, f);
    f->stack_low = stack_low_of(p, f);
    return f;
  }
  if (p->carve_left == 0 && slab_add(p) != 0) return NULL;
  /* Both layouts: a page (lead or guard), then the stack. */
  unsigned char *stack = p->slabs[p->slabs_len - 1] + p->page + --p->carve_left * p->slot_size;
  size_t canary = CANARY_WORDS * sizeof(uint64_t);
  if (p->guard_pages) {
    f = (twe_fiber_t *)(void *)(stack + p->stack_size - p->record_size);
    f->stack_low = stack + canary;
  } else {
    f = (twe_fiber_t *)(void *)(stack + p->stack_size - canary - p->record_size);
    f->stack_low = stack;
  }
  p->stacks_total++;
  return f;
}

/* Puts f's slot on the cold list with all its pages dropped (the record's
 * too: the list is not in the records). Returns false when the list cannot
 * grow (then nothing changed). */
static bool make_cold(twe_fiber_pool_t *p, twe_fiber_t *f, bool pages_dropped) {
  if (p->cold_len == p->cold_cap) {
    size_t cap = p->cold_cap ? p->cold_cap * 2 : 64;
    twe_fiber_t **c = realloc(p->cold, cap * sizeof *c);
    if (!c) return false;
    p->cold = c;
    p->cold_cap = cap;
  }
  if (!pages_dropped) {
    uintptr_t mask = (uintptr_t)(p->page - 1);
    uintptr_t low = ((uintptr_t)f->stack_low + mask) & ~mask;
    uintptr_t top = (uintptr_t)f + p->record_size +
                    (p->guard_pages ? 0 : CANARY_WORDS * sizeof(uint64_t));
    (void)madvise((void *)low, top - low, MADV_DONTNEED);
    set_dropped(p, f, true);
  }
  p->cold[p->cold_len++] = f;
  return true;
}

static void release_stack(twe_fiber_pool_t *p, twe_fiber_t *f) {
  /* Beyond the warm few, a freed slot goes cold: no page of it stays. */
  if (p->free_count >= FREE_WARM && make_cold(p, f, false)) return;
  if (p->free_count >= FREE_WARM) {
    /* The cold list could not grow: everything below the record's page
     * goes, the record and the free-list link stay resident. The canary
     * is not in the range (the lower neighbour's top page, or the
     * guard-mode stack's first page, rewritten at create). */
    uintptr_t mask = (uintptr_t)(p->page - 1);
    unsigned char *from = (unsigned char *)(((uintptr_t)f->stack_low + mask) & ~mask);
    unsigned char *record_page = (unsigned char *)((uintptr_t)f & ~mask);
    if (record_page > from) {
      (void)madvise(from, (size_t)(record_page - from), MADV_DONTNEED);
    }
  }
  f->next_free = p->free_list;
  p->free_list = f;
  p->free_count++;
}

int twe__fiber_create(twe_fiber_pool_t *pool, twe_fiber_fn fn, void *arg, twe_fiber_t **out) {
  twe_fiber_t *f = acquire_stack(pool);
  if (!f) return -ENOMEM;
  unsigned char *low = f->stack_low;
#ifdef TWE_FIBER_ASAN
  /* A recycled stack may carry the poisoned redzones of an abandoned
   * fiber's frames. */
  __asan_unpoison_memory_region(low, (size_t)((unsigned char *)f - low));
#endif
  memset(f, 0, sizeof *f);
  f->stack_low = low;
  f->pool = pool;
  f->fn = fn;
  f->arg = arg;
  f->id = ++pool->next_id;
  f->live = true;
#ifdef TWE_FIBER_TSAN
  f->tsan_fiber = __tsan_create_fiber(0);
#endif
  canary_write(f);
  f->sp = initial_frame(f, (uintptr_t)f & ~(uintptr_t)15);
  pool->stacks_in_use++;
  *out = f;
  return 0;
}

void twe__fiber_destroy(twe_fiber_t *f) {
  if (!f) return;
  if (f == tls.current) die("fiber %" PRIu64 " tried to destroy itself", f->id);
  if (!f->live) die("fiber %" PRIu64 " destroyed twice", f->id);
  twe_fiber_pool_t *p = f->pool;
#ifdef TWE_FIBER_TSAN
  __tsan_destroy_fiber(f->tsan_fiber);
  f->tsan_fiber = NULL;
#endif
  /* An abandoned fiber's ASan fake stack (only with detect_stack_use_after_
   * return) is not reclaimed: ASan has no call for it. The real stack's
   * poison is cleared when the slot is reused (twe__fiber_create). */
  f->live = false;
  p->stacks_in_use--;
  release_stack(p, f);
}

/* --- stowing ------------------------------------------------------------------ */
struct twe_fiber_stowed {
  twe_fiber_pool_t *pool;
  size_t len; /* bytes of data: from the saved stack pointer to the slot's top */
  alignas(16) unsigned char data[];
};

/* The dropped bit of the slot holding address a (a byte of a stack), or
 * NULL when a is in a lead page or outside the pool's slabs. */
static uint64_t *slot_bit(const twe_fiber_pool_t *p, uintptr_t a, uint64_t *bit) {
  size_t lo = 0, hi = p->slabs_len;
  while (lo < hi) { /* the last slab starting at or below a */
    size_t mid = (lo + hi) / 2;
    if ((uintptr_t)p->by_addr[mid] <= a) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return NULL;
  uintptr_t base = (uintptr_t)p->by_addr[lo - 1];
  if (a >= base + p->slab_size) return NULL;
  uintptr_t first = base + (p->guard_pages ? 0 : p->page);
  if (a < first) return NULL;
  *bit = UINT64_C(1) << ((a - first) / p->slot_size);
  return &p->dropped[lo - 1];
}

static void set_dropped(twe_fiber_pool_t *p, twe_fiber_t *f, bool dropped) {
  uint64_t bit;
  uint64_t *word = slot_bit(p, (uintptr_t)f, &bit);
  if (!word) return;
  if (dropped && !(*word & bit)) {
    *word |= bit;
    p->dropped_count++;
  } else if (!dropped && (*word & bit)) {
    *word &= ~bit;
    p->dropped_count--;
  }
}

/* The top 64 bytes of f's slot: the canary of the slot above, whatever f's
 * page held before (it was dropped). Its value depends on its address only. */
static void write_upper_canary(twe_fiber_pool_t *p, twe_fiber_t *f) {
  if (p->guard_pages) return;
  uint64_t *w = (uint64_t *)(void *)((unsigned char *)f + p->record_size);
  for (int i = 0; i < CANARY_WORDS; i++) w[i] = canary_word(&w[i]);
}

static unsigned char *stack_low_of(const twe_fiber_pool_t *p, const twe_fiber_t *f) {
  size_t canary = CANARY_WORDS * sizeof(uint64_t);
  unsigned char *rec = (unsigned char *)(uintptr_t)f;
  return p->guard_pages ? rec + p->record_size - p->stack_size + canary
                        : rec + canary + p->record_size - p->stack_size;
}

static bool lower_neighbour_dropped(const twe_fiber_t *f) {
  const twe_fiber_pool_t *p = f->pool;
  if (p->guard_pages || !p->dropped_count) return false; /* guard mode: its own canary */
  uint64_t bit;
  const uint64_t *w = slot_bit(p, (uintptr_t)f->stack_low - 1, &bit);
  return w && (*w & bit);
}

/* The first byte above f's stack slot (page-aligned). */
static uintptr_t slot_top(const twe_fiber_t *f) {
  return (uintptr_t)f + f->pool->record_size +
         (f->pool->guard_pages ? 0 : CANARY_WORDS * sizeof(uint64_t));
}

/* Stack bytes move as words, outside the sanitizers' view: ASan poisons
 * the redzones of frames still on the stack, and they are copied as they
 * are. */
NO_ASAN __attribute__((no_sanitize_thread)) static void copy_words(uint64_t *to,
                                                                  const uint64_t *from,
                                                                  size_t n) {
  for (size_t i = 0; i < n; i++) to[i] = from[i];
}

int twe__fiber_stow(twe_fiber_t *f, twe_fiber_stowed_t **out) {
  if (f == tls.current || !f->live || f->finished || f->abandoned) return -EBUSY;
  twe_fiber_pool_t *p = f->pool;
  uintptr_t top = slot_top(f), from = (uintptr_t)f->sp & ~(uintptr_t)15;
  if (from <= (uintptr_t)f->stack_low || from >= (uintptr_t)f) return -EBUSY;
  uint64_t bit;
  if (!slot_bit(p, (uintptr_t)f, &bit)) return -EBUSY;
  size_t len = top - from;
  twe_fiber_stowed_t *s = malloc(sizeof *s + len);
  if (!s) return -ENOMEM;
  s->pool = p;
  s->len = len;
  copy_words((uint64_t *)(void *)s->data, (const uint64_t *)from, len / sizeof(uint64_t));
  /* Every page of the stack goes, down to its low end: pages a deeper
   * call touched before are as dead as the copied ones. The canary below
   * the low end is the lower neighbour's (or, in guard mode, in the
   * stack's first page, which is kept). */
  uintptr_t mask = (uintptr_t)(p->page - 1);
  uintptr_t low = ((uintptr_t)f->stack_low + mask) & ~mask;
  (void)madvise((void *)low, top - low, MADV_DONTNEED);
  set_dropped(p, f, true);
  *out = s;
  return 0;
}

void twe__fiber_unstow(twe_fiber_t *f, twe_fiber_stowed_t *s) {
  /* f's record is in the copy: nothing may be read from it before. */
  twe_fiber_pool_t *p = s->pool;
  uintptr_t top = (uintptr_t)f + p->record_size +
                  (p->guard_pages ? 0 : CANARY_WORDS * sizeof(uint64_t));
  copy_words((uint64_t *)(top - s->len), (const uint64_t *)(const void *)s->data,
             s->len / sizeof(uint64_t));
  /* The slot above may have been made since the copy was taken. */
  write_upper_canary(p, f);
  set_dropped(p, f, false);
  free(s);
}

void twe__fiber_destroy_stowed(twe_fiber_t *f, twe_fiber_stowed_t *s) {
  twe_fiber_pool_t *p = s->pool;
  uintptr_t top = (uintptr_t)f + p->record_size +
                  (p->guard_pages ? 0 : CANARY_WORDS * sizeof(uint64_t));
  /* The record as it was when stowed, read from the copy. */
  const twe_fiber_t *rec =
      (const twe_fiber_t *)(const void *)(s->data + s->len - (top - (uintptr_t)f));
  if (!rec->live) die("stowed fiber %" PRIu64 " destroyed twice", rec->id);
  if (!make_cold(p, f, true)) {
    /* No room on the cold list: back on its pages, destroyed as usual. */
    twe__fiber_unstow(f, s);
    twe__fiber_destroy(f);
    return;
  }
#ifdef TWE_FIBER_TSAN
  __tsan_destroy_fiber(rec->tsan_fiber);
#endif
  p->stacks_in_use--;
  free(s);
}

size_t twe__fiber_stowed_bytes(const twe_fiber_stowed_t *s) {
  return sizeof *s + s->len;
}

size_t twe__fiber_resident_bytes(const twe_fiber_t *f) {
  size_t page = f->pool->page;
  uintptr_t top = slot_top(f), sp = (uintptr_t)f->sp;
  if (sp <= (uintptr_t)f->stack_low || sp >= top) return page;
  return top - (sp & ~(uintptr_t)(page - 1));
}
