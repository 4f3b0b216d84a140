/* io/reactor.c — what both reactor backends share: choosing the backend, the
 * loop itself, the clock, the timer heap, wake handles, and the socket front
 * end (argument checks, cancel/close bookkeeping, the ready queue whose
 * callbacks it runs). The backends (io/reactor_uring.c, io/reactor_epoll.c)
 * only move operations to the ready queue and wait; see
 * io/reactor_backend.h. */
#define _GNU_SOURCE /* eventfd flags, F_SETFL */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "io/reactor.h"
#include "io/reactor_backend.h"
#include "twe/error.h"

/* --- backend choice ------------------------------------------------------ */

const char *twe__io_backend_name(twe_io_backend_t backend) {
  switch (backend) {
  case TWE_IO_BACKEND_URING: return "io_uring";
  case TWE_IO_BACKEND_EPOLL: return "epoll";
  case TWE_IO_BACKEND_AUTO: break;
  }
  return "auto";
}

/* TWE_IO_BACKEND: unset or empty is AUTO. */
static int backend_from_env(twe_io_backend_t *out, const char **raw) {
  const char *v = getenv("TWE_IO_BACKEND");
  *raw = v;
  *out = TWE_IO_BACKEND_AUTO;
  if (!v || !*v) return 0;
  if (strcmp(v, "io_uring") == 0) *out = TWE_IO_BACKEND_URING;
  else if (strcmp(v, "epoll") == 0) *out = TWE_IO_BACKEND_EPOLL;
  else return -EINVAL;
  return 0;
}

/* One line per process, not per shard: every shard makes the same choice. */
static atomic_flag backend_logged = ATOMIC_FLAG_INIT;

static void log_backend(const char *name, const char *why) {
  if (atomic_flag_test_and_set(&backend_logged)) return;
  fprintf(stderr, "twe: io backend %s (%s)\n", name, why);
}

/* Brings up backend b on r: the eventfd in the mode b needs, then b itself. */
static int try_backend(twe_reactor_t *r, const struct twe__reactor_backend *b, unsigned entries,
                       char *why, size_t why_len) {
  int fd = eventfd(0, EFD_CLOEXEC | (b->nonblocking_fds ? EFD_NONBLOCK : 0));
  if (fd < 0) {
    int err = -errno;
    snprintf(why, why_len, "eventfd: %s", twe_strerror(err));
    return err;
  }
  r->wake_fd = fd;
  r->backend = b;
  int rc = b->init(r, entries, why, why_len);
  if (rc < 0) {
    close(fd);
    r->wake_fd = -1;
    r->backend = NULL;
  }
  return rc;
}

/* quiet: a probe, which says nothing on stderr. */
static int create(twe_reactor_t **out, const twe_reactor_options_t *opts, bool quiet) {
  *out = NULL;
  twe_reactor_options_t o = {0};
  if (opts) o = *opts;
  const char *raw = NULL;
  twe_io_backend_t want = o.backend;
  bool from_env = false;
  if (want == TWE_IO_BACKEND_AUTO) {
    if (backend_from_env(&want, &raw) < 0) {
      fprintf(stderr, "twe: TWE_IO_BACKEND=%s is neither io_uring nor epoll\n", raw);
      return -EINVAL;
    }
    from_env = want != TWE_IO_BACKEND_AUTO;
  }
  bool auto_choice = o.backend == TWE_IO_BACKEND_AUTO;
  unsigned entries = o.ring_entries ? o.ring_entries : 256;

  twe_reactor_t *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->wake_fd = -1;
  r->ready_tail = &r->ready_head;
  r->prepare_tail = &r->prepare_head;
  atomic_init(&r->wake_armed, false);
  atomic_init(&r->wake_writes, 0);
  twe__reactor_update_time(r);

  char why[160] = "";
  char line[200];
  int rc = -ENOSYS;
  if (want != TWE_IO_BACKEND_EPOLL) {
    rc = try_backend(r, &twe__reactor_backend_uring, entries, why, sizeof why);
    if (rc == 0 && auto_choice)
      log_backend("io_uring", from_env ? "TWE_IO_BACKEND=io_uring" : "io_uring_setup works");
    if (rc < 0 && want == TWE_IO_BACKEND_URING) {
      /* Forced: no fallback, but say why it failed. */
      if (!quiet) fprintf(stderr, "twe: io backend io_uring unavailable (%s)\n", why);
      free(r);
      return rc;
    }
  }
  if (rc < 0) {
    /* Either epoll was asked for, or AUTO fell back from io_uring (why). */
    bool fell_back = want == TWE_IO_BACKEND_AUTO;
    snprintf(line, sizeof line, "%s", fell_back ? why : "TWE_IO_BACKEND=epoll");
    rc = try_backend(r, &twe__reactor_backend_epoll, entries, why, sizeof why);
    if (rc < 0) {
      if (!quiet) fprintf(stderr, "twe: io backend epoll unavailable (%s)\n", why);
      free(r);
      return rc;
    }
    if (auto_choice) log_backend("epoll", line);
  }
  *out = r;
  return 0;
}

