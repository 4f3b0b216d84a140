/* io/reactor_backend.h — what io/reactor.c shares with the two backends
 * (io/reactor_uring.c, io/reactor_epoll.c); nothing outside io/reactor*.c
 * includes it.
 *
 * The split: reactor.c owns everything both backends do the same way —
 * choosing a backend, the clock, the timer heap, wake handles, the socket
 * front end (argument checks, cancel and close bookkeeping) and the ready
 * queue of finished operations whose callbacks it runs. A backend only moves
 * operations from ARMED to READY (through twe__reactor_complete), consumes
 * the eventfd (reporting it with twe__reactor_wake_signaled), and waits.
 * A backend never runs a user callback, so it never sees handles freed or
 * closed under its feet while it walks its events.
 *
 * Thread: the owner thread of the reactor, for everything here.
 */
#ifndef TWE_IO_REACTOR_BACKEND_H
#define TWE_IO_REACTOR_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/reactor.h"

enum { TWE__OP_CONNECT = 1, TWE__OP_RECV, TWE__OP_SEND, TWE__OP_CLOSE };
enum { TWE__OP_IDLE = 0, TWE__OP_ARMED, TWE__OP_READY };

/* twe_sock_t.flags */
enum {
  TWE__SOCK_OPEN = 1u << 0,    /* registered, fd owned */
  TWE__SOCK_CLOSING = 1u << 1, /* twe__sock_close called */
  /* epoll: readiness cache. Set by events (and optimistically at first),
   * cleared when the syscall says EAGAIN; edge-triggered epoll then reports
   * the next change. */
  TWE__SOCK_READABLE = 1u << 2,
  TWE__SOCK_WRITABLE = 1u << 3,
};

struct twe__reactor_backend;

struct twe_reactor {
  const struct twe__reactor_backend *backend;
  void *impl; /* the backend's own state */
  uint64_t now_ns;
  bool stop_requested;
  bool running;    /* inside run_once */
  bool destroying; /* nothing new may start */

  /* Min-heap of active timers, ordered by (due_ns, seq). */
  twe_timer_t **heap;
  size_t heap_len, heap_cap;
  uint64_t timer_seq;

  /* Operations whose result is known and whose callback has not run: FIFO,
   * so the operations a close cancels report before the close itself. */
  twe__op_t *ready_head;
  twe__op_t **ready_tail;

  /* Prepare handles queued, FIFO; those of the pass under way (taken from
   * the queue when it began); prepare_put_off: an iteration that did not
   * wait left them queued (the next one runs them). */
  twe_prepare_t *prepare_head;
  twe_prepare_t **prepare_tail;
  twe_prepare_t *prepare_running;
  bool prepare_put_off;

  /* Every open socket, for destroy's drain. */
  twe_sock_t *socks;
  size_t open_socks;
  size_t pending_ops;

  /* Wake-ups. wake_fd is an eventfd (blocking for io_uring, which reads it
   * with an SQE; non-blocking for epoll). */
  int wake_fd;
  /* Set by the sender that writes the eventfd, cleared by the loop before it
   * looks at the handles: see twe__wake_send for the ordering argument. */
  atomic_bool wake_armed;
  atomic_uint_fast64_t wake_writes; /* statistics only: relaxed */
  bool wake_signaled;               /* the backend consumed the eventfd */
  twe_wake_t *wakes;
  twe_wake_t *wake_iter; /* the handle run_wakes looks at next */
  size_t wake_count;

  uint64_t iterations, submit_calls, sqes_submitted, wake_events;
};

struct twe__reactor_backend {
  const char *name;
  twe_io_backend_t kind;
  /* Whether sockets and the eventfd must be O_NONBLOCK (epoll) or blocking
   * (io_uring: it returns -EAGAIN for non-blocking files instead of waiting,
   * and a blocking connect lets the kernel finish it in one completion). */
  bool nonblocking_fds;
  /* Sets up r->impl and arms the wake-up on r->wake_fd. On failure writes
   * why (e.g. "io_uring_setup: Operation not permitted") and returns < 0. */
  int (*init)(twe_reactor_t *r, unsigned ring_entries, char *why, size_t why_len);
  /* Frees r->impl. Only after drain. */
  void (*fini)(twe_reactor_t *r);
  /* Submits what is queued, waits up to timeout_ns (< 0: no limit), and
   * turns what happened into twe__reactor_complete / _wake_signaled calls.
   * Returns >= 0, or a negative errno (not for EINTR). */
  int (*poll)(twe_reactor_t *r, int64_t timeout_ns);
  /* Registers a socket whose fd mode is already set. */
  int (*sock_add)(twe_sock_t *s);
  /* Unregisters it; no operation of s is ARMED. */
  void (*sock_remove)(twe_sock_t *s);
  /* Arms op (state IDLE, fields filled). May complete it at once (the
   * result is still reported from the ready queue). Returns 0 or < 0, in
   * which case op is untouched and stays IDLE. */
  int (*op_start)(twe__op_t *op);
  /* op is ARMED and newly marked canceled: make it complete soon. */
  void (*op_cancel)(twe__op_t *op);
  /* For destroy: every ARMED op is canceled. Blocks until the kernel holds
   * nothing of the reactor (io_uring: every SQE's CQE reaped). */
  void (*drain)(twe_reactor_t *r);
};

extern const struct twe__reactor_backend twe__reactor_backend_uring;
extern const struct twe__reactor_backend twe__reactor_backend_epoll;

/* The result of ARMED op is known: move it to READY and queue it. A canceled
 * op reports -ECANCELED whatever result says. */
void twe__reactor_complete(twe__op_t *op, int result);

/* The backend consumed a signal of r->wake_fd. */
void twe__reactor_wake_signaled(twe_reactor_t *r);

#endif /* TWE_IO_REACTOR_BACKEND_H */
