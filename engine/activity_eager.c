/* engine/activity_eager.c — eager activities on the activity side: a
 * workflow task's completion asks the server for the activities it
 * schedules here, one per activity slot and pool thread this side can
 * promise (twe__act_eager_reserve: beyond the polls in flight, whose tasks
 * come first); the answer's activity tasks run as polled ones
 * (twe__act_eager_take), and promises the server did not use go back
 * (twe__act_eager_release). The asking side is engine/workflow_respond.c.
 *
 * Thread: the shard's. */
#include <stdlib.h>

#include "engine/activity_internal.h"
#include "engine/log.h"
#include "proto/codec.h"

unsigned twe__act_free_threads(const struct twe__act_side *side) {
  unsigned cap = twe__pool_capacity(side->s->pool);
  size_t taken = side->waiting + side->eager_reserved;
  return cap > taken ? cap - (unsigned)taken : 0;
}

bool twe__act_eager_reserve(twe_wshard_t *s) {
  struct twe__act_side *side = s->act;
  if (!side || side->stopping || side->destroying || side->eager_reserved == TWE__EAGER_MAX)
    return false;
  /* A thread beyond the polls in flight: their tasks come first. And a
   * slot: the activity runs as soon as it comes. */
  if (twe__act_free_threads(side) <= side->polls_in_flight) return false;
  if (twe__slots_try_take(s->worker->slots, TWE_SLOT_ACTIVITY,
                          &side->eager_permits[side->eager_reserved]) != 0)
    return false;
  side->eager_reserved++;
  return true;
}

void twe__act_eager_release(twe_wshard_t *s, unsigned n) {
  struct twe__act_side *side = s->act;
  if (!side) return;
  for (; n && side->eager_reserved; n--)
    twe__slot_release(&side->eager_permits[--side->eager_reserved], TWE_SLOT_UNUSED);
}

void twe__act_eager_take(twe_wshard_t *s, const ProtobufCMessage *task) {
  struct twe__act_side *side = s->act;
  if (!side) return;
  twe_slot_t permit = {0};
  if (side->eager_reserved) twe__slot_move(&permit, &side->eager_permits[--side->eager_reserved]);
  if (side->destroying) { /* the attempt times out on the server */
    twe__slot_release(&permit, TWE_SLOT_SHUTDOWN);
    return;
  }
  /* The task lives in the completion's answer, which the workflow side
   * reuses: the activity gets a copy in an arena of its own, as a polled
   * task's. */
  twe_arena_t *arena = malloc(sizeof *arena);
  ProtobufCMessage *copy = NULL;
  size_t len = protobuf_c_message_get_packed_size(task);
  uint8_t *buf = malloc(len ? len : 1);
  if (arena) twe__arena_init(arena, 0);
  if (arena && buf) {
    protobuf_c_message_pack(task, buf);
    if (twe__proto_decode(task->descriptor, arena, buf, len, &copy) < 0) copy = NULL;
  }
  free(buf);
  if (!copy) {
    twe__log(s->worker, TWE_LOG_WARN, (int)s->index, NULL, NULL, NULL,
             "eager activity task dropped: out of memory (the server times the attempt out)");
    if (arena) {
      twe__arena_destroy(arena);
      free(arena);
    }
    twe__slot_release(&permit, TWE_SLOT_FAILED);
    return;
  }
  twe__count(&s->counters.activities_eager, 1);
  twe__act_on_task(side, arena, (const twe__act_task_pb_t *)copy, &permit);
}
