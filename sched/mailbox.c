/* sched/mailbox.c — the SPSC mailbox of sched/mailbox.h on ck_ring. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/mailbox.h"
#include "sched/tsan.h"

/* Typed ck_ring functions that copy whole twe_msg values in and out. */
CK_RING_PROTOTYPE(twe_msg, twe_msg)

/* The largest ring ck's unsigned counters handle comfortably. */
#define MAX_RING_SIZE (1u << 24)

int twe__mailbox_create(size_t capacity, twe_waiter_t *consumer, twe_waiter_t *producer,
                        twe_mailbox_t **out) {
  if (capacity == 0 || capacity >= MAX_RING_SIZE || !consumer) return -EINVAL;
  /* ck's ring of size S holds S - 1 messages (one slot tells full from
   * empty). */
  unsigned size = 2;
  while (size - 1 < capacity) size <<= 1;
  size_t bytes = (sizeof(twe_mailbox_t) + 63) & ~(size_t)63;
  twe_mailbox_t *mb = aligned_alloc(64, bytes);
  if (!mb) return -ENOMEM;
  memset(mb, 0, sizeof *mb);
  mb->slots = aligned_alloc(64, ((size_t)size * sizeof(twe_msg_t) + 63) & ~(size_t)63);
  if (!mb->slots) {
    free(mb);
    return -ENOMEM;
  }
  ck_ring_init(&mb->ring, size);
  mb->consumer = consumer;
  mb->producer = producer;
  atomic_init(&mb->want_space, 0);
  *out = mb;
  return 0;
}

void twe__mailbox_destroy(twe_mailbox_t *mb) {
  if (!mb) return;
  free(mb->slots);
  free(mb);
}

size_t twe__mailbox_capacity(const twe_mailbox_t *mb) {
  return ck_ring_capacity(&mb->ring) - 1;
}

int twe__mailbox_try_send_spsc(twe_mailbox_t *mb, const twe_msg_t *msg) {
  struct twe_msg *slot = ck_ring_enqueue_reserve_spsc_twe_msg(&mb->ring, mb->slots);
  if (!slot) {
    mb->full_hits++;
    return -EAGAIN;
  }
  TWE_TSAN_IGNORE_BEGIN();
  *slot = *msg;
  TWE_TSAN_IGNORE_END();
  /* For TSan only: everything this thread did so far, the object msg->ptr
   * points to included, happens before what the consumer does after it takes
   * the message (it acquires on the same address). Must precede the commit,
   * the store the consumer observes. */
  TWE_TSAN_RELEASE(&mb->ring.p_tail);
  /* ck: a store fence, then the store of p_tail that makes the slot visible
   * to the consumer's load of p_tail. */
  ck_ring_enqueue_commit_spsc(&mb->ring);
  mb->sent++;
  mb->unflushed++;
  return 0;
}

void twe__mailbox_flush_spsc(twe_mailbox_t *mb) {
  if (mb->unflushed == 0) return;
  mb->unflushed = 0;
  /* The exchange inside is a release: it orders the commits above before the
   * consumer's begin(). */
  twe__waiter_notify(mb->consumer);
}

/* Batches publish once. ck 0.7's SPSC functions move the producer's tail (and
 * the consumer's head) once per message, and each of those stores bounces a
 * cache line to the other core. Measured with bench/mailbox_bench (capacity
 * 4095, batches of 64, this 2-CPU machine): 17-18 ns a message with ck's
 * per-message functions, 11-12 ns with one publish per batch. So batches run
 * ck's own protocol over ck's own ring, with ck's primitives, a batch at a
 * time: the same free-running counters, fences and order as
 * _ck_ring_enqueue_sp / _ck_ring_dequeue_sc, so the per-message function
 * above and these interleave freely (the stress test mixes them). */
size_t twe__mailbox_try_send_batch_spsc(twe_mailbox_t *mb, const twe_msg_t *msgs, size_t n) {
  ck_ring_t *ring = &mb->ring;
  const unsigned mask = ring->mask;
  /* Our own tail needs no atomic load (only we store it); the consumer's head
   * may be stale, which only makes the room look smaller. */
  unsigned producer = ring->p_tail;
  unsigned consumer = ck_pr_load_uint(&ring->c_head);
  size_t room = mask - ((producer - consumer) & mask);
  size_t k = n < room ? n : room;
  if (k < n) mb->full_hits++;
  if (k > 0) {
    TWE_TSAN_IGNORE_BEGIN();
    for (size_t i = 0; i < k; i++) mb->slots[(producer + (unsigned)i) & mask] = msgs[i];
    TWE_TSAN_IGNORE_END();
    TWE_TSAN_RELEASE(&ring->p_tail); /* as in try_send */
    /* The slots before the tail that publishes them (ck: fence_store). */
    ck_pr_fence_store();
    ck_pr_store_uint(&ring->p_tail, producer + (unsigned)k);
    mb->sent += k;
    mb->unflushed += k;
  }
  twe__mailbox_flush_spsc(mb);
  return k;
}

