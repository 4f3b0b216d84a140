/* proto/arena.h — a bump allocator for everything one task decodes.
 *
 * A workflow or activity task decodes a poll response (often a history page
 * of thousands of small messages), works on it, and drops it whole. Giving
 * protobuf-c an arena (through its ProtobufCAllocator hook) turns thousands of
 * malloc/free pairs into a few block allocations, and freeing a task into one
 * call. An optional byte budget bounds what a hostile or broken message can
 * make us allocate.
 *
 * Thread: an arena belongs to one thread at a time (its shard); nothing here
 * is synchronised. It may travel to another thread inside a mailbox message.
 */
#ifndef TWE_PROTO_ARENA_H
#define TWE_PROTO_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>

#include "twe/error.h"

struct twe__arena_block;

typedef struct twe_arena {
  /* The block being bumped into; older and dedicated blocks hang behind it. */
  struct twe__arena_block *head;
  /* Bytes taken from malloc for blocks, headers included. */
  size_t reserved_bytes;
  /* Budget for reserved_bytes; 0 means none. */
  size_t limit_bytes;
  /* Set when an allocation failed because of limit_bytes (not ENOMEM), so a
   * failed decode can say TWE_ELIMIT rather than TWE_EDECODE. */
  bool limit_hit;
  /* Set when malloc itself failed, for -ENOMEM. */
  bool malloc_failed;
  /* The first block when the caller gave its memory (twe__arena_init_inline):
   * never freed here, not in reserved_bytes. */
  struct twe__arena_block *inline_block;
  /* protobuf-c's view of this arena; allocator_data points back here. */
  ProtobufCAllocator allocator;
} twe_arena_t;

/* Prepares an empty arena; allocates nothing until the first twe__arena_alloc.
 * limit_bytes: the most the arena may take from malloc, 0 for no limit. */
void twe__arena_init(twe_arena_t *arena, size_t limit_bytes);

/* twe__arena_init, with len bytes of the caller's at mem (aligned for any
 * type) as the first block: an object that embeds its arena gets its first
 * allocations without a malloc of their own. The memory stays the
 * caller's, to free after twe__arena_destroy; a block header comes out of
 * it (len below that: no first block). */
void twe__arena_init_inline(twe_arena_t *arena, size_t limit_bytes, void *mem, size_t len);

/* size bytes aligned for any type, or NULL when malloc fails or the budget
 * would be exceeded (then arena->limit_hit is set). size 0 gives a valid,
 * unique pointer. Memory is uninitialised and lives until reset/destroy. */
void *twe__arena_alloc(twe_arena_t *arena, size_t size);

/* A NUL-terminated copy of the first len bytes of s, or NULL as above. */
char *twe__arena_strndup(twe_arena_t *arena, const char *s, size_t len);

/* Forgets every allocation. Keeps the current block (rewound) so a reused
 * arena does not go back to malloc for the next task; frees the rest. */
void twe__arena_reset(twe_arena_t *arena);

/* Frees every block. The arena may be initialised again afterwards. */
void twe__arena_destroy(twe_arena_t *arena);

/* Where an arena stood, to go back to: what twe__arena_mark saw. */
typedef struct twe__arena_mark {
  struct twe__arena_block *head, *head_next;
  size_t head_used, reserved_bytes;
  bool limit_hit, malloc_failed;
} twe__arena_mark_t;

/* Records where arena stands now. */
void twe__arena_mark(const twe_arena_t *arena, twe__arena_mark_t *mark);

/* Forgets every allocation made since mark was taken and frees the blocks
 * they took, so the arena is as it was then (flags included): an attempt
 * that failed half-way leaves nothing behind. No reset or destroy may come
 * between the two calls. */
void twe__arena_rewind(twe_arena_t *arena, const twe__arena_mark_t *mark);

/* The error for an allocation from arena that returned NULL: TWE_ELIMIT when
 * the byte budget ran out, else -ENOMEM. */
static inline int twe__arena_error(const twe_arena_t *arena) {
  return arena->limit_hit ? TWE_ELIMIT : -ENOMEM;
}

/* The allocator to hand to protobuf-c (unpack, or message building). Its
 * free is a no-op: memory goes back in twe__arena_reset/destroy. */
static inline ProtobufCAllocator *twe__arena_allocator(twe_arena_t *arena) {
  return &arena->allocator;
}

#endif /* TWE_PROTO_ARENA_H */
