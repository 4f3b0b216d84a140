/* engine/fiber.h — fibers: the stacks workflow code runs on, and the
 * context switch between them and the shard's scheduler.
 *
 * A workflow coroutine is a fiber: a small stack plus the callee-saved
 * registers of a suspended call. The shard thread resumes a fiber; the
 * fiber runs until it yields (it waits for a future) or its function
 * returns, and control comes back to the resume call. Switching is our own
 * few instructions per architecture (x86-64, aarch64): no signal mask
 * changes, no system call.
 *
 * Stacks are carved from large slabs (one mmap per slab, MAP_NORESERVE):
 * only touched pages cost memory, and a slab is one VMA whatever the number
 * of stacks in it — a guard page per stack would cost two VMAs each and
 * vm.max_map_count would cap a process at ~32,700 fibers. Overflow is caught
 * by a canary at the low end of each stack, checked at every switch; debug
 * builds (TWE_FIBER_GUARD_PAGES=1 in the environment) add a real guard page
 * per stack instead. Each fiber's record lives at the top of its own stack
 * (no malloc per fiber); a shallow suspended fiber costs one resident page.
 * Freed stacks are reused last-in first-out; beyond 64 free ones, a freed
 * stack goes cold: all its pages go back to the kernel (MADV_DONTNEED), so
 * RSS falls after a mass eviction.
 *
 * Each fiber has its own FP control state (x86-64 MXCSR and x87 control
 * word, aarch64 FPCR), starting from the IEEE defaults rather than its
 * creator's: a fiber changing the rounding mode does not change it for the
 * scheduler or other fibers.
 *
 * Sanitizers: switches are announced to ASan and TSan. TSan counts every
 * live fiber as a thread and caps them (gcc 12's runtime: 8,128 alive).
 *
 * Thread: a fiber pool and its fibers belong to one thread (the shard's).
 * Everything here is called on that thread. */
#ifndef TWE_ENGINE_FIBER_H
#define TWE_ENGINE_FIBER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct twe_fiber twe_fiber_t;
typedef struct twe_fiber_pool twe_fiber_pool_t;
typedef void (*twe_fiber_fn)(void *arg);

typedef struct twe_fiber_pool_stats {
  size_t stack_size;     /* bytes per stack, page-rounded; the fiber's record
                            (about 100 bytes) and 64-byte canary come out of it */
  size_t slabs;          /* slabs mapped */
  size_t stacks_total;   /* stacks carved so far */
  size_t stacks_in_use;  /* fibers alive */
} twe_fiber_pool_stats_t;

/* Creates a pool handing out stacks of stack_size bytes (0: 64 KiB; rounded
 * up to pages; at least 16 KiB). Maps nothing until the first fiber. Returns
 * 0, -EINVAL (over 256 MiB), -ENOMEM. */
int twe__fiber_pool_create(size_t stack_size, twe_fiber_pool_t **out);
/* Frees the pool and its slabs. Every fiber must have been destroyed (else
 * aborts: their stacks would vanish under them). NULL is a no-op. */
void twe__fiber_pool_destroy(twe_fiber_pool_t *pool);
void twe__fiber_pool_stats(const twe_fiber_pool_t *pool, twe_fiber_pool_stats_t *out);

/* Creates a fiber that will run fn(arg) when first resumed. Returns 0,
 * -ENOMEM. */
int twe__fiber_create(twe_fiber_pool_t *pool, twe_fiber_fn fn, void *arg, twe_fiber_t **out);
/* twe__fiber_resume's answer when the fiber gave up with twe__fiber_abandon. */
#define TWE_FIBER_ABANDONED 2

/* Switches to f until it yields or returns. Returns 1 if f yielded (it can
 * be resumed again), 0 if its function returned (destroy it),
 * TWE_FIBER_ABANDONED if it was abandoned (destroy it, never resume it). Not from
 * inside a fiber, nor on a finished fiber (both abort). f's canary is
 * checked before and after it runs; a smashed one aborts the process with a
 * message naming the fiber (id, fn, arg) on stderr: memory next to the
 * stack may already be corrupt. An overflow that jumps over the canary
 * without writing it (a large local array left unwritten) is not seen. */
int twe__fiber_resume(twe_fiber_t *f);
/* From inside a fiber: back to the twe__fiber_resume that ran it (aborts
 * outside a fiber). Returns when the fiber is resumed again. */
void twe__fiber_yield(void);
/* From inside a fiber: leaves it for good, back to the twe__fiber_resume
 * that ran it, which returns TWE_FIBER_ABANDONED. Nothing on the fiber's
 * stack runs again and nothing is unwound. The watchdog calls it from its
 * signal handler (with the thread's signal mask restored first) or at a
 * safe point in engine code. Never returns. */
_Noreturn void twe__fiber_abandon(void);
/* The fiber running on this thread, or NULL on the thread's own stack. */
twe_fiber_t *twe__fiber_current(void);
/* Bytes of the running fiber's stack below sp (a stack pointer inside
 * it), down to its canary; 0 when the thread is not on a fiber or sp is
 * not on its stack. Async-signal-safe (the watchdog's handler asks before
 * it lets a signal frame be pushed onto the fiber's stack). */
size_t twe__fiber_room(uintptr_t sp);
/* Whether f's function has returned. */
bool twe__fiber_finished(const twe_fiber_t *f);
/* --- stowing: a parked fiber off its stack pages ----------------------------
 * A fiber suspended for long (its run parked in the cache) keeps its stack
 * pages resident though nothing runs on them: one page at least. Stowing
 * copies the live part of the stack (from the saved stack pointer to the
 * slot's top: the frames, the fiber's record, and the canary of the slot
 * above) into a malloc'd copy and gives every page of the stack back to
 * the kernel (MADV_DONTNEED). Unstowing copies it back to the same
 * addresses, so pointers into the stack stay valid, and frees the copy.
 * Between the two nothing may touch f or its stack: no resume or destroy,
 * and no pointer into the stack may be used. The slot above keeps working
 * meanwhile (its canary check knows this slot is stowed). */
typedef struct twe_fiber_stowed twe_fiber_stowed_t;
/* Stows f (suspended, or created and not yet run). Returns 0 and the copy
 * in *out, -ENOMEM, or -EBUSY (f is running, finished, or its stack
 * pointer is not on its stack: a slice ended in a signal frame). */
int twe__fiber_stow(twe_fiber_t *f, twe_fiber_stowed_t **out);
/* Puts s back on f's stack and frees s. */
void twe__fiber_unstow(twe_fiber_t *f, twe_fiber_stowed_t *s);
/* twe__fiber_destroy of a stowed fiber, without putting its stack back:
 * the slot stays off its pages (cold) until a new fiber takes it. Frees s. */
void twe__fiber_destroy_stowed(twe_fiber_t *f, twe_fiber_stowed_t *s);
/* Bytes a stowed fiber holds (its copy, header included). */
size_t twe__fiber_stowed_bytes(const twe_fiber_stowed_t *s);
/* Bytes of f's stack resident at least: the pages from its saved stack
 * pointer to the slot's top (deeper pages touched before may be too). */
size_t twe__fiber_resident_bytes(const twe_fiber_t *f);
/* Returns f's stack to its pool. f may be new, finished, or suspended
 * mid-function: then it is abandoned (nothing on its stack runs again, no
 * cleanup). Not f itself from inside f (aborts). NULL is a no-op. */
void twe__fiber_destroy(twe_fiber_t *f);

#endif /* TWE_ENGINE_FIBER_H */
