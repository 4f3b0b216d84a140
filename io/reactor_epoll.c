/* io/reactor_epoll.c — the epoll backend of the reactor, for where io_uring
 * is blocked (seccomp profiles, kernel.io_uring_disabled). It emulates the
 * completion model: readiness -> do the recv/send/connect step -> complete.
 *
 * Each socket is registered once, edge-triggered, for both directions, and
 * keeps a readiness cache in its flags (TWE__SOCK_READABLE/WRITABLE): an
 * event sets a bit, a system call that says EAGAIN clears it, and the next
 * edge sets it again. So starting or finishing an operation never costs an
 * epoll_ctl, and an operation started while data is already there completes
 * without waiting for an event. Because edges are only missed between a
 * syscall and clearing its bit (both on this thread, before the next
 * epoll_wait, which reports whatever arrived since), the cache is exact.
 *
 * An operation that completes at once (data already there, connect refused
 * on the spot) is still reported from the ready queue, in the next dispatch,
 * never from the call that started it.
 *
 * Thread: the reactor's owner thread.
 */
#define _GNU_SOURCE /* epoll_pwait2 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/reactor_backend.h"
#include "twe/error.h"

#define MAX_EVENTS 128

typedef struct epoll_impl {
  int epfd;
  /* epoll_pwait2 (5.11) missing: fall back to epoll_wait's milliseconds. */
  bool no_pwait2;
  struct epoll_event events[MAX_EVENTS];
} epoll_impl_t;

/* The eventfd's epoll data: an address no socket can have. */
static const char wake_marker;

static epoll_impl_t *impl_of(twe_reactor_t *r) { return r->impl; }

static int epoll_backend_init(twe_reactor_t *r, unsigned entries, char *why, size_t why_len) {
  (void)entries;
  epoll_impl_t *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(why, why_len, "out of memory");
    return -ENOMEM;
  }
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (e->epfd < 0) {
    int err = -errno;
    snprintf(why, why_len, "epoll_create1: %s", twe_strerror(err));
    free(e);
    return err;
  }
  /* Level-triggered: the eventfd is read empty every time it shows up. */
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = (void *)&wake_marker};
  if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, r->wake_fd, &ev) < 0) {
    int err = -errno;
    snprintf(why, why_len, "epoll_ctl(eventfd): %s", twe_strerror(err));
    close(e->epfd);
    free(e);
    return err;
  }
  r->impl = e;
  return 0;
}

static void epoll_backend_fini(twe_reactor_t *r) {
  epoll_impl_t *e = impl_of(r);
  close(e->epfd);
  free(e);
  r->impl = NULL;
}

static int epoll_sock_add(twe_sock_t *s) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = s};
  if (epoll_ctl(impl_of(s->reactor)->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) return -errno;
  return 0;
}

