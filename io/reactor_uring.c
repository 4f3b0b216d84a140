/* io/reactor_uring.c — the io_uring backend of the reactor (liburing).
 *
 * Operations become SQEs that wait in the submission queue until the loop's
 * next wait, so one io_uring_enter per iteration submits everything the
 * callbacks of the previous iteration started and waits for completions.
 * The kernel owns an SQE's buffers (and, for connect, the socket's address)
 * until its CQE is reaped; only then does an operation become READY, so a
 * callback never sees its buffer while the kernel may still write it.
 *
 * user_data of an SQE: an op pointer (tag 0, ops are pointer-aligned), or a
 * tag alone for SQEs that touch no op: the eventfd read and cancel requests.
 * A cancel's own CQE refers to nothing, so a socket may be closed and freed
 * before it arrives; destroy still waits for it (inflight counts every SQE).
 *
 * Thread: the reactor's owner thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "io/reactor_backend.h"
#include "twe/error.h"

enum { TAG_OP = 0, TAG_CANCEL = 1, TAG_WAKE = 2, TAG_MASK = 7 };

/* A send is handed to the kernel at most this many bytes at a time (SQE
 * lengths are 32-bit); the rest follows as the CQEs come back. */
#define SEND_CHUNK (1u << 30)

typedef struct uring_impl {
  struct io_uring ring;
  /* SQEs whose CQE has not been reaped. */
  size_t inflight;
  /* The eventfd read SQE writes here. */
  uint64_t wake_buf;
  /* Ops whose cancel found no free SQE even after a flush; retried at the
   * next poll. Linked through op->next (free while ARMED). */
  twe__op_t *cancel_retry;
} uring_impl_t;

static uring_impl_t *impl_of(twe_reactor_t *r) { return r->impl; }

/* Hands queued SQEs to the kernel without waiting. */
static int flush(twe_reactor_t *r) {
  uring_impl_t *u = impl_of(r);
  unsigned before = io_uring_sq_ready(&u->ring);
  int rc = io_uring_submit(&u->ring);
  r->submit_calls++;
  r->sqes_submitted += before - io_uring_sq_ready(&u->ring);
  return rc;
}

/* A free SQE; flushes the queue once if it is full. */
static struct io_uring_sqe *get_sqe(twe_reactor_t *r) {
  uring_impl_t *u = impl_of(r);
  struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
  if (!sqe) {
    flush(r);
    sqe = io_uring_get_sqe(&u->ring);
  }
  return sqe;
}

static int arm_wake(twe_reactor_t *r) {
  uring_impl_t *u = impl_of(r);
  struct io_uring_sqe *sqe = get_sqe(r);
  if (!sqe) return -EBUSY;
  io_uring_prep_read(sqe, r->wake_fd, &u->wake_buf, sizeof u->wake_buf, 0);
  io_uring_sqe_set_data64(sqe, TAG_WAKE);
  u->inflight++;
  return 0;
}