int twe__reactor_create(twe_reactor_t **out, const twe_reactor_options_t *opts) {
  return create(out, opts, false);
}

int twe__reactor_probe(twe_io_backend_t b) {
  twe_reactor_options_t opts = {.backend = b == TWE_IO_BACKEND_AUTO ? TWE_IO_BACKEND_URING : b,
                                .ring_entries = 8};
  twe_reactor_t *r = NULL;
  int rc = create(&r, &opts, true);
  if (rc == 0) twe__reactor_destroy(r);
  return rc;
}

twe_io_backend_t twe__reactor_backend(const twe_reactor_t *r) { return r->backend->kind; }

/* --- clock ----------------------------------------------------------------- */

uint64_t twe__reactor_now(const twe_reactor_t *r) { return r->now_ns; }

void twe__reactor_update_time(twe_reactor_t *r) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  r->now_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- timers: a binary min-heap on (due_ns, seq) ---------------------------- */

static bool timer_before(const twe_timer_t *a, const twe_timer_t *b) {
  return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void heap_set(twe_reactor_t *r, size_t i, twe_timer_t *t) {
  r->heap[i] = t;
  t->heap_index = i;
}

static void heap_sift_up(twe_reactor_t *r, size_t i) {
  twe_timer_t *t = r->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!timer_before(t, r->heap[parent])) break;
    heap_set(r, i, r->heap[parent]);
    i = parent;
  }
  heap_set(r, i, t);
}

static void heap_sift_down(twe_reactor_t *r, size_t i) {
  twe_timer_t *t = r->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= r->heap_len) break;
    if (child + 1 < r->heap_len && timer_before(r->heap[child + 1], r->heap[child])) child++;
    if (!timer_before(r->heap[child], t)) break;
    heap_set(r, i, r->heap[child]);
    i = child;
  }
  heap_set(r, i, t);
}

static void heap_remove(twe_reactor_t *r, twe_timer_t *t) {
  size_t i = t->heap_index;
  twe_timer_t *last = r->heap[--r->heap_len];
  if (last != t) {
    heap_set(r, i, last);
    heap_sift_down(r, i);
    heap_sift_up(r, last->heap_index);
  }
  t->heap_index = SIZE_MAX;
}

void twe__timer_init(twe_reactor_t *r, twe_timer_t *timer, twe_timer_cb cb) {
  void *data = timer->data;
  memset(timer, 0, sizeof *timer);
  timer->data = data;
  timer->reactor = r;
  timer->cb = cb;
  timer->heap_index = SIZE_MAX;
}

bool twe__timer_active(const twe_timer_t *timer) { return timer->heap_index != SIZE_MAX; }

