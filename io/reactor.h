/* io/reactor.h — the per-shard event loop: the one ops header for everything
 * in io/ that waits for time or for the network.
 *
 * A reactor belongs to one shard thread. It runs timers, cross-thread
 * wake-ups and completion-based socket operations: you start an operation
 * with your buffer, and the reactor calls you back once with its result. The
 * kernel side is io_uring (through liburing) or, where io_uring is blocked
 * (container seccomp profiles, kernel.io_uring_disabled), epoll emulating the
 * same completion model. Callers cannot tell the two apart; see
 * io/reactor_backend.h for how they plug in.
 *
 * The rules every user relies on:
 * - Callbacks run only inside twe__reactor_run_once()/twe__reactor_run()
 *   (and twe__reactor_destroy()'s final drain), never inside the call that
 *   started the work, so starting or cancelling is never re-entrant.
 * - A start call that returns < 0 never fires its callback; one that returns
 *   >= 0 fires it exactly once. (A stopped timer is silent: see
 *   twe__timer_stop.)
 * - A buffer handed to an operation belongs to the kernel until that
 *   operation's callback fires, also after a cancel or a close: reuse or free
 *   it in the callback, not before. (On io_uring the kernel holds the
 *   address until the completion is reaped; the reactor never reports an
 *   operation before that.)
 * - Handles (twe_timer_t, twe_prepare_t, twe_wake_t, twe_sock_t) are caller
 *   memory the reactor links to. Their fields are private. A timer may be
 *   freed when it is not active, a prepare handle when it is not queued
 *   (twe__prepare_cancel), a wake handle after twe__wake_close(), a socket
 *   after its close callback has run (or after twe__sock_detach()).
 *
 * Thread: every function here may be called only on the reactor's owner
 * thread (the thread that runs it), except twe__wake_send,
 * twe__reactor_wake, twe__reactor_probe and twe__io_backend_name (any
 * thread). A reactor may be created on another thread before its owner
 * first runs it.
 */
#ifndef TWE_IO_REACTOR_H
#define TWE_IO_REACTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct twe_reactor twe_reactor_t;
typedef struct twe_timer twe_timer_t;
typedef struct twe_prepare twe_prepare_t;
typedef struct twe_wake twe_wake_t;
typedef struct twe_sock twe_sock_t;

/* --- the loop ------------------------------------------------------------ */

typedef enum twe_io_backend {
  /* TWE_IO_BACKEND=io_uring|epoll if set, else io_uring when it works. */
  TWE_IO_BACKEND_AUTO = 0,
  TWE_IO_BACKEND_URING,
  TWE_IO_BACKEND_EPOLL,
} twe_io_backend_t;

typedef struct twe_reactor_options {
  /* AUTO (the zero value) or a forced backend; a forced one that does not
   * work makes create fail instead of falling back. */
  twe_io_backend_t backend;
  /* io_uring submission queue size; 0 for the default (256). */
  unsigned ring_entries;
} twe_reactor_options_t;

/* Counters for tests and metrics. Read on the owner thread. */
typedef struct twe_reactor_stats {
  uint64_t iterations;     /* run_once calls that completed */
  uint64_t submit_calls;   /* io_uring_enter / epoll_wait calls made by the loop */
  uint64_t sqes_submitted; /* io_uring: SQEs handed to the kernel (0 on epoll) */
  uint64_t wake_writes;    /* eventfd writes by twe__wake_send, all threads */
  uint64_t wake_events;    /* times the loop found the eventfd signalled */
  size_t active_timers;    /* started, neither fired nor stopped */
  size_t pending_ops;      /* started socket ops and closes not yet reported */
  size_t open_socks;       /* initialised, not yet closed or detached */
  size_t wake_handles;     /* initialised, not yet closed */
} twe_reactor_stats_t;

/* Creates a reactor in *out. opts may be NULL (AUTO, defaults). With AUTO,
 * the first reactor of the process writes one line to stderr naming the
 * backend and why ("twe: io backend epoll (io_uring_setup: Operation not
 * permitted)").
 * Returns 0; -EINVAL for a bad TWE_IO_BACKEND value; the backend's setup
 * error (e.g. -EPERM) when a forced backend does not work; -ENOMEM, -EMFILE.
 * Thread: any; the reactor then belongs to the thread that runs it. */
int twe__reactor_create(twe_reactor_t **out, const twe_reactor_options_t *opts);