/* Opcodes the reactor cannot do without; older kernels lack some. */
static const struct {
  int op;
  const char *name;
} needed_ops[] = {
    {IORING_OP_CONNECT, "IORING_OP_CONNECT"},
    {IORING_OP_RECV, "IORING_OP_RECV"},
    {IORING_OP_SEND, "IORING_OP_SEND"},
    {IORING_OP_READ, "IORING_OP_READ"},
    {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
};

static int uring_init(twe_reactor_t *r, unsigned entries, char *why, size_t why_len) {
  uring_impl_t *u = calloc(1, sizeof *u);
  if (!u) {
    snprintf(why, why_len, "out of memory");
    return -ENOMEM;
  }
  /* COOP_TASKRUN: completions are posted when we next enter the kernel
   * rather than by interrupting us (we enter every iteration anyway);
   * TASKRUN_FLAG tells a non-blocking poll when entering is needed.
   * SUBMIT_ALL: one bad SQE does not hold back the rest of the batch.
   * Kernels before 5.19 refuse these: retry bare. */
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL;
  int rc = io_uring_queue_init_params(entries, &u->ring, &p);
  if (rc == -EINVAL) {
    memset(&p, 0, sizeof p);
    rc = io_uring_queue_init_params(entries, &u->ring, &p);
  }
  if (rc < 0) {
    snprintf(why, why_len, "io_uring_setup: %s", twe_strerror(rc));
    free(u);
    return rc;
  }
  struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
  if (!probe) {
    snprintf(why, why_len, "io_uring opcode probe unsupported (kernel before 5.6)");
    rc = -ENOSYS;
  } else {
    for (size_t i = 0; i < sizeof needed_ops / sizeof needed_ops[0]; i++) {
      if (!io_uring_opcode_supported(probe, needed_ops[i].op)) {
        snprintf(why, why_len, "io_uring lacks %s", needed_ops[i].name);
        rc = -ENOSYS;
        break;
      }
    }
    io_uring_free_probe(probe);
  }
  if (rc < 0) {
    io_uring_queue_exit(&u->ring);
    free(u);
    return rc;
  }
  r->impl = u;
  rc = arm_wake(r);
  if (rc < 0) {
    snprintf(why, why_len, "io_uring: no SQE for the wake-up");
    io_uring_queue_exit(&u->ring);
    free(u);
    r->impl = NULL;
  }
  return rc;
}

static void uring_fini(twe_reactor_t *r) {
  uring_impl_t *u = impl_of(r);
  io_uring_queue_exit(&u->ring);
  free(u);
  r->impl = NULL;
}

/* Queues the SQE for op from where it stands (a send resumes at op->done). */
static int prep_op(twe_reactor_t *r, twe__op_t *op) {
  struct io_uring_sqe *sqe = get_sqe(r);
  if (!sqe) return -EBUSY;
  twe_sock_t *s = op->sock;
  switch (op->kind) {
  case TWE__OP_CONNECT:
    io_uring_prep_connect(sqe, s->fd, (const struct sockaddr *)&s->peer, s->peer_len);
    break;
  case TWE__OP_RECV: io_uring_prep_recv(sqe, s->fd, op->buf, op->len, 0); break;
  case TWE__OP_SEND: {
    size_t left = op->len - op->done;
    if (left > SEND_CHUNK) left = SEND_CHUNK;
    io_uring_prep_send(sqe, s->fd, (char *)op->buf + op->done, left, MSG_NOSIGNAL);
    break;
  }
  default: return -EINVAL;
  }
  io_uring_sqe_set_data(sqe, op);
  impl_of(r)->inflight++;
  return 0;
}

static int uring_op_start(twe__op_t *op) { return prep_op(op->sock->reactor, op); }

static void uring_op_cancel(twe__op_t *op) {
  twe_reactor_t *r = op->sock->reactor;
  uring_impl_t *u = impl_of(r);
  struct io_uring_sqe *sqe = get_sqe(r);
  if (!sqe) {
    op->next = u->cancel_retry;
    u->cancel_retry = op;
    return;
  }
  io_uring_prep_cancel(sqe, op, 0);
  io_uring_sqe_set_data64(sqe, TAG_CANCEL);
  u->inflight++;
}

static void retry_cancels(twe_reactor_t *r) {
  uring_impl_t *u = impl_of(r);
  twe__op_t *list = u->cancel_retry;
  u->cancel_retry = NULL;
  while (list) {
    twe__op_t *op = list;
    list = op->next;
    op->next = NULL;
    uring_op_cancel(op);
  }
}

/* op's CQE came back while it was waiting for a cancel SQE: it no longer
 * needs one. Rare, so a linear walk is fine. */
static void retry_forget(uring_impl_t *u, twe__op_t *op) {
  for (twe__op_t **p = &u->cancel_retry; *p; p = &(*p)->next) {
    if (*p == op) {
      *p = op->next;
      op->next = NULL;
      return;
    }
  }
}

static void on_op_cqe(twe_reactor_t *r, twe__op_t *op, int res) {
  uring_impl_t *u = impl_of(r);
  if (u->cancel_retry) retry_forget(u, op);
  if (op->kind == TWE__OP_SEND && !op->canceled && !r->destroying) {
    if (res > 0) {
      op->done += (size_t)res;
      if (op->done < op->len) {
        /* Short send: queue the rest; it goes out with the next submit. */
        int rc = prep_op(r, op);
        if (rc == 0) return;
        res = rc;
      } else {
        res = 0;
      }
    } else if (res == 0) {
      res = -EIO; /* no progress on a non-empty send: never loop on it */
    }
  } else if (op->kind == TWE__OP_SEND && res > 0) {
    res = 0;
  }
  twe__reactor_complete(op, res);
}

static void on_wake_cqe(twe_reactor_t *r, int res) {
  (void)res; /* a value, -EINTR or -EAGAIN: any of them means "look" */
  twe__reactor_wake_signaled(r);
  if (!r->destroying) arm_wake(r);
}

/* Reaps every CQE that is there. */
static void reap(twe_reactor_t *r) {
  uring_impl_t *u = impl_of(r);
  struct io_uring_cqe *cqe;
  unsigned head, seen = 0;
  io_uring_for_each_cqe(&u->ring, head, cqe) {
    seen++;
    uint64_t ud = cqe->user_data;
    /* liburing's own timeout SQE (kernels without EXT_ARG): not ours. */
    if (ud == LIBURING_UDATA_TIMEOUT) continue;
    u->inflight--;
    switch (ud & TAG_MASK) {
    case TAG_OP: on_op_cqe(r, (twe__op_t *)(uintptr_t)ud, cqe->res); break;
    case TAG_WAKE:
      if (r->destroying && cqe->res == -ECANCELED) break;
      on_wake_cqe(r, cqe->res);
      break;
    case TAG_CANCEL: break; /* the target's own CQE carries the outcome */
    }
  }
  io_uring_cq_advance(&u->ring, seen);
}

static bool needs_enter(const uring_impl_t *u) {
  unsigned flags = __atomic_load_n(u->ring.sq.kflags, __ATOMIC_ACQUIRE);
  return flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

static int uring_poll(twe_reactor_t *r, int64_t timeout_ns) {
  uring_impl_t *u = impl_of(r);
  if (u->cancel_retry) retry_cancels(r);
  int rc = 0;
  if (timeout_ns == 0) {
    if (io_uring_sq_ready(&u->ring) > 0) {
      rc = flush(r);
    } else if (needs_enter(u)) {
      rc = io_uring_get_events(&u->ring);
      r->submit_calls++;
    }
  } else {
    struct __kernel_timespec ts, *tsp = NULL;
    if (timeout_ns > 0) {
      ts.tv_sec = timeout_ns / 1000000000;
      ts.tv_nsec = timeout_ns % 1000000000;
      tsp = &ts;
    }
    struct io_uring_cqe *cqe;
    unsigned before = io_uring_sq_ready(&u->ring);
    /* Submit and wait in one system call. */
    rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tsp, NULL);
    r->submit_calls++;
    r->sqes_submitted += before - io_uring_sq_ready(&u->ring);
  }
  if (rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY) rc = 0;
  reap(r);
  return rc < 0 ? rc : 0;
}

static int uring_sock_add(twe_sock_t *s) {
  (void)s;
  return 0;
}

static void uring_sock_remove(twe_sock_t *s) { (void)s; }

/* Every armed op was canceled by destroy; cancel the eventfd read too and
 * reap until the kernel has answered every SQE. */
static void uring_drain(twe_reactor_t *r) {
  uring_impl_t *u = impl_of(r);
  struct io_uring_sqe *sqe = get_sqe(r);
  if (sqe) {
    io_uring_prep_cancel64(sqe, TAG_WAKE, 0);
    io_uring_sqe_set_data64(sqe, TAG_CANCEL);
    u->inflight++;
  }
  while (u->inflight > 0) {
    if (u->cancel_retry) retry_cancels(r);
    unsigned before = io_uring_sq_ready(&u->ring);
    int rc = io_uring_submit_and_wait(&u->ring, 1);
    r->submit_calls++;
    r->sqes_submitted += before - io_uring_sq_ready(&u->ring);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
      /* The ring itself is broken; io_uring_queue_exit will still cancel
       * and wait in the kernel, but say so: this should never happen. */
      fprintf(stderr, "twe: io_uring drain failed: %s\n", twe_strerror(rc));
      break;
    }
    reap(r);
  }
}

const struct twe__reactor_backend twe__reactor_backend_uring = {
    .name = "io_uring",
    .kind = TWE_IO_BACKEND_URING,
    .nonblocking_fds = false,
    .init = uring_init,
    .fini = uring_fini,
    .poll = uring_poll,
    .sock_add = uring_sock_add,
    .sock_remove = uring_sock_remove,
    .op_start = uring_op_start,
    .op_cancel = uring_op_cancel,
    .drain = uring_drain,
};