int twe__timer_start(twe_timer_t *timer, uint64_t delay_ns) {
  twe_reactor_t *r = timer->reactor;
  if (r->destroying) return -ESHUTDOWN;
  if (twe__timer_active(timer)) heap_remove(r, timer);
  if (r->heap_len == r->heap_cap) {
    size_t cap = r->heap_cap ? r->heap_cap * 2 : 16;
    twe_timer_t **heap = realloc(r->heap, cap * sizeof *heap);
    if (!heap) return -ENOMEM;
    r->heap = heap;
    r->heap_cap = cap;
  }
  timer->due_ns = delay_ns > UINT64_MAX - r->now_ns ? UINT64_MAX : r->now_ns + delay_ns;
  timer->seq = r->timer_seq++;
  heap_set(r, r->heap_len++, timer);
  heap_sift_up(r, timer->heap_index);
  return 0;
}

void twe__timer_stop(twe_timer_t *timer) {
  if (twe__timer_active(timer)) heap_remove(timer->reactor, timer);
}

/* Fires the timers due at the iteration's time. Timers started by these
 * callbacks (seq >= limit) wait for the next iteration, even with delay 0,
 * so a timer that restarts itself cannot keep the loop here forever. */
static int run_timers(twe_reactor_t *r) {
  uint64_t limit = r->timer_seq;
  int n = 0;
  while (r->heap_len > 0) {
    twe_timer_t *t = r->heap[0];
    if (t->due_ns > r->now_ns || t->seq >= limit) break;
    heap_remove(r, t);
    t->cb(t);
    n++;
  }
  return n;
}

/* --- prepare handles --------------------------------------------------------- */

void twe__prepare_queue(twe_reactor_t *r, twe_prepare_t *p, twe_prepare_cb cb) {
  if (p->queued || r->destroying) return;
  p->cb = cb;
  p->next = NULL;
  p->queued = true;
  *r->prepare_tail = p;
  r->prepare_tail = &p->next;
}

/* Unlinks p from the list at *pp; true if it was there. *tail (if not NULL)
 * is the list's tail pointer, kept right. */
static bool prepare_unlink(twe_prepare_t **pp, twe_prepare_t ***tail, twe_prepare_t *p) {
  for (; *pp; pp = &(*pp)->next) {
    if (*pp != p) continue;
    *pp = p->next;
    if (tail && *tail == &p->next) *tail = pp;
    return true;
  }
  return false;
}

void twe__prepare_cancel(twe_reactor_t *r, twe_prepare_t *p) {
  if (!p->queued) return;
  /* In the pass under way (run_prepares), or queued for a later one. */
  if (!prepare_unlink(&r->prepare_running, NULL, p))
    prepare_unlink(&r->prepare_head, &r->prepare_tail, p);
  p->next = NULL;
  p->queued = false;
}

/* Runs the handles queued when it began, each unlinked before its callback
 * (which may queue it again, for a later pass, or cancel others). Returns
 * how many ran. */
static int run_prepares(twe_reactor_t *r) {
  int n = 0;
  r->prepare_put_off = false;
  r->prepare_running = r->prepare_head;
  r->prepare_head = NULL;
  r->prepare_tail = &r->prepare_head;
  for (twe_prepare_t *p; (p = r->prepare_running) != NULL;) {
    r->prepare_running = p->next;
    p->next = NULL;
    p->queued = false;
    p->cb(p);
    n++;
  }
  return n;
}

/* --- wake handles ---------------------------------------------------------- */

void twe__wake_init(twe_reactor_t *r, twe_wake_t *wake, twe_wake_cb cb) {
  void *data = wake->data;
  memset(wake, 0, sizeof *wake);
  wake->data = data;
  wake->reactor = r;
  wake->cb = cb;
  atomic_init(&wake->pending, false);
  wake->next = r->wakes;
  if (r->wakes) r->wakes->prev = wake;
  r->wakes = wake;
  r->wake_count++;
}

