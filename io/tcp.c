/* io/tcp.c — TCP client connections: the resolver (getaddrinfo on a helper
 * thread, results handed back through a wake handle) and the connector
 * (one timed, cancellable attempt per address). See io/tcp.h. */
#define _GNU_SOURCE /* EAI_NODATA, EAI_ADDRFAMILY */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tcp.h"
#include "twe/error.h"

/* --- addresses ----------------------------------------------------------- */

const char *twe__addr_format(const twe_addr_t *addr, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (addr->ss.ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)&addr->ss;
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    port = ntohs(in->sin_port);
    snprintf(buf, len, "%s:%u", ip, port);
  } else if (addr->ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr->ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
    if (in6->sin6_scope_id)
      snprintf(buf, len, "[%s%%%u]:%u", ip, (unsigned)in6->sin6_scope_id, port);
    else
      snprintf(buf, len, "[%s]:%u", ip, port);
  } else {
    snprintf(buf, len, "(address family %d)", (int)addr->ss.ss_family);
  }
  return buf;
}

/* Splits "host:port" / "[v6]:port" (the port is required). */
int twe__tcp_split_address(const char *address, char **host, uint16_t *port) {
  const char *colon = strrchr(address, ':');
  if (!colon || colon == address || !colon[1]) return -1;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p <= 0 || p > 65535) return -1;
  const char *h = address;
  size_t hlen = (size_t)(colon - address);
  if (h[0] == '[') {
    if (hlen < 3 || h[hlen - 1] != ']') return -1;
    h++;
    hlen -= 2;
  }
  *host = strndup(h, hlen);
  *port = (uint16_t)p;
  return *host ? 0 : -1;
}

/* --- the resolver -------------------------------------------------------- */

/* The helper thread's half of a request. It lives in the shared queues
 * under shared.mu; once the owner abandons it (cancel, destroy) while
 * getaddrinfo runs, the thread frees it. */
typedef struct job {
  struct job *next;
  twe_resolve_req_t *req; /* owner's half; NULL once abandoned */
  uint16_t port;
  /* Written by the thread before the job is queued as done (under mu). */
  int status;
  twe_addr_t *addrs;
  size_t n;
  char detail[128];
  char host[]; /* NUL-terminated */
} job_t;

/* What the helper thread and the owner share. The owner frees it, unless
 * it left a getaddrinfo running at destroy (detached): then the thread does,
 * when it exits. */
typedef struct shared {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job_t *todo, **todo_tail;
  job_t *done, **done_tail;
  job_t *running;
  twe_wake_t *wake;
  bool stop;     /* the thread must exit */
  bool orphaned; /* the resolver is gone: no wake-ups, free what finishes */
  bool detached; /* the thread frees this struct on exit */
} shared_t;

/* The owner's half of a request. */
struct twe_resolve_req {
  twe_resolve_req_t *prev, *next; /* the resolver's live list */
  twe_resolver_t *res;
  job_t *job;    /* NULL once the thread's half is gone */
  bool canceled; /* report -ECANCELED */
  twe_resolve_cb cb;
  void *data;
};

struct twe_resolver {
  twe_reactor_t *reactor;
  twe_wake_t wake;
  shared_t *sh;
  pthread_t thread;
  twe_resolve_req_t *live; /* every request not yet reported */
  size_t live_count;
  bool destroying;
  /* Requests canceled while queued or running, reported by the next wake
   * callback (the owner wakes itself). Room for every live request is kept,
   * so that cancel cannot fail. */
  twe_resolve_req_t **canceled;
  size_t canceled_len, canceled_cap;
};

static void job_free(job_t *j) {
  free(j->addrs);
  free(j);
}

static void shared_free(shared_t *sh) {
  pthread_mutex_destroy(&sh->mu);
  pthread_cond_destroy(&sh->cv);
  free(sh);
}

