/* engine/workflow_eager.c — eager workflow start, the worker's part: a
 * client that starts a workflow on a task queue one of its own workers
 * polls asks the server to hand the run's first workflow task straight back
 * in the start's answer (request_eager_execution), so the workflow begins
 * without a trip through the task queue and a poll.
 *
 *   client thread (engine/client.c, twe_client_start_workflow):
 *     twe__wf_eager_reserve: a workflow task slot of the worker, taken now
 *       (none free, or the worker stops: the start asks for nothing)
 *     StartWorkflowExecution(request_eager_execution)
 *     the answer has a task: twe__wf_eager_deliver (the task's bytes and
 *       the slot go to a shard's inbox); else the slot goes back
 *   shard thread (twe__wfp_eager_adopt, from twe__wf_side_run):
 *     the task goes to an idle poller with its slot, as if a poll of the
 *     normal queue had brought it (routed, applied, answered as any other)
 *
 * The inbox is a lock-free stack (producers: any client thread; consumer:
 * the shard, which takes all of it at once and restores the order), so a
 * start never waits on a shard. A task that finds no idle poller waits in
 * the shard's own list (the shard's polls do not take the pollers it needs
 * meanwhile); one that arrives while the worker stops is given up with its
 * slot: the server hands it out again after the workflow task timeout.
 *
 * Thread: reserve and deliver on any thread (the client's, holding its
 * list of workers); adopt and drain on the shard thread, and drain once
 * more by twe_worker_destroy after the threads are joined. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"
#include "engine/workflow_poller_internal.h"
#include "engine/worker_internal.h"
#include "proto/codec.h"
#include "twe/error.h"

struct twe__eager_wft {
  struct twe__eager_wft *next;
  twe_slot_t permit;
  size_t len;
  uint8_t data[];
};

bool twe__wf_eager_reserve(twe_worker_t *w, twe_slot_t *permit) {
  if (!w->slots || !w->shard_count || !atomic_load(&w->started) ||
      atomic_load_explicit(&w->stop_requested, memory_order_acquire))
    return false;
  return twe__slots_try_take(w->slots, TWE_SLOT_WORKFLOW_TASK, permit) == 0;
}

int twe__wf_eager_deliver(twe_worker_t *w, twe_slot_t *permit, const ProtobufCMessage *task) {
  size_t len = protobuf_c_message_get_packed_size(task);
  struct twe__eager_wft *e = malloc(sizeof *e + len);
  if (!e) {
    twe__slot_release(permit, TWE_SLOT_UNUSED);
    twe__log(w, TWE_LOG_WARN, -1, NULL, NULL, NULL,
             "an eager workflow task is given up (out of memory): the server hands it out "
             "again after its timeout");
    return -ENOMEM;
  }
  memset(e, 0, sizeof *e);
  twe__slot_move(&e->permit, permit);
  e->len = protobuf_c_message_pack(task, e->data);
  /* Round robin over the shards; any of them polls the normal queue. */
  unsigned i = atomic_fetch_add_explicit(&w->eager_next, 1, memory_order_relaxed) % w->shard_count;
  twe_wshard_t *s = &w->shards[i];
  struct twe__eager_wft *head = atomic_load_explicit(&s->eager_in, memory_order_relaxed);
  do e->next = head;
  while (!atomic_compare_exchange_weak_explicit(&s->eager_in, &head, e, memory_order_release,
                                                memory_order_relaxed));
  if (s->thread) twe__waiter_notify(twe__shard_waiter(s->thread));
  return 0;
}

/* Gives up one task: its slot goes back, unused. */
static void give_up(struct twe__eager_wft *e) {
  twe__slot_release(&e->permit, TWE_SLOT_UNUSED);
  free(e);
}

/* Moves what clients pushed to the side's list, oldest first. */
static void take_inbox(struct twe__wf_side *w) {
  struct twe__eager_wft *in =
      atomic_exchange_explicit(&w->s->eager_in, NULL, memory_order_acquire);
  struct twe__eager_wft *rev = NULL;
  while (in) { /* the stack is newest first */
    struct twe__eager_wft *next = in->next;
    in->next = rev;
    rev = in;
    in = next;
  }
  if (!rev) return;
  if (w->eager_tail) w->eager_tail->next = rev;
  else w->eager_head = rev;
  while (rev->next) rev = rev->next;
  w->eager_tail = rev;
}

size_t twe__wfp_eager_adopt(struct twe__wf_side *w) {
  if (atomic_load_explicit(&w->s->eager_in, memory_order_relaxed)) take_inbox(w);
  size_t n = 0;
  unsigned next_idle = 0;
  while (w->eager_head) {
    struct twe__eager_wft *e = w->eager_head;
    if (w->stopping) {
      w->eager_head = e->next;
      twe__log(w->s->worker, TWE_LOG_INFO, (int)w->s->index, NULL, NULL, NULL,
               "an eager workflow task is given up: the worker stops (the server hands it "
               "out again after its timeout)");
      give_up(e);
      continue;
    }
    wf_poller_t *p = NULL;
    for (; next_idle < w->n_pollers && !p; next_idle++)
      if (w->pollers[next_idle].state == P_IDLE) p = &w->pollers[next_idle];
    if (!p) break; /* the next poller that is done takes it */
    w->eager_head = e->next;
    twe_arena_t *a = task_arena(p);
    twe__arena_reset(a);
    ProtobufCMessage *m = NULL;
    int rc = twe__proto_decode(
        &temporal__api__workflowservice__v1__poll_workflow_task_queue_response__descriptor, a,
        e->data, e->len, &m);
    if (rc < 0) { /* our own encoding: only memory can fail here */
      twe__log(w->s->worker, TWE_LOG_WARN, (int)w->s->index, NULL, NULL, NULL,
               "an eager workflow task is given up (%s): the server hands it out again after "
               "its timeout",
               twe_strerror(rc));
      give_up(e);
      continue;
    }
    twe__slot_move(&p->permit, &e->permit);
    free(e);
    p->sticky = false;
    twe__count(&w->s->counters.workflows_eager, 1);
    twe__wfp_task_arrived(p, (wft_pb_t *)m);
    n++;
  }
  if (!w->eager_head) w->eager_tail = NULL;
  return n;
}

void twe__wf_eager_drain(twe_wshard_t *s) {
  struct twe__eager_wft *e = atomic_exchange_explicit(&s->eager_in, NULL, memory_order_acquire);
  while (e) {
    struct twe__eager_wft *next = e->next;
    give_up(e);
    e = next;
  }
  struct twe__wf_side *w = s->wf;
  if (!w) return;
  for (e = w->eager_head; e;) {
    struct twe__eager_wft *next = e->next;
    give_up(e);
    e = next;
  }
  w->eager_head = w->eager_tail = NULL;
}
