/* sched/mailbox.h — a bounded single-producer single-consumer mailbox between
 * two threads, on a Concurrency Kit ring (ck_ring, SPSC).
 *
 * Threads talk only through mailboxes: shard to shard, shard to an activity
 * worker, the worker back to its shard. One mailbox per producer/consumer
 * pair keeps the ring itself free of locks and read-modify-writes (ck's SPSC
 * ring is loads, copies and one store per side), and per-producer FIFO order
 * falls out of it. The only read-modify-write is the wake-up protocol's one
 * exchange per flushed batch.
 *
 * Batching: try_send does not wake the consumer; flush (or try_send_batch)
 * wakes it once for everything sent since the last flush, and only if it
 * sleeps (sched/waiter.h). Back-pressure: nothing grows. A full mailbox says -EAGAIN;
 * a producer that can block waits with send_wait, a shard registers interest
 * with want_space and is notified (through its own waiter) once the consumer
 * has drained the mailbox to half its capacity or less (one wake-up per half
 * ring, not per message taken).
 *
 * Messages are copied by value. ptr, when set, travels with the message: the
 * producer gives up the object it points to, the consumer owns it.
 */
#ifndef TWE_SCHED_MAILBOX_H
#define TWE_SCHED_MAILBOX_H

#include <ck_ring.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/waiter.h"

/* One message. The meaning of type, u32 and u64 belongs to the pair of
 * threads that use the mailbox. */
typedef struct twe_msg {
  uint32_t type;
  uint32_t u32;
  uint64_t u64;
  void *ptr; /* ownership passes to the consumer with the message */
} twe_msg_t;

typedef struct twe_mailbox {
  /* ck keeps the consumer's head and the producer's tail on separate cache
   * lines inside the ring; the struct starts on a line of its own. */
  _Alignas(64) ck_ring_t ring;
  struct twe_msg *slots;          /* ring storage; fixed after create */
  twe_waiter_t *consumer;         /* notified after sends */
  twe_waiter_t *producer;         /* notified when room frees, or NULL */
  /* Set by a producer that found the mailbox full and waits for room; taken
   * (exchanged to 0) by the consumer, which then notifies the producer. */
  _Alignas(64) _Atomic int want_space;
  /* Producer-private. */
  _Alignas(64) uint64_t sent;     /* messages ever sent */
  uint64_t unflushed;             /* sent since the last notify */
  uint64_t full_hits;             /* sends refused because full */
  /* Producer-private, for the producing shard's list of blocked outboxes
   * (sched/shard.c). */
  struct twe_mailbox *blocked_next;
  void *blocked_task;
  /* Consumer-private. */
  _Alignas(64) uint64_t received; /* messages ever taken out */
} twe_mailbox_t;

/* Creates a mailbox holding up to capacity messages (at least 1; rounded up
 * so that capacity + 1 is a power of two, see twe__mailbox_capacity).
 * consumer: the receiving thread's waiter, notified on flush. producer: the
 * sending thread's waiter, needed only for send_wait and want_space (NULL
 * otherwise). The waiters must outlive the mailbox.
 * Returns 0 and *out, -EINVAL (capacity 0 or too large, consumer NULL) or
 * -ENOMEM. Thread: any, before either side uses it. */
int twe__mailbox_create(size_t capacity, twe_waiter_t *consumer, twe_waiter_t *producer,
                        twe_mailbox_t **out);

/* Frees the mailbox. Messages still inside are dropped without a look: drain
 * first if they own memory. Thread: any, once neither side uses it. */
void twe__mailbox_destroy(twe_mailbox_t *mb);

/* How many messages it holds when full. Thread: any. */
size_t twe__mailbox_capacity(const twe_mailbox_t *mb);

/* Queues one message without waking the consumer; call flush after the
 * batch. Returns 0, or -EAGAIN when full (nothing queued; the message still
 * belongs to the caller). Thread: the producer. */
int twe__mailbox_try_send_spsc(twe_mailbox_t *mb, const twe_msg_t *msg);

/* Wakes the consumer once for everything queued since the last flush (a
 * no-op if nothing was). Thread: the producer. */
void twe__mailbox_flush_spsc(twe_mailbox_t *mb);

/* Queues as many of msgs[0..n) as fit, in order, then flushes (one wake-up
 * for the batch). Returns how many were queued (0..n); the rest still belong
 * to the caller. Thread: the producer. */
size_t twe__mailbox_try_send_batch_spsc(twe_mailbox_t *mb, const twe_msg_t *msgs, size_t n);

/* Queues one message, waiting for room as long as it takes, then flushes.
 * For producers that may block (activity workers, tests), never for shards.
 * Needs mb->producer, the caller's waiter, whose loop it sleeps in.
 * Returns 0, or -EINVAL when the mailbox has no producer waiter.
 * Thread: the producer. */
int twe__mailbox_send_wait_spsc(twe_mailbox_t *mb, const twe_msg_t *msg);

/* For a producer that must not block and found the mailbox full: flushes,
 * then asks the consumer to notify mb->producer when it has drained the
 * mailbox to half its capacity or less. Returns 0
 * if there is room already (send again now), -EAGAIN if the notification
 * will come, -EINVAL without a producer waiter. Thread: the producer. */
int twe__mailbox_want_space_spsc(twe_mailbox_t *mb);

/* Whether a send would be refused now. Thread: the producer. */
bool twe__mailbox_full_spsc(const twe_mailbox_t *mb);

/* Takes up to max messages, oldest first, into out. If it took any, the
 * producer waits for room and at most half the capacity is left in use,
 * notifies the producer. Returns the number taken. Thread: the consumer. */
size_t twe__mailbox_recv_batch_spsc(twe_mailbox_t *mb, twe_msg_t *out, size_t max);

/* Whether nothing is waiting. Thread: the consumer. */
bool twe__mailbox_empty_spsc(const twe_mailbox_t *mb);

#endif /* TWE_SCHED_MAILBOX_H */
