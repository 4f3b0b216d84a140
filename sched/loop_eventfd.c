/* sched/loop_eventfd.c — the default loop of sched/loop.h: an eventfd waited
 * on with ppoll. */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sched/loop.h"

int twe__eventfd_loop_init(twe_eventfd_loop_t *loop) {
  loop->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return loop->fd < 0 ? -errno : 0;
}

void twe__eventfd_loop_destroy(twe_eventfd_loop_t *loop) {
  if (loop->fd >= 0) close(loop->fd);
  loop->fd = -1;
}

static int eventfd_run_once(void *ctx, int64_t timeout_ns) {
  twe_eventfd_loop_t *loop = ctx;
  /* A busy shard calls this with 0 every round: there is nothing to handle
   * here but the wake counter, and leaving it set only makes the next real
   * wait return once at once. Save the system call. */
  if (timeout_ns == 0) return 0;
  struct pollfd pfd = {.fd = loop->fd, .events = POLLIN};
  struct timespec ts, *tsp = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    tsp = &ts;
  }
  int n = ppoll(&pfd, 1, tsp, NULL);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  if (n == 0) return 0;
  /* Reset the counter so the next wait blocks again. A wake landing between
   * ppoll and read is folded into this one: the caller re-checks its state
   * after every return, which is what makes that safe. */
  uint64_t v;
  if (read(loop->fd, &v, sizeof v) < 0 && errno != EAGAIN) return -errno;
  return 1;
}

static void eventfd_wake(void *ctx) {
  twe_eventfd_loop_t *loop = ctx;
  uint64_t one = 1;
  /* EAGAIN means the counter is at its maximum: the loop is already due to
   * wake, so there is nothing to add. */
  ssize_t r = write(loop->fd, &one, sizeof one);
  (void)r;
}

const twe_shard_loop_ops_t twe__eventfd_loop_ops = {
  .run_once = eventfd_run_once,
  .wake = eventfd_wake,
};