/* getaddrinfo's verdict in twe's terms. */
static int map_gai_error(int rc, int saved_errno) {
  switch (rc) {
  case EAI_NONAME:
#ifdef EAI_NODATA
  case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
  case EAI_ADDRFAMILY:
#endif
    return TWE_ENOHOST;
  case EAI_MEMORY: return -ENOMEM;
  case EAI_SYSTEM: return saved_errno ? -saved_errno : TWE_ERESOLVE;
  default: return TWE_ERESOLVE; /* EAI_AGAIN, EAI_FAIL, ... */
  }
}

/* On the helper thread, without the lock: fills j's result. */
static void run_job(job_t *j) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_NUMERICSERV;
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)j->port);
  struct addrinfo *list = NULL;
  errno = 0;
  int rc = getaddrinfo(j->host, port, &hints, &list);
  if (rc != 0) {
    int e = errno;
    j->status = map_gai_error(rc, e);
    snprintf(j->detail, sizeof j->detail, "%s",
             rc == EAI_SYSTEM ? twe_strerror(-e) : gai_strerror(rc));
    return;
  }
  size_t n = 0;
  for (struct addrinfo *ai = list; ai; ai = ai->ai_next)
    if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
        ai->ai_addrlen <= sizeof(struct sockaddr_storage))
      n++;
  j->addrs = n ? calloc(n, sizeof *j->addrs) : NULL;
  if (n && !j->addrs) {
    j->status = -ENOMEM;
    snprintf(j->detail, sizeof j->detail, "out of memory");
  } else if (n == 0) {
    j->status = TWE_ENOHOST;
    snprintf(j->detail, sizeof j->detail, "no IPv4 or IPv6 address");
  } else {
    size_t i = 0;
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
          ai->ai_addrlen > sizeof(struct sockaddr_storage))
        continue;
      memcpy(&j->addrs[i].ss, ai->ai_addr, ai->ai_addrlen);
      j->addrs[i].len = ai->ai_addrlen;
      i++;
    }
    j->n = n;
    j->status = 0;
  }
  freeaddrinfo(list);
}

static void *resolver_thread(void *arg) {
  shared_t *sh = arg;
  pthread_mutex_lock(&sh->mu);
  for (;;) {
    while (!sh->stop && !sh->todo) pthread_cond_wait(&sh->cv, &sh->mu);
    if (sh->stop) break;
    job_t *j = sh->todo;
    sh->todo = j->next;
    if (!sh->todo) sh->todo_tail = &sh->todo;
    j->next = NULL;
    sh->running = j;
    pthread_mutex_unlock(&sh->mu);

    run_job(j);

    pthread_mutex_lock(&sh->mu);
    sh->running = NULL;
    if (!j->req) {
      job_free(j); /* abandoned while it ran */
      continue;
    }
    *sh->done_tail = j;
    sh->done_tail = &j->next;
    /* Under mu: destroy sets orphaned under mu before it closes the wake
     * handle, so this never wakes a closed handle. The mutex also orders
     * the job's result before the owner's read of the done queue. */
    if (!sh->orphaned) twe__wake_send(sh->wake);
  }
  bool free_shared = sh->detached;
  pthread_mutex_unlock(&sh->mu);
  if (free_shared) shared_free(sh);
  return NULL;
}

static void req_unlink(twe_resolver_t *res, twe_resolve_req_t *req) {
  if (req->prev) req->prev->next = req->next;
  else res->live = req->next;
  if (req->next) req->next->prev = req->prev;
  req->prev = req->next = NULL;
  res->live_count--;
}

/* Reports req (no longer in any queue) and frees it. */
static void req_report(twe_resolver_t *res, twe_resolve_req_t *req, int status,
                       const twe_addr_t *addrs, size_t n, const char *detail) {
  req_unlink(res, req);
  twe_resolve_cb cb = req->cb;
  void *data = req->data;
  free(req);
  cb(data, status, addrs, n, detail);
}

/* On the owner thread: deliver what the helper finished, then what was
 * canceled. */