/* Cancels and drains everything, then frees the reactor. Pending socket
 * operations and unreported closes fire their callbacks (-ECANCELED for
 * operations) before this returns; those callbacks may close sockets but
 * cannot start anything new. Active timers are dropped silently. Sockets
 * still open are closed without a callback. Nothing the kernel holds refers
 * to freed memory afterwards. Every thread that may call twe__wake_send must
 * have stopped doing so. NULL is a no-op.
 * Thread: owner. */
void twe__reactor_destroy(twe_reactor_t *r);

/* The backend this reactor runs on (URING or EPOLL, never AUTO).
 * Thread: owner. */
twe_io_backend_t twe__reactor_backend(const twe_reactor_t *r);

/* "io_uring", "epoll" or "auto". Thread: any. Static string. */
const char *twe__io_backend_name(twe_io_backend_t backend);

/* Whether backend b can run here: 0, or the negative errno that stops it
 * (io_uring: the error of io_uring_setup, or -ENOSYS when an opcode the
 * reactor needs is missing). AUTO probes io_uring. Thread: any. */
int twe__reactor_probe(twe_io_backend_t b);

/* One loop iteration: runs the prepare handles due (see twe_prepare),
 * submits queued work, waits up to timeout_ns (< 0: until something
 * happens; 0: not at all) or until the next timer is due, then runs the
 * callbacks of what completed, woke or expired.
 * Returns the number of callbacks run (>= 0), a negative errno when the
 * kernel interface itself failed, -EDEADLK when called from a callback,
 * -ESHUTDOWN during destroy. Thread: owner. */
int twe__reactor_run_once(twe_reactor_t *r, int64_t timeout_ns);

/* Runs iterations until twe__reactor_stop() is called (from a callback).
 * Returns 0 when stopped, or the error of a failed iteration.
 * Thread: owner, not from a callback. */
int twe__reactor_run(twe_reactor_t *r);

/* Makes the owner's current twe__reactor_run_once return soon (or the next
 * one, if it is not waiting), with no callback: for a thread that published
 * work the owner finds by looking (a mailbox), not through a wake handle.
 * Everything the caller wrote before is visible to the owner once that
 * run_once returns. Coalesced like twe__wake_send: never blocks, at most one
 * eventfd write until the loop has seen it. Thread: any, while r exists. */
void twe__reactor_wake(twe_reactor_t *r);

/* Makes twe__reactor_run return after the current iteration. Called before
 * run, run returns at once. Another thread stops a reactor through a wake
 * handle whose callback calls this. Thread: owner. */
void twe__reactor_stop(twe_reactor_t *r);

/* The loop's time: CLOCK_MONOTONIC in ns, read once per iteration so every
 * callback of an iteration sees the same value. Thread: owner. */
uint64_t twe__reactor_now(const twe_reactor_t *r);

/* Re-reads the clock into twe__reactor_now (after a long callback, before
 * starting a timer that must not start early). Thread: owner. */
void twe__reactor_update_time(twe_reactor_t *r);

/* Fills *out. Thread: owner. */
void twe__reactor_stats(const twe_reactor_t *r, twe_reactor_stats_t *out);

/* --- before the wait ------------------------------------------------------ */

typedef void (*twe_prepare_cb)(twe_prepare_t *p);

/* Work put off until the loop is about to wait: what the callbacks of an
 * iteration, and the owner's code between iterations, pile up, done once.
 * The gRPC link sends all the requests of such a stretch in one write: a
 * workflow task's completion and the poll that replaces it went in two, each
 * a send and a wake-up of the server. Queued handles run, in the order they
 * were queued, at the start of the next iteration that may wait (nothing
 * ready or due, timeout not 0), or of the one after an iteration that could
 * not wait put them off: a loop that never waits still runs them every
 * other iteration. One queued again from its own callback runs in a later
 * iteration, which does not wait. */
struct twe_prepare {
  void *data; /* the caller's, untouched by the reactor */
  /* private */
  twe_prepare_cb cb;
  twe_prepare_t *next;
  bool queued;
};

/* Queues p to have cb run before the loop next waits; nothing if it is
 * queued already, or during destroy (queued handles are dropped then,
 * silently, like active timers). Zero p before its first use. Thread: owner. */
void twe__prepare_queue(twe_reactor_t *r, twe_prepare_t *p, twe_prepare_cb cb);