/* Two exchanges, both seq_cst, against the loop's exchanges on wake_armed
 * and on each handle's pending flag (run_wakes):
 * - pending: the sender that turns it false -> true owes a signal; the
 *   exchange also releases what the sender wrote before (its queue push) to
 *   the loop's exchange that reads true (acquire).
 * - wake_armed: only the sender that turns it false -> true writes the
 *   eventfd. The loop clears it before it scans the handles. If the loop's
 *   scan missed our pending flag, its clear came before our exchange in the
 *   single seq_cst order, so we see false and write: no lost wake-up. */
void twe__wake_send(twe_wake_t *wake) {
  if (atomic_exchange(&wake->pending, true)) return;
  twe__reactor_wake(wake->reactor);
}

/* The reactor-level half of twe__wake_send; also the whole of a bare wake. */
void twe__reactor_wake(twe_reactor_t *r) {
  if (atomic_exchange(&r->wake_armed, true)) return;
  /* Statistics only: no ordering needed. */
  atomic_fetch_add_explicit(&r->wake_writes, 1, memory_order_relaxed);
  uint64_t one = 1;
  ssize_t n;
  do {
    n = write(r->wake_fd, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  /* EAGAIN would mean the counter is near overflow: it is readable anyway. */
}

void twe__wake_close(twe_wake_t *wake) {
  twe_reactor_t *r = wake->reactor;
  if (!r) return;
  /* A callback of run_wakes may close the handle it would look at next. */
  if (r->wake_iter == wake) r->wake_iter = wake->next;
  if (wake->prev) wake->prev->next = wake->next;
  else r->wakes = wake->next;
  if (wake->next) wake->next->prev = wake->prev;
  wake->prev = wake->next = NULL;
  wake->reactor = NULL;
  r->wake_count--;
}

void twe__reactor_wake_signaled(twe_reactor_t *r) {
  r->wake_signaled = true;
  r->wake_events++;
}

static int run_wakes(twe_reactor_t *r) {
  if (!r->wake_signaled) return 0;
  r->wake_signaled = false;
  /* Before the scan: see twe__wake_send. An exchange, not a store: reading
   * the senders' true makes their earlier writes (mailbox pushes, for bare
   * twe__reactor_wake callers) visible to what the loop does next. */
  atomic_exchange(&r->wake_armed, false);
  int n = 0;
  for (twe_wake_t *w = r->wakes; w; w = r->wake_iter) {
    r->wake_iter = w->next;
    if (atomic_exchange(&w->pending, false)) {
      w->cb(w);
      n++;
    }
  }
  return n;
}

/* --- sockets ----------------------------------------------------------------- */

static void op_prepare(twe_sock_t *s, twe__op_t *op, uint8_t kind) {
  memset(op, 0, sizeof *op);
  op->sock = s;
  op->kind = kind;
}

int twe__sock_init(twe_reactor_t *r, twe_sock_t *sock, int fd) {
  if (r->destroying) return -ESHUTDOWN;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return -errno;
  int want = r->backend->nonblocking_fds ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (want != fl && fcntl(fd, F_SETFL, want) < 0) return -errno;
  void *data = sock->data;
  memset(sock, 0, sizeof *sock);
  sock->data = data;
  sock->reactor = r;
  sock->fd = fd;
  op_prepare(sock, &sock->connect_op, TWE__OP_CONNECT);
  op_prepare(sock, &sock->recv_op, TWE__OP_RECV);
  op_prepare(sock, &sock->send_op, TWE__OP_SEND);
  op_prepare(sock, &sock->close_op, TWE__OP_CLOSE);
  /* Optimistic readiness: the first attempt finds out (epoll only). */
  sock->flags = TWE__SOCK_OPEN | TWE__SOCK_READABLE | TWE__SOCK_WRITABLE;
  int rc = r->backend->sock_add(sock);
  if (rc < 0) {
    sock->flags = 0;
    sock->fd = -1;
    return rc;
  }
  sock->next = r->socks;
  if (r->socks) r->socks->prev = sock;
  r->socks = sock;
  r->open_socks++;
  return 0;
}

static void sock_unlink(twe_sock_t *s) {
  twe_reactor_t *r = s->reactor;
  if (s->prev) s->prev->next = s->next;
  else r->socks = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  r->open_socks--;
}

static void ready_push(twe_reactor_t *r, twe__op_t *op) {
  op->next = NULL;
  *r->ready_tail = op;
  r->ready_tail = &op->next;
}

static bool sock_any_armed(const twe_sock_t *s) {
  return s->connect_op.state == TWE__OP_ARMED || s->recv_op.state == TWE__OP_ARMED ||
         s->send_op.state == TWE__OP_ARMED;
}

/* A closing socket whose operations the kernel has all given back: close the
 * fd and queue the close report behind the operations' reports. */
static void maybe_finish_close(twe_sock_t *s) {
  if (!(s->flags & TWE__SOCK_CLOSING) || !(s->flags & TWE__SOCK_OPEN)) return;
  if (sock_any_armed(s)) return;
  s->reactor->backend->sock_remove(s);
  close(s->fd);
  s->fd = -1;
  s->flags &= ~(unsigned)TWE__SOCK_OPEN;
  sock_unlink(s);
  s->close_op.state = TWE__OP_READY;
  ready_push(s->reactor, &s->close_op);
}

void twe__reactor_complete(twe__op_t *op, int result) {
  twe_sock_t *s = op->sock;
  op->result = op->canceled ? -ECANCELED : result;
  op->state = TWE__OP_READY;
  ready_push(s->reactor, op);
  maybe_finish_close(s);
}

/* Common checks; 0 when sock may take a new operation. */
static int sock_usable(const twe_sock_t *s) {
  if ((s->flags & TWE__SOCK_CLOSING) || (s->reactor && s->reactor->destroying)) return -ESHUTDOWN;
  if (!(s->flags & TWE__SOCK_OPEN)) return -EBADF;
  return 0;
}

static int op_start(twe__op_t *op) {
  twe_reactor_t *r = op->sock->reactor;
  op->done = 0;
  op->result = 0;
  op->canceled = false;
  op->state = TWE__OP_ARMED;
  int rc = r->backend->op_start(op);
  if (rc < 0) {
    op->state = TWE__OP_IDLE;
    return rc;
  }
  r->pending_ops++;
  return 0;
}

int twe__sock_connect(twe_sock_t *sock, const struct sockaddr *addr, socklen_t addrlen,
                      twe_connect_cb cb) {
  int rc = sock_usable(sock);
  if (rc < 0) return rc;
  if (!addr || !cb || addrlen == 0 || addrlen > sizeof sock->peer) return -EINVAL;
  if (sock->connect_op.state || sock->recv_op.state || sock->send_op.state) return -EBUSY;
  memcpy(&sock->peer, addr, addrlen);
  sock->peer_len = addrlen;
  sock->connect_op.cb.connect = cb;
  return op_start(&sock->connect_op);
}

int twe__sock_recv(twe_sock_t *sock, void *buf, size_t len, twe_recv_cb cb) {
  int rc = sock_usable(sock);
  if (rc < 0) return rc;
  if (!buf || !cb || len == 0 || len > INT_MAX) return -EINVAL;
  if (sock->recv_op.state || sock->connect_op.state) return -EBUSY;
  sock->recv_op.buf = buf;
  sock->recv_op.len = len;
  sock->recv_op.cb.recv = cb;
  return op_start(&sock->recv_op);
}

int twe__sock_send(twe_sock_t *sock, const void *buf, size_t len, twe_send_cb cb) {
  int rc = sock_usable(sock);
  if (rc < 0) return rc;
  if (!buf || !cb || len == 0) return -EINVAL;
  if (sock->send_op.state || sock->connect_op.state) return -EBUSY;
  /* The kernel only reads it; the op keeps a plain pointer for both ways. */
  sock->send_op.buf = (void *)(uintptr_t)buf;
  sock->send_op.len = len;
  sock->send_op.cb.send = cb;
  return op_start(&sock->send_op);
}

/* 1 when op will report -ECANCELED, 0 when it had nothing to report. */
static int cancel_op(twe__op_t *op) {
  if (op->state == TWE__OP_IDLE) return 0;
  if (op->canceled) return 1;
  op->canceled = true;
  if (op->state == TWE__OP_READY) op->result = -ECANCELED;
  else op->sock->reactor->backend->op_cancel(op);
  return 1;
}

int twe__sock_cancel(twe_sock_t *sock, unsigned ops) {
  if (!(sock->flags & TWE__SOCK_OPEN)) return 0;
  int n = 0;
  if (ops & TWE_SOCK_OP_CONNECT) n += cancel_op(&sock->connect_op);
  if (ops & TWE_SOCK_OP_RECV) n += cancel_op(&sock->recv_op);
  if (ops & TWE_SOCK_OP_SEND) n += cancel_op(&sock->send_op);
  return n;
}

int twe__sock_close(twe_sock_t *sock, twe_close_cb cb) {
  if (sock->flags & TWE__SOCK_CLOSING) return -EALREADY;
  if (!(sock->flags & TWE__SOCK_OPEN)) return -EBADF;
  twe__sock_cancel(sock, TWE_SOCK_OP_ALL);
  /* Set after the cancels, so maybe_finish_close runs once, below or from
   * the last completion (io_uring). */
  sock->flags |= TWE__SOCK_CLOSING;
  sock->close_op.cb.close = cb;
  sock->reactor->pending_ops++;
  maybe_finish_close(sock);
  return 0;
}

int twe__sock_detach(twe_sock_t *sock) {
  if (sock->flags & TWE__SOCK_CLOSING) return -ESHUTDOWN;
  if (!(sock->flags & TWE__SOCK_OPEN)) return -EBADF;
  if (sock->connect_op.state || sock->recv_op.state || sock->send_op.state) return -EBUSY;
  sock->reactor->backend->sock_remove(sock);
  sock_unlink(sock);
  int fd = sock->fd;
  sock->fd = -1;
  sock->flags = 0;
  return fd;
}

int twe__sock_fd(const twe_sock_t *sock) { return sock->fd; }

/* Runs the callbacks of the operations that were ready when it started;
 * what they queue runs in the next iteration (which then does not block). */
static int dispatch_ready(twe_reactor_t *r) {
  twe__op_t *list = r->ready_head;
  r->ready_head = NULL;
  r->ready_tail = &r->ready_head;
  int n = 0;
  while (list) {
    twe__op_t *op = list;
    list = op->next;
    op->next = NULL;
    twe_sock_t *s = op->sock;
    /* Read the result now: a callback before us may have cancelled op. */
    int result = op->result;
    op->state = TWE__OP_IDLE;
    op->canceled = false;
    r->pending_ops--;
    n++;
    switch (op->kind) {
    case TWE__OP_CONNECT: op->cb.connect(s, result); break;
    case TWE__OP_RECV: op->cb.recv(s, result); break;
    case TWE__OP_SEND: op->cb.send(s, result); break;
    case TWE__OP_CLOSE:
      /* Last report of s: nothing of s is queued behind it, and the
       * callback may free s. */
      if (op->cb.close) op->cb.close(s);
      break;
    }
  }
  return n;
}

/* --- the loop ------------------------------------------------------------------ */

static int run_iteration(twe_reactor_t *r, int64_t timeout_ns);

int twe__reactor_run_once(twe_reactor_t *r, int64_t timeout_ns) {
  if (r->destroying) return -ESHUTDOWN;
  /* From a callback it would dispatch under the feet of the outer call. */
  if (r->running) return -EDEADLK;
  r->running = true;
  int n = run_iteration(r, timeout_ns);
  r->running = false;
  return n;
}

/* How long an iteration may wait: timeout_ns, 0 while an operation's
 * callback or a wake-up is due, less when a timer is due sooner. */
static int64_t iteration_timeout(const twe_reactor_t *r, int64_t timeout_ns) {
  int64_t t = timeout_ns;
  if (r->ready_head || r->wake_signaled) return 0;
  if (r->heap_len > 0) {
    uint64_t due = r->heap[0]->due_ns;
    uint64_t d = due <= r->now_ns ? 0 : due - r->now_ns;
    if (d > INT64_MAX) d = INT64_MAX;
    if (t < 0 || (int64_t)d < t) t = (int64_t)d;
  }
  return t;
}

static int run_iteration(twe_reactor_t *r, int64_t timeout_ns) {
  twe__reactor_update_time(r);
  int prepared = 0;
  int64_t t = iteration_timeout(r, timeout_ns);
  /* Prepare handles: before a wait, or when an iteration that did not wait
   * put them off already (see twe_prepare). */
  if (r->prepare_head) {
    if (t != 0 || r->prepare_put_off) {
      prepared = run_prepares(r);
      t = r->prepare_head ? 0 : iteration_timeout(r, t);
    } else {
      r->prepare_put_off = true;
    }
  }
  int rc = r->backend->poll(r, t);
  if (rc < 0) return rc;
  twe__reactor_update_time(r);
  int n = prepared + dispatch_ready(r);
  n += run_wakes(r);
  n += run_timers(r);
  r->iterations++;
  return n;
}

int twe__reactor_run(twe_reactor_t *r) {
  while (!r->stop_requested) {
    int rc = twe__reactor_run_once(r, -1);
    if (rc < 0) return rc;
  }
  r->stop_requested = false;
  return 0;
}

void twe__reactor_stop(twe_reactor_t *r) { r->stop_requested = true; }

void twe__reactor_stats(const twe_reactor_t *r, twe_reactor_stats_t *out) {
  *out = (twe_reactor_stats_t){
      .iterations = r->iterations,
      .submit_calls = r->submit_calls,
      .sqes_submitted = r->sqes_submitted,
      .wake_writes = atomic_load_explicit(&r->wake_writes, memory_order_relaxed),
      .wake_events = r->wake_events,
      .active_timers = r->heap_len,
      .pending_ops = r->pending_ops,
      .open_socks = r->open_socks,
      .wake_handles = r->wake_count,
  };
}

void twe__reactor_destroy(twe_reactor_t *r) {
  if (!r) return;
  r->destroying = true;
  for (size_t i = 0; i < r->heap_len; i++) r->heap[i]->heap_index = SIZE_MAX;
  r->heap_len = 0;
  while (r->prepare_head) twe__prepare_cancel(r, r->prepare_head);
  for (twe_sock_t *s = r->socks, *next; s; s = next) {
    next = s->next;
    twe__sock_cancel(s, TWE_SOCK_OP_ALL);
  }
  /* After this the kernel holds nothing: every canceled op is READY. */
  r->backend->drain(r);
  /* Callbacks may close sockets; with nothing armed, those closes finish at
   * once and queue their own reports, which this loop also runs. */
  while (r->ready_head) dispatch_ready(r);
  while (r->socks) {
    twe_sock_t *s = r->socks;
    r->backend->sock_remove(s);
    close(s->fd);
    s->fd = -1;
    s->flags = 0;
    sock_unlink(s);
  }
  while (r->wakes) twe__wake_close(r->wakes);
  r->backend->fini(r);
  close(r->wake_fd);
  free(r->heap);
  free(r);
}
