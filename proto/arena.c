/* proto/arena.c — block bump allocator behind protobuf-c's allocator hook. */
#include "proto/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Blocks start small (most activity tasks are a few hundred bytes) and double
 * up to a cap, so a 50 MiB history costs tens of mallocs, not thousands. */
#define ARENA_FIRST_BLOCK_BYTES (4u * 1024u)
#define ARENA_MAX_BLOCK_BYTES (1024u * 1024u)
#define ARENA_ALIGN alignof(max_align_t)

struct twe__arena_block {
  struct twe__arena_block *next;
  size_t capacity; /* usable bytes after the header */
  size_t used;
  alignas(max_align_t) unsigned char data[];
};

static size_t align_up(size_t n) {
  return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
}

static void *arena_pb_alloc(void *allocator_data, size_t size) {
  return twe__arena_alloc(allocator_data, size);
}

static void arena_pb_free(void *allocator_data, void *pointer) {
  (void)allocator_data;
  (void)pointer;
}

void twe__arena_init(twe_arena_t *arena, size_t limit_bytes) {
  memset(arena, 0, sizeof *arena);
  arena->limit_bytes = limit_bytes;
  arena->allocator.alloc = arena_pb_alloc;
  arena->allocator.free = arena_pb_free;
  arena->allocator.allocator_data = arena;
}

void twe__arena_init_inline(twe_arena_t *arena, size_t limit_bytes, void *mem, size_t len) {
  twe__arena_init(arena, limit_bytes);
  if (len < sizeof(struct twe__arena_block) + ARENA_ALIGN) return;
  struct twe__arena_block *b = mem;
  b->next = NULL;
  b->capacity = (len - sizeof *b) & ~(size_t)(ARENA_ALIGN - 1);
  b->used = 0;
  arena->head = arena->inline_block = b;
}

static struct twe__arena_block *new_block(twe_arena_t *arena, size_t capacity) {
  size_t total = sizeof(struct twe__arena_block) + capacity;
  if (total < capacity) return NULL; /* overflow */
  if (arena->limit_bytes && (arena->reserved_bytes + total > arena->limit_bytes ||
                             arena->reserved_bytes + total < total)) {
    arena->limit_hit = true;
    return NULL;
  }
  struct twe__arena_block *b = malloc(total);
  if (!b) {
    arena->malloc_failed = true;
    return NULL;
  }
  b->next = NULL;
  b->capacity = capacity;
  b->used = 0;
  arena->reserved_bytes += total;
  return b;
}

void *twe__arena_alloc(twe_arena_t *arena, size_t size) {
  size_t need = align_up(size ? size : 1);
  if (need < size) return NULL; /* size near SIZE_MAX */
  struct twe__arena_block *head = arena->head;
  if (head && head->capacity - head->used >= need) {
    void *p = head->data + head->used;
    head->used += need;
    return p;
  }
  size_t next_capacity = head ? head->capacity * 2 : ARENA_FIRST_BLOCK_BYTES;
  if (next_capacity > ARENA_MAX_BLOCK_BYTES) next_capacity = ARENA_MAX_BLOCK_BYTES;
  if (head && need > next_capacity / 4) {
    /* A big object gets a block of its own, kept behind the head, so the
     * space left in the head is not thrown away. */
    struct twe__arena_block *own = new_block(arena, need);
    if (!own) return NULL;
    own->used = need;
    own->next = head->next;
    head->next = own;
    return own->data;
  }
  if (need > next_capacity) next_capacity = need;
  struct twe__arena_block *b = new_block(arena, next_capacity);
  if (!b) return NULL;
  b->next = head;
  arena->head = b;
  b->used = need;
  return b->data;
}

char *twe__arena_strndup(twe_arena_t *arena, const char *s, size_t len) {
  if (len == SIZE_MAX) return NULL;
  char *copy = twe__arena_alloc(arena, len + 1);
  if (!copy) return NULL;
  if (len) memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

static void free_chain(const twe_arena_t *arena, struct twe__arena_block *b) {
  while (b) {
    struct twe__arena_block *next = b->next;
    if (b != arena->inline_block) free(b);
    b = next;
  }
}

void twe__arena_reset(twe_arena_t *arena) {
  struct twe__arena_block *head = arena->head;
  arena->limit_hit = false;
  arena->malloc_failed = false;
  if (!head) return;
  free_chain(arena, head->next);
  head->next = NULL;
  head->used = 0;
  if (head != arena->inline_block) {
    arena->inline_block = NULL; /* dropped from the chain: the caller's */
    arena->reserved_bytes = sizeof(struct twe__arena_block) + head->capacity;
  } else {
    arena->reserved_bytes = 0;
  }
}

void twe__arena_destroy(twe_arena_t *arena) {
  free_chain(arena, arena->head);
  arena->head = arena->inline_block = NULL;
  arena->reserved_bytes = 0;
  arena->limit_hit = false;
  arena->malloc_failed = false;
}

void twe__arena_mark(const twe_arena_t *arena, twe__arena_mark_t *mark) {
  mark->head = arena->head;
  mark->head_next = arena->head ? arena->head->next : NULL;
  mark->head_used = arena->head ? arena->head->used : 0;
  mark->reserved_bytes = arena->reserved_bytes;
  mark->limit_hit = arena->limit_hit;
  mark->malloc_failed = arena->malloc_failed;
}

/* Blocks made since the mark are in two runs of the chain: the heads that
 * replaced the marked one (each followed by the big objects' blocks it
 * got), in front of it; and the big objects' blocks the marked head got
 * while it was the head, right behind it. */
void twe__arena_rewind(twe_arena_t *arena, const twe__arena_mark_t *mark) {
  /* (The caller's inline block is older than any mark: never among these.) */
  struct twe__arena_block *b = arena->head;
  while (b && b != mark->head) {
    struct twe__arena_block *next = b->next;
    if (b != arena->inline_block) free(b);
    b = next;
  }
  if (mark->head) {
    b = mark->head->next;
    while (b && b != mark->head_next) {
      struct twe__arena_block *next = b->next;
      if (b != arena->inline_block) free(b);
      b = next;
    }
    mark->head->next = mark->head_next;
    mark->head->used = mark->head_used;
  }
  arena->head = mark->head;
  arena->reserved_bytes = mark->reserved_bytes;
  arena->limit_hit = mark->limit_hit;
  arena->malloc_failed = mark->malloc_failed;
}