static void on_resolver_wake(twe_wake_t *w) {
  twe_resolver_t *res = w->data;
  shared_t *sh = res->sh;
  pthread_mutex_lock(&sh->mu);
  job_t *done = sh->done;
  sh->done = NULL;
  sh->done_tail = &sh->done;
  pthread_mutex_unlock(&sh->mu);
  while (done) {
    job_t *j = done;
    done = j->next;
    twe_resolve_req_t *req = j->req;
    req->job = NULL;
    if (req->canceled)
      req_report(res, req, -ECANCELED, NULL, 0, "canceled");
    else if (j->status == 0)
      req_report(res, req, 0, j->addrs, j->n, "");
    else
      req_report(res, req, j->status, NULL, 0, j->detail);
    job_free(j);
  }
  /* A callback may cancel another request: it lands at the end, and this
   * loop reports it too. */
  while (res->canceled_len > 0) {
    twe_resolve_req_t *req = res->canceled[--res->canceled_len];
    req_report(res, req, -ECANCELED, NULL, 0, "canceled");
  }
}

int twe__resolver_create(twe_reactor_t *r, twe_resolver_t **out) {
  *out = NULL;
  twe_resolver_t *res = calloc(1, sizeof *res);
  shared_t *sh = calloc(1, sizeof *sh);
  if (!res || !sh) {
    free(res);
    free(sh);
    return -ENOMEM;
  }
  pthread_mutex_init(&sh->mu, NULL);
  pthread_cond_init(&sh->cv, NULL);
  sh->todo_tail = &sh->todo;
  sh->done_tail = &sh->done;
  sh->wake = &res->wake;
  res->reactor = r;
  res->sh = sh;
  res->wake.data = res;
  twe__wake_init(r, &res->wake, on_resolver_wake);
  /* The helper blocks every signal, so process-directed signals (and the
   * watchdog's) go to threads that expect them. It inherits our mask. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&res->thread, NULL, resolver_thread, sh);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    twe__wake_close(&res->wake);
    shared_free(sh);
    free(res);
    return -rc;
  }
  pthread_setname_np(res->thread, "twe-resolve"); /* for ps/gdb; best effort */
  *out = res;
  return 0;
}

int twe__resolver_resolve(twe_resolver_t *res, const char *host, uint16_t port,
                          twe_resolve_cb cb, void *data, twe_resolve_req_t **req_out) {
  if (req_out) *req_out = NULL;
  if (res->destroying) return -ESHUTDOWN;
  if (!host || !cb) return -EINVAL;
  size_t len = strlen(host);
  /* "[::1]" -> "::1": the form addresses take in URLs and TEMPORAL_ADDRESS. */
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    host++;
    len -= 2;
  }
  if (len == 0 || len > 1024) return -EINVAL;
  /* Room in the canceled list now, so that cancel never has to fail. */
  if (res->canceled_cap < res->live_count + 1) {
    size_t cap = res->canceled_cap ? res->canceled_cap * 2 : 8;
    twe_resolve_req_t **c = realloc(res->canceled, cap * sizeof *c);
    if (!c) return -ENOMEM;
    res->canceled = c;
    res->canceled_cap = cap;
  }
  twe_resolve_req_t *req = calloc(1, sizeof *req);
  job_t *j = malloc(sizeof *j + len + 1);
  if (!req || !j) {
    free(req);
    free(j);
    return -ENOMEM;
  }
  memset(j, 0, sizeof *j);
  memcpy(j->host, host, len);
  j->host[len] = '\0';
  j->port = port;
  j->req = req;
  req->res = res;
  req->job = j;
  req->cb = cb;
  req->data = data;
  req->next = res->live;
  if (res->live) res->live->prev = req;
  res->live = req;
  res->live_count++;

  shared_t *sh = res->sh;
  pthread_mutex_lock(&sh->mu);
  *sh->todo_tail = j;
  sh->todo_tail = &j->next;
  pthread_cond_signal(&sh->cv);
  pthread_mutex_unlock(&sh->mu);
  if (req_out) *req_out = req;
  return 0;
}