/* Unqueues p, which may then be freed; nothing if it is not queued.
 * Thread: owner. */
void twe__prepare_cancel(twe_reactor_t *r, twe_prepare_t *p);

/* --- timers -------------------------------------------------------------- */

typedef void (*twe_timer_cb)(twe_timer_t *timer);

/* One-shot timer, kept in a min-heap shared by both backends. Timers due at
 * the same time fire in the order they were started. */
struct twe_timer {
  void *data; /* the caller's, untouched by the reactor */
  /* private */
  twe_reactor_t *reactor;
  twe_timer_cb cb;
  uint64_t due_ns;
  uint64_t seq;      /* start order, to break ties in due_ns */
  size_t heap_index; /* SIZE_MAX when not active */
};

/* Prepares timer on r; it is inactive until started. Allocates nothing.
 * Thread: owner. */
void twe__timer_init(twe_reactor_t *r, twe_timer_t *timer, twe_timer_cb cb);

/* (Re)starts timer to fire delay_ns after twe__reactor_now(). Restarting an
 * active timer moves it; it still fires once. Delay 0 fires in the next
 * iteration, never inside this call. Returns 0, -ENOMEM (the heap could
 * not grow; the timer is then inactive) or -ESHUTDOWN during destroy.
 * Thread: owner. */
int twe__timer_start(twe_timer_t *timer, uint64_t delay_ns);

/* Deactivates timer; its callback will not run, even if it was due in the
 * current iteration. No-op when inactive. Thread: owner. */
void twe__timer_stop(twe_timer_t *timer);

/* Whether timer is started and has neither fired nor been stopped.
 * Thread: owner. */
bool twe__timer_active(const twe_timer_t *timer);

/* --- cross-thread wake-ups ---------------------------------------------- */

typedef void (*twe_wake_cb)(twe_wake_t *wake);

/* A wake handle: any thread sends, the owner's callback runs. Sends are
 * coalesced twice: per handle (many sends before the callback runs give one
 * callback) and per reactor (many sends before the loop runs cost one
 * eventfd write). The pattern is "push to a queue, then send": the callback
 * drains the queue. */
struct twe_wake {
  void *data; /* the caller's, untouched by the reactor */
  /* private */
  twe_reactor_t *reactor;
  twe_wake_cb cb;
  atomic_bool pending; /* sent, callback not yet started */
  twe_wake_t *prev, *next;
};

/* Registers wake on r. Thread: owner. */
void twe__wake_init(twe_reactor_t *r, twe_wake_t *wake, twe_wake_cb cb);

/* Makes wake's callback run on the owner thread, soon. Everything the
 * sender wrote before this call is visible to the callback. Never blocks,
 * never fails; after the first send, more sends before the callback starts
 * cost no system call. Thread: any, until twe__wake_close() begins. */
void twe__wake_send(twe_wake_t *wake);

/* Unregisters wake; its callback will not run again, and it may be freed.
 * The owner must make sure no thread sends to it any more. Thread: owner. */
void twe__wake_close(twe_wake_t *wake);

/* --- sockets ------------------------------------------------------------- */

/* status: 0 when connected, or a negative errno (-ECONNREFUSED,
 * -ECANCELED, ...). */
typedef void (*twe_connect_cb)(twe_sock_t *sock, int status);
/* nread: > 0 bytes received into the buffer, 0 at end of stream (the peer
 * closed its side), or a negative errno. */
typedef void (*twe_recv_cb)(twe_sock_t *sock, int nread);
/* status: 0 when every byte was written, or a negative errno (some bytes may
 * have been written). */
typedef void (*twe_send_cb)(twe_sock_t *sock, int status);
/* The socket is closed and every operation on it has been reported. */
typedef void (*twe_close_cb)(twe_sock_t *sock);

enum {
  TWE_SOCK_OP_CONNECT = 1u << 0,
  TWE_SOCK_OP_RECV = 1u << 1,
  TWE_SOCK_OP_SEND = 1u << 2,
  TWE_SOCK_OP_ALL = TWE_SOCK_OP_CONNECT | TWE_SOCK_OP_RECV | TWE_SOCK_OP_SEND,
};

