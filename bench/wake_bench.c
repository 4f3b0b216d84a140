/* bench/wake_bench.c — what one wake-up of a sleeping thread costs on this
 * machine, in CPU time charged to each side: the thread woken (its blocking
 * read returns) and the thread that wakes it (its write). Every message the
 * worker gets from the server, and every activity handed to a pool thread
 * and back, is such a wake-up for someone; this gives their price.
 *
 *   wake_bench [wakes [gap_us]]   (defaults: 5000 wakes, 1000 us apart)
 *
 * Two threads and an eventfd (semaphore mode: one read per write). The
 * waker sleeps gap_us (so the other thread is asleep in its read, as a
 * worker waiting for the next message is), takes a timestamp, writes; the
 * wakee reads and takes a timestamp. Two rows: the wakee on the first CPU of
 * the affinity mask and the waker on the second (a wake-up across CPUs: in a
 * VM the sleeping CPU has halted, and waking it is an interrupt between
 * CPUs), then both on the first CPU. Each side's CPU is its thread's CPU
 * clock: the wakee's over the whole run (it does nothing but wake), the
 * waker's around its writes only (not its own timer wake-ups).
 *
 * Prints a Markdown table: CPU microseconds per wake-up for each side, and
 * the wall time from the write to the read's return (p50, p99). */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_* */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct row {
  int cpu_wakee, cpu_waker;
  int fd;
  long wakes, gap_us;
  _Atomic int64_t sent_ns; /* the waker's timestamp of the current write */
  int64_t *latency_ns;     /* per wake-up, written by the wakee */
  double wakee_cpu_s, waker_cpu_s;
  int error;
} row_t;

static int64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *wakee(void *arg) {
  row_t *r = arg;
  if (pin(r->cpu_wakee) != 0) r->error = 1;
  int64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  for (long i = 0; i < r->wakes; i++) {
    uint64_t v;
    ssize_t n;
    do n = read(r->fd, &v, sizeof v);
    while (n < 0 && errno == EINTR);
    if (n != sizeof v) {
      r->error = 1;
      break;
    }
    r->latency_ns[i] = clock_ns(CLOCK_MONOTONIC) -
                       atomic_load_explicit(&r->sent_ns, memory_order_acquire);
  }
  r->wakee_cpu_s = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e9;
  return NULL;
}

static void *waker(void *arg) {
  row_t *r = arg;
  if (pin(r->cpu_waker) != 0) r->error = 1;
  int64_t in_writes = 0;
  for (long i = 0; i < r->wakes; i++) {
    struct timespec gap = {r->gap_us / 1000000, (r->gap_us % 1000000) * 1000};
    while (nanosleep(&gap, &gap) != 0 && errno == EINTR) {
    }
    uint64_t one = 1;
    int64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    atomic_store_explicit(&r->sent_ns, clock_ns(CLOCK_MONOTONIC), memory_order_release);
    if (write(r->fd, &one, sizeof one) != sizeof one) r->error = 1;
    in_writes += clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
  }
  r->waker_cpu_s = (double)in_writes / 1e9;
  return NULL;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int run_row(row_t *r) {
  int rc = -1;
  r->fd = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
  r->latency_ns = calloc((size_t)r->wakes, sizeof *r->latency_ns);
  if (r->fd < 0 || !r->latency_ns) goto out;
  pthread_t a, b;
  if (pthread_create(&a, NULL, wakee, r) != 0) goto out;
  usleep(10000); /* the wakee asleep in its read first */
  if (pthread_create(&b, NULL, waker, r) != 0) {
    uint64_t unblock = (uint64_t)r->wakes;
    if (write(r->fd, &unblock, sizeof unblock) < 0) r->error = 1;
    pthread_join(a, NULL);
    goto out;
  }
  pthread_join(b, NULL);
  pthread_join(a, NULL);
  qsort(r->latency_ns, (size_t)r->wakes, sizeof *r->latency_ns, cmp_i64);
  rc = r->error ? -1 : 0;
out:
  if (r->fd >= 0) close(r->fd);
  return rc;
}

int main(int argc, char **argv) {
  long wakes = argc > 1 ? atol(argv[1]) : 5000;
  long gap_us = argc > 2 ? atol(argv[2]) : 1000;
  if (wakes < 1 || gap_us < 0) {
    fprintf(stderr, "usage: wake_bench [wakes [gap_us]]\n");
    return 2;
  }
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return 1;
  int cpus[2] = {-1, -1}, found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
    if (CPU_ISSET(c, &mask)) cpus[found++] = c;
  printf("wake-ups: %ld, %ld us apart; wakee on CPU %d\n\n", wakes, gap_us, cpus[0]);
  printf("| placement | wakee CPU us per wake-up | waker CPU us per write | write -> read returns p50 us | p99 us |\n");
  printf("|---|---:|---:|---:|---:|\n");
  int status = 0;
  for (int same = 0; same <= 1; same++) {
    if (!same && found < 2) {
      printf("| other CPU | - | - | - | - |\n");
      continue;
    }
    row_t r = {.cpu_wakee = cpus[0], .cpu_waker = same ? cpus[0] : cpus[1], .fd = -1,
               .wakes = wakes, .gap_us = gap_us};
    if (run_row(&r) != 0) {
      fprintf(stderr, "wake_bench: the %s row failed\n", same ? "same-CPU" : "other-CPU");
      status = 1;
    } else {
      printf("| %s (waker on CPU %d) | %.2f | %.2f | %.1f | %.1f |\n", same ? "same CPU" : "other CPU",
             r.cpu_waker, r.wakee_cpu_s * 1e6 / (double)wakes, r.waker_cpu_s * 1e6 / (double)wakes,
             (double)r.latency_ns[wakes / 2] / 1e3,
             (double)r.latency_ns[(size_t)((double)wakes * 0.99)] / 1e3);
    }
    free(r.latency_ns);
  }
  return status;
}