/* Takes j out of the todo queue if it is still there. Under mu. */
static bool todo_remove(shared_t *sh, job_t *j) {
  for (job_t **p = &sh->todo; *p; p = &(*p)->next) {
    if (*p == j) {
      *p = j->next;
      if (!*p) sh->todo_tail = p;
      j->next = NULL;
      return true;
    }
  }
  return false;
}

void twe__resolver_cancel(twe_resolve_req_t *req) {
  if (req->canceled) return;
  req->canceled = true;
  twe_resolver_t *res = req->res;
  shared_t *sh = res->sh;
  job_t *j = req->job;
  pthread_mutex_lock(&sh->mu);
  bool queued_done = false;
  if (todo_remove(sh, j)) {
    job_free(j);
    req->job = NULL;
  } else if (sh->running == j) {
    j->req = NULL; /* the thread frees it when getaddrinfo returns */
    req->job = NULL;
  } else {
    queued_done = true; /* in the done queue: reported as canceled */
  }
  pthread_mutex_unlock(&sh->mu);
  if (!queued_done) {
    /* Space was reserved by twe__resolver_resolve. */
    res->canceled[res->canceled_len++] = req;
    twe__wake_send(&res->wake);
  }
}

void twe__resolver_destroy(twe_resolver_t *res) {
  if (!res) return;
  res->destroying = true;
  shared_t *sh = res->sh;
  pthread_mutex_lock(&sh->mu);
  sh->stop = true;
  sh->orphaned = true;
  job_t *lists[2] = {sh->todo, sh->done};
  sh->todo = sh->done = NULL;
  sh->todo_tail = &sh->todo;
  sh->done_tail = &sh->done;
  if (sh->running) sh->running->req = NULL; /* the thread frees it */
  bool detach = sh->running != NULL;
  sh->detached = detach;
  pthread_cond_signal(&sh->cv);
  pthread_mutex_unlock(&sh->mu);
  for (int i = 0; i < 2; i++) {
    while (lists[i]) {
      job_t *j = lists[i];
      lists[i] = j->next;
      job_free(j);
    }
  }
  /* Every job is gone or abandoned: report every request. */
  while (res->live) {
    res->live->job = NULL;
    req_report(res, res->live, -ECANCELED, NULL, 0, "resolver destroyed");
  }
  twe__wake_close(&res->wake);
  if (detach) {
    pthread_detach(res->thread);
  } else {
    pthread_join(res->thread, NULL);
    shared_free(sh);
  }
  free(res->canceled);
  free(res);
}

/* --- the connector ------------------------------------------------------- */

enum phase {
  PHASE_KICK,       /* the first attempt waits for the loop (a 0 ms timer) */
  PHASE_RESOLVING,  /* waiting for the resolver */
  PHASE_CONNECTING, /* one attempt in flight, its timer running */
  PHASE_CANCELED,   /* canceled while kicking: the timer reports */
};

struct twe_tcp_connect {
  twe_reactor_t *reactor;
  twe_tcp_connect_cb cb;
  void *data;
  enum phase phase;
  uint64_t timeout_ns;
  twe_timer_t timer;
  twe_sock_t sock; /* the attempt in flight */
  twe_resolve_req_t *resolve;
  twe_addr_t *addrs;
  size_t n, next;
  int first_err;
  bool timed_out; /* the timer canceled the step in flight */
  bool canceled;  /* the user did */
  char host[64];  /* for messages: the name asked for, shortened */
  /* "addr: step: why; addr: ..." — one entry per failed address. */
  char detail[1024];
  size_t detail_len;
};

