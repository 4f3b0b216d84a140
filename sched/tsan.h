/* sched/tsan.h — ThreadSanitizer annotations for the Concurrency Kit ring.
 *
 * ck_pr on x86-64 reads and writes the ring's head and tail with inline
 * assembly, which TSan does not see. Without help it would report every copy
 * into and out of a ring slot as a race, and it would not see that a message
 * hands what it points to from producer to consumer. So the mailbox:
 *   - releases on &ring.p_tail before committing a message and acquires on it
 *     after taking messages out: what a message carries is checked by TSan
 *     exactly as if the ring were built from C11 atomics;
 *   - hides the ring's own slot copies from TSan (their ordering is ck's,
 *     trusted, not checked): the copies in and out run between
 *     TWE_TSAN_IGNORE_BEGIN/END, where TSan records no memory access of the
 *     calling thread (synchronisation is still seen).
 * Everything compiles to nothing outside TSan builds.
 */
#ifndef TWE_SCHED_TSAN_H
#define TWE_SCHED_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define TWE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TWE_TSAN 1
#endif
#endif

#ifdef TWE_TSAN
/* Provided by the TSan runtime (sanitizer/tsan_interface.h
 * declares the first two); declared here so no sanitizer header is needed. */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define TWE_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#define TWE_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#define TWE_TSAN_IGNORE_BEGIN() __tsan_ignore_thread_begin()
#define TWE_TSAN_IGNORE_END() __tsan_ignore_thread_end()
#else
#define TWE_TSAN_ACQUIRE(addr) ((void)0)
#define TWE_TSAN_RELEASE(addr) ((void)0)
#define TWE_TSAN_IGNORE_BEGIN() ((void)0)
#define TWE_TSAN_IGNORE_END() ((void)0)
#endif

#endif /* TWE_SCHED_TSAN_H */
