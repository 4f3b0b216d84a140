/* sched/cpumask.h — a fixed-size set of CPU ids, so that headers need not
 * expose glibc's cpu_set_t (which needs _GNU_SOURCE in every includer).
 *
 * Thread: plain data; whoever owns the mask. */
#ifndef TWE_SCHED_CPUMASK_H
#define TWE_SCHED_CPUMASK_H

#include <stdbool.h>
#include <stdint.h>

/* The most CPU ids a mask holds (glibc's CPU_SETSIZE). CPUs beyond it are
 * never pinned to. */
#define TWE_CPUMASK_MAX 1024

typedef struct twe_cpumask {
  uint64_t bits[TWE_CPUMASK_MAX / 64];
} twe_cpumask_t;

static inline void twe__cpumask_set(twe_cpumask_t *m, unsigned cpu) {
  if (cpu < TWE_CPUMASK_MAX) m->bits[cpu / 64] |= (uint64_t)1 << (cpu % 64);
}

static inline void twe__cpumask_clear(twe_cpumask_t *m, unsigned cpu) {
  if (cpu < TWE_CPUMASK_MAX) m->bits[cpu / 64] &= ~((uint64_t)1 << (cpu % 64));
}

static inline bool twe__cpumask_has(const twe_cpumask_t *m, unsigned cpu) {
  return cpu < TWE_CPUMASK_MAX && (m->bits[cpu / 64] >> (cpu % 64)) & 1;
}

static inline unsigned twe__cpumask_count(const twe_cpumask_t *m) {
  unsigned n = 0;
  for (unsigned i = 0; i < TWE_CPUMASK_MAX / 64; i++)
    n += (unsigned)__builtin_popcountll(m->bits[i]);
  return n;
}

/* The n-th CPU (from 0) in the mask, or -1. */
static inline int twe__cpumask_nth(const twe_cpumask_t *m, unsigned n) {
  for (unsigned cpu = 0; cpu < TWE_CPUMASK_MAX; cpu++)
    if (twe__cpumask_has(m, cpu) && n-- == 0) return (int)cpu;
  return -1;
}

#endif /* TWE_SCHED_CPUMASK_H */