static void note(twe_tcp_connect_t *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a failed step for detail; the first error is the one reported. */
static void note(twe_tcp_connect_t *c, int err, const char *fmt, ...) {
  if (!c->first_err) c->first_err = err;
  size_t room = sizeof c->detail - c->detail_len;
  if (room <= 1) return;
  if (c->detail_len > 0) {
    int k = snprintf(c->detail + c->detail_len, room, "; ");
    c->detail_len += (size_t)k < room ? (size_t)k : room - 1;
    room = sizeof c->detail - c->detail_len;
  }
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(c->detail + c->detail_len, room, fmt, ap);
  va_end(ap);
  if (k > 0) c->detail_len += (size_t)k < room ? (size_t)k : room - 1;
}

/* Reports and frees c. Called only from reactor callbacks. */
static void finish(twe_tcp_connect_t *c, int status, int fd) {
  twe__timer_stop(&c->timer);
  twe_tcp_connect_cb cb = c->cb;
  void *data = c->data;
  char detail[sizeof c->detail];
  memcpy(detail, c->detail, c->detail_len + 1);
  free(c->addrs);
  free(c);
  cb(data, status, fd, detail);
}

static void on_connected(twe_sock_t *sock, int status);

/* Starts the next address; reports the first error when none is left. */
static void attempt_next(twe_tcp_connect_t *c) {
  char name[TWE_ADDR_STRLEN];
  while (c->next < c->n) {
    const twe_addr_t *a = &c->addrs[c->next++];
    twe__addr_format(a, name, sizeof name);
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fd < 0) {
      int err = -errno;
      note(c, err, "%s: socket: %s", name, twe_strerror(err));
      continue;
    }
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
      int err = -errno;
      note(c, err, "%s: TCP_NODELAY: %s", name, twe_strerror(err));
      close(fd);
      continue;
    }
    c->sock.data = c;
    int rc = twe__sock_init(c->reactor, &c->sock, fd);
    if (rc < 0) {
      note(c, rc, "%s: %s", name, twe_strerror(rc));
      close(fd);
      continue;
    }
    rc = twe__sock_connect(&c->sock, (const struct sockaddr *)&a->ss, a->len, on_connected);
    if (rc < 0) {
      note(c, rc, "%s: connect: %s", name, twe_strerror(rc));
      close(twe__sock_detach(&c->sock));
      continue;
    }
    c->phase = PHASE_CONNECTING;
    c->timed_out = false;
    /* The timer is inactive here (it fired, or was stopped), and a heap
     * slot freed by it is still there, so this does not fail in practice;
     * if it did, the attempt would just have the kernel's timeout. */
    if (c->timeout_ns) twe__timer_start(&c->timer, c->timeout_ns);
    return;
  }
  finish(c, c->first_err ? c->first_err : -EHOSTUNREACH, -1);
}

static void on_connected(twe_sock_t *sock, int status) {
  twe_tcp_connect_t *c = sock->data;
  twe__timer_stop(&c->timer);
  /* The op has reported, nothing is pending: detach cannot fail. */
  int fd = twe__sock_detach(&c->sock);
  if (c->canceled) {
    close(fd);
    finish(c, -ECANCELED, -1);
    return;
  }
  if (status == 0) {
    finish(c, 0, fd);
    return;
  }
  close(fd);
  char name[TWE_ADDR_STRLEN];
  twe__addr_format(&c->addrs[c->next - 1], name, sizeof name);
  if (c->timed_out && status == -ECANCELED) {
    status = -ETIMEDOUT;
    note(c, status, "%s: connect: timed out after %llu ms", name,
         (unsigned long long)(c->timeout_ns / 1000000));
  } else {
    note(c, status, "%s: connect: %s", name, twe_strerror(status));
  }
  attempt_next(c);
}

static void on_timer(twe_timer_t *t) {
  twe_tcp_connect_t *c = t->data;
  switch (c->phase) {
  case PHASE_KICK: attempt_next(c); break;
  case PHASE_CANCELED: finish(c, -ECANCELED, -1); break;
  case PHASE_RESOLVING:
    c->timed_out = true;
    twe__resolver_cancel(c->resolve);
    break;
  case PHASE_CONNECTING:
    c->timed_out = true;
    twe__sock_cancel(&c->sock, TWE_SOCK_OP_ALL);
    break;
  }
}