bool twe__mailbox_full_spsc(const twe_mailbox_t *mb) {
  /* ck_ring_size loads both counters with ck_pr (no fence): the producer's
   * own tail is exact, the consumer's head may be stale, which can only make
   * the ring look fuller than it is. */
  return ck_ring_size(&mb->ring) == mb->ring.mask;
}

int twe__mailbox_want_space_spsc(twe_mailbox_t *mb) {
  if (!mb->producer) return -EINVAL;
  /* The consumer must hear about what we queued, or it might never drain the
   * ring we are waiting on. */
  twe__mailbox_flush_spsc(mb);
  /* Store-buffering handshake with twe__mailbox_recv_batch_spsc:
   *   producer: want_space = 1; fence; load c_head (is it still full?)
   *   consumer: store c_head (dequeue); fence; load want_space
   * With a seq_cst fence on both sides at least one of them sees the other's
   * store: either we see the room, or the consumer sees our flag and
   * notifies us. */
  atomic_store_explicit(&mb->want_space, 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  if (!twe__mailbox_full_spsc(mb)) {
    /* Room already: no notification needed. Relaxed: a consumer that took
     * the flag before this store notifies us once more, harmlessly. */
    atomic_store_explicit(&mb->want_space, 0, memory_order_relaxed);
    return 0;
  }
  return -EAGAIN;
}

int twe__mailbox_send_wait_spsc(twe_mailbox_t *mb, const twe_msg_t *msg) {
  twe_waiter_t *w = mb->producer;
  if (!w) return -EINVAL;
  /* The caller may be in the middle of its own round (after its begin()):
   * notifications this loop consumes may be meant for that round, so they
   * are handed back at the end. */
  bool consumed = false;
  while (twe__mailbox_try_send_spsc(mb, msg) != 0) {
    consumed |= twe__waiter_begin(w);
    if (twe__mailbox_want_space_spsc(mb) == 0) continue;
    twe__waiter_park(w, -1);
    consumed |= twe__waiter_begin(w);
  }
  twe__mailbox_flush_spsc(mb);
  /* The caller is running, so this only marks NOTIFIED: its next park
   * returns at once and its next round looks at everything again. */
  if (consumed) twe__waiter_notify(w);
  return 0;
}

size_t twe__mailbox_recv_batch_spsc(twe_mailbox_t *mb, twe_msg_t *out, size_t max) {
  ck_ring_t *ring = &mb->ring;
  const unsigned mask = ring->mask;
  /* ck's dequeue, a batch at a time (see try_send_batch): our own head is
   * plain, the producer's tail is loaded once, then a load fence before the
   * slots are read. */
  unsigned consumer = ring->c_head;
  unsigned producer = ck_pr_load_uint(&ring->p_tail);
  size_t avail = producer - consumer;
  size_t n = avail < max ? avail : max;
  if (n == 0) return 0;
  ck_pr_fence_load();
  TWE_TSAN_IGNORE_BEGIN();
  for (size_t i = 0; i < n; i++) out[i] = mb->slots[(consumer + (unsigned)i) & mask];
  TWE_TSAN_IGNORE_END();
  /* The copies before the head that frees their slots: ck uses a store
   * fence here, which is enough on x86 (TSO); release also orders the loads
   * on weaker machines. */
  ck_pr_fence_release();
  ck_pr_store_uint(&ring->c_head, consumer + (unsigned)n);
  /* For TSan only: pairs with the producer's release before each commit;
   * every message taken was committed before the tail we observed. */
  TWE_TSAN_ACQUIRE(&mb->ring.p_tail);
  mb->received += n;
  /* The consumer's half of the handshake in twe__mailbox_want_space_spsc:
   * our stores of c_head (above) before the load of want_space. */
  atomic_thread_fence(memory_order_seq_cst);
  /* Hysteresis: a waiting producer is told only once at most half the ring
   * is in use, so it refills half a ring per wake-up instead of a message
   * or a batch. Nothing is lost by waiting: the producer is blocked, so the
   * consumer keeps draining until it crosses the mark, and want_space stays
   * set until then. A stale tail can only make the ring look emptier. */
  if (atomic_load_explicit(&mb->want_space, memory_order_relaxed) &&
      ck_ring_size(&mb->ring) <= mb->ring.mask / 2 &&
      atomic_exchange_explicit(&mb->want_space, 0, memory_order_relaxed))
    /* Release inside: the producer's begin() then sees the room. */
    twe__waiter_notify(mb->producer);
  return n;
}

bool twe__mailbox_empty_spsc(const twe_mailbox_t *mb) {
  return ck_ring_size(&mb->ring) == 0;
}