static void epoll_sock_remove(twe_sock_t *s) {
  /* Explicit: a close() alone leaves the registration behind if the fd was
   * duplicated, and a detached fd lives on. */
  epoll_ctl(impl_of(s->reactor)->epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

/* Connect in progress and the socket said writable: finished, or not yet? */
static void try_connect(twe__op_t *op) {
  twe_sock_t *s = op->sock;
  if (!(s->flags & TWE__SOCK_WRITABLE)) return;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) {
    twe__reactor_complete(op, -err);
    return;
  }
  /* No error yet; a stale edge (from before connect) must not pass for
   * success, so ask whether there is a peer. */
  struct sockaddr_storage peer;
  socklen_t plen = sizeof peer;
  if (getpeername(s->fd, (struct sockaddr *)&peer, &plen) == 0) {
    twe__reactor_complete(op, 0);
  } else if (errno == ENOTCONN) {
    s->flags &= ~(unsigned)TWE__SOCK_WRITABLE;
  } else {
    twe__reactor_complete(op, -errno);
  }
}

static void start_connect(twe__op_t *op) {
  twe_sock_t *s = op->sock;
  int rc = connect(s->fd, (const struct sockaddr *)&s->peer, s->peer_len);
  if (rc == 0) {
    twe__reactor_complete(op, 0);
  } else if (errno == EINPROGRESS || errno == EINTR) {
    /* EINTR: the connect goes on in the background; wait for it like for
     * EINPROGRESS rather than calling connect again (EALREADY). */
    s->flags &= ~(unsigned)TWE__SOCK_WRITABLE;
  } else {
    twe__reactor_complete(op, -errno);
  }
}

static void try_recv(twe__op_t *op) {
  twe_sock_t *s = op->sock;
  while (s->flags & TWE__SOCK_READABLE) {
    ssize_t n = recv(s->fd, op->buf, op->len, 0);
    if (n >= 0) {
      twe__reactor_complete(op, (int)n);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      s->flags &= ~(unsigned)TWE__SOCK_READABLE;
      return;
    }
    twe__reactor_complete(op, -errno);
    return;
  }
}

/* Writes as much as the socket takes; completes when all is written. */
static void try_send(twe__op_t *op) {
  twe_sock_t *s = op->sock;
  while (op->done < op->len) {
    if (!(s->flags & TWE__SOCK_WRITABLE)) return;
    ssize_t n = send(s->fd, (char *)op->buf + op->done, op->len - op->done, MSG_NOSIGNAL);
    if (n > 0) {
      op->done += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      s->flags &= ~(unsigned)TWE__SOCK_WRITABLE;
      return;
    } else {
      twe__reactor_complete(op, n < 0 ? -errno : -EIO);
      return;
    }
  }
  twe__reactor_complete(op, 0);
}

static int epoll_op_start(twe__op_t *op) {
  switch (op->kind) {
  case TWE__OP_CONNECT: start_connect(op); break;
  case TWE__OP_RECV: try_recv(op); break;
  case TWE__OP_SEND: try_send(op); break;
  default: return -EINVAL;
  }
  return 0;
}

/* Nothing of ours is in the kernel: the op just stops waiting. */
static void epoll_op_cancel(twe__op_t *op) { twe__reactor_complete(op, -ECANCELED); }

static void on_sock_event(twe_sock_t *s, uint32_t ev) {
  if (!(s->flags & TWE__SOCK_OPEN)) return;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->flags |= TWE__SOCK_READABLE;
  if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s->flags |= TWE__SOCK_WRITABLE;
  if (s->connect_op.state == TWE__OP_ARMED) try_connect(&s->connect_op);
  if (s->recv_op.state == TWE__OP_ARMED) try_recv(&s->recv_op);
  if (s->send_op.state == TWE__OP_ARMED) try_send(&s->send_op);
}

static void drain_eventfd(twe_reactor_t *r) {
  uint64_t v;
  ssize_t n;
  do {
    n = read(r->wake_fd, &v, sizeof v);
  } while (n < 0 && errno == EINTR);
  twe__reactor_wake_signaled(r);
}

static int epoll_backend_poll(twe_reactor_t *r, int64_t timeout_ns) {
  epoll_impl_t *e = impl_of(r);
  int n = -1;
  bool done = false;
  if (!e->no_pwait2) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
      ts.tv_sec = timeout_ns / 1000000000;
      ts.tv_nsec = timeout_ns % 1000000000;
      tsp = &ts;
    }
    n = epoll_pwait2(e->epfd, e->events, MAX_EVENTS, tsp, NULL);
    if (n < 0 && errno == ENOSYS) e->no_pwait2 = true;
    else done = true;
  }
  if (!done) {
    /* Round up: waking before a timer is due would just spin. */
    int ms = -1;
    if (timeout_ns >= 0) {
      int64_t m = (timeout_ns + 999999) / 1000000;
      ms = m > INT_MAX ? INT_MAX : (int)m;
    }
    n = epoll_wait(e->epfd, e->events, MAX_EVENTS, ms);
  }
  r->submit_calls++;
  if (n < 0) return errno == EINTR ? 0 : -errno;
  /* No user callback runs in this loop (completions only queue), so no
   * socket can be closed or freed while its events are looked at. */
  for (int i = 0; i < n; i++) {
    void *ptr = e->events[i].data.ptr;
    if (ptr == &wake_marker) drain_eventfd(r);
    else on_sock_event(ptr, e->events[i].events);
  }
  return 0;
}

/* Canceled ops completed on the spot; the kernel holds none of our memory. */
static void epoll_backend_drain(twe_reactor_t *r) { (void)r; }

const struct twe__reactor_backend twe__reactor_backend_epoll = {
    .name = "epoll",
    .kind = TWE_IO_BACKEND_EPOLL,
    .nonblocking_fds = true,
    .init = epoll_backend_init,
    .fini = epoll_backend_fini,
    .poll = epoll_backend_poll,
    .sock_add = epoll_sock_add,
    .sock_remove = epoll_sock_remove,
    .op_start = epoll_op_start,
    .op_cancel = epoll_op_cancel,
    .drain = epoll_backend_drain,
};