static twe_tcp_connect_t *connect_new(twe_reactor_t *r, uint64_t timeout_ns,
                                      twe_tcp_connect_cb cb, void *data) {
  twe_tcp_connect_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->reactor = r;
  c->cb = cb;
  c->data = data;
  c->timeout_ns = timeout_ns;
  c->timer.data = c;
  twe__timer_init(r, &c->timer, on_timer);
  return c;
}

int twe__tcp_connect_addrs(twe_reactor_t *r, const twe_addr_t *addrs, size_t n,
                           uint64_t timeout_ns, twe_tcp_connect_cb cb, void *data,
                           twe_tcp_connect_t **out) {
  if (out) *out = NULL;
  if (!addrs || n == 0 || !cb) return -EINVAL;
  twe_tcp_connect_t *c = connect_new(r, timeout_ns, cb, data);
  if (!c) return -ENOMEM;
  c->addrs = malloc(n * sizeof *addrs);
  if (!c->addrs) {
    free(c);
    return -ENOMEM;
  }
  memcpy(c->addrs, addrs, n * sizeof *addrs);
  c->n = n;
  /* Attempts start from the loop: even one that fails at once (socket()
   * refused) must report from a callback, not from this call. */
  c->phase = PHASE_KICK;
  int rc = twe__timer_start(&c->timer, 0);
  if (rc < 0) {
    free(c->addrs);
    free(c);
    return rc;
  }
  if (out) *out = c;
  return 0;
}

static void on_resolved(void *data, int status, const twe_addr_t *addrs, size_t n,
                        const char *detail) {
  twe_tcp_connect_t *c = data;
  c->resolve = NULL;
  twe__timer_stop(&c->timer);
  if (c->canceled) {
    finish(c, -ECANCELED, -1);
    return;
  }
  if (c->timed_out && status == -ECANCELED) {
    note(c, -ETIMEDOUT, "resolving '%s': timed out after %llu ms", c->host,
         (unsigned long long)(c->timeout_ns / 1000000));
    finish(c, -ETIMEDOUT, -1);
    return;
  }
  if (status < 0) {
    note(c, status, "resolving '%s': %s (%s)", c->host, twe_strerror(status), detail);
    finish(c, status, -1);
    return;
  }
  c->addrs = malloc(n * sizeof *addrs);
  if (!c->addrs) {
    note(c, -ENOMEM, "resolving '%s': out of memory", c->host);
    finish(c, -ENOMEM, -1);
    return;
  }
  memcpy(c->addrs, addrs, n * sizeof *addrs);
  c->n = n;
  attempt_next(c);
}

int twe__tcp_connect_host(twe_reactor_t *r, twe_resolver_t *res, const char *host, uint16_t port,
                          uint64_t timeout_ns, twe_tcp_connect_cb cb, void *data,
                          twe_tcp_connect_t **out) {
  if (out) *out = NULL;
  if (!res || !host || !cb) return -EINVAL;
  twe_tcp_connect_t *c = connect_new(r, timeout_ns, cb, data);
  if (!c) return -ENOMEM;
  snprintf(c->host, sizeof c->host, "%s", host);
  c->phase = PHASE_RESOLVING;
  int rc = 0;
  if (timeout_ns) rc = twe__timer_start(&c->timer, timeout_ns);
  if (rc == 0) rc = twe__resolver_resolve(res, host, port, on_resolved, c, &c->resolve);
  if (rc < 0) {
    twe__timer_stop(&c->timer);
    free(c);
    return rc;
  }
  if (out) *out = c;
  return 0;
}

void twe__tcp_connect_cancel(twe_tcp_connect_t *c) {
  if (c->canceled) return;
  c->canceled = true;
  switch (c->phase) {
  case PHASE_KICK:
    /* The kick timer is active, so restarting it needs no new heap slot. */
    c->phase = PHASE_CANCELED;
    twe__timer_start(&c->timer, 0);
    break;
  case PHASE_RESOLVING: twe__resolver_cancel(c->resolve); break;
  case PHASE_CONNECTING: twe__sock_cancel(&c->sock, TWE_SOCK_OP_ALL); break;
  case PHASE_CANCELED: break;
  }
}