/* One in-progress operation of a socket; private. */
typedef struct twe__op {
  struct twe__op *next; /* in the ready queue (or a backend's list) */
  twe_sock_t *sock;
  void *buf;
  size_t len;
  size_t done;   /* send: bytes written so far */
  int result;    /* when READY */
  uint8_t kind;  /* TWE__OP_* in io/reactor_backend.h */
  uint8_t state; /* IDLE, ARMED (the kernel or epoll has it), READY (queued) */
  bool canceled; /* report -ECANCELED whatever the kernel says */
  union {
    twe_connect_cb connect;
    twe_recv_cb recv;
    twe_send_cb send;
    twe_close_cb close;
  } cb;
} twe__op_t;

/* A stream socket handle: at most one connect, one recv and one send in
 * flight at a time (a layer that sends in pieces queues them above: two
 * sends in flight could interleave their bytes). */
struct twe_sock {
  void *data; /* the caller's, untouched by the reactor */
  /* private */
  twe_reactor_t *reactor;
  int fd;
  unsigned flags;
  twe_sock_t *prev, *next;
  twe__op_t connect_op, recv_op, send_op, close_op;
  /* The connect target: the kernel reads it until the connect completes. */
  struct sockaddr_storage peer;
  socklen_t peer_len;
};

/* Takes ownership of fd (a stream socket, connected or not) and registers it
 * on r. The reactor sets the fd's O_NONBLOCK mode to what its backend needs;
 * do not change it. Returns 0, -ESHUTDOWN during destroy, or the errno of
 * fcntl/epoll_ctl (fd is then still the caller's). Thread: owner. */
int twe__sock_init(twe_reactor_t *r, twe_sock_t *sock, int fd);

/* Connects to addr (copied; addrlen <= sizeof(struct sockaddr_storage)).
 * cb gets 0 or the error (-ECONNREFUSED, -ENETUNREACH, ...); there is no
 * timeout here (io/tcp.h adds one). Returns 0; -EBUSY if any operation is in
 * flight; -EINVAL for a bad address length; -ESHUTDOWN when closing.
 * Thread: owner. */
int twe__sock_connect(twe_sock_t *sock, const struct sockaddr *addr, socklen_t addrlen,
                      twe_connect_cb cb);

/* Receives up to len (1..INT_MAX) bytes into buf, which belongs to the
 * reactor until cb fires. Completes when at least one byte, end of stream
 * or an error is there. Returns 0; -EBUSY if a recv or connect is in
 * flight; -EINVAL for len; -ESHUTDOWN when closing. Thread: owner. */
int twe__sock_recv(twe_sock_t *sock, void *buf, size_t len, twe_recv_cb cb);

/* Sends all len (>= 1) bytes of buf, which belongs to the reactor until cb
 * fires; cb fires once, when everything is written or on the first error.
 * Never raises SIGPIPE (a closed peer gives -EPIPE). Returns 0; -EBUSY if a
 * send or connect is in flight; -EINVAL for len 0; -ESHUTDOWN when closing.
 * Thread: owner. */
int twe__sock_send(twe_sock_t *sock, const void *buf, size_t len, twe_send_cb cb);

/* Cancels the operations of sock named by ops (TWE_SOCK_OP_* mask): each one
 * not yet reported fires its callback with -ECANCELED, once, in a later
 * iteration (on io_uring, after the kernel has let go of its buffer).
 * Returns how many operations will report -ECANCELED. Thread: owner. */
int twe__sock_cancel(twe_sock_t *sock, unsigned ops);

/* Cancels every operation (as twe__sock_cancel), closes the fd once the
 * kernel holds nothing of the socket, then calls cb (may be NULL), after the
 * operations' callbacks. Until cb has run, sock's memory must stay valid.
 * Returns 0, or -EALREADY when a close is already under way (cb will not
 * fire). Thread: owner. */
int twe__sock_close(twe_sock_t *sock, twe_close_cb cb);

/* Unregisters sock without closing its fd, and gives the fd back: for a
 * handle whose work is done (e.g. a connector handing a connected fd to its
 * user). Only when no operation is pending or unreported.
 * Returns the fd (>= 0), -EBUSY, or -ESHUTDOWN when closing. Thread: owner. */
int twe__sock_detach(twe_sock_t *sock);

/* The socket's fd, for setsockopt and the like; never read or write it
 * directly. -1 once closed or detached. Thread: owner. */
int twe__sock_fd(const twe_sock_t *sock);

#endif /* TWE_IO_REACTOR_H */
