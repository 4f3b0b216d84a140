/* tests/proto/test_arena.c — the task arena: alignment, growth, budgets, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/arena.h"

static int is_aligned(const void *p) {
  return ((uintptr_t)p % _Alignof(max_align_t)) == 0;
}

/* Every pointer is aligned and no two allocations overlap: fill each with its
 * own byte, then check all of them after the last allocation. */
static void test_arena_alloc_aligned_and_disjoint(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  enum { N = 2000 };
  static unsigned char *ptrs[N];
  static size_t sizes[N];
  for (size_t i = 0; i < N; i++) {
    sizes[i] = (i * 37) % 700 + (i % 97 == 0 ? 5000 : 0);
    ptrs[i] = twe__arena_alloc(&arena, sizes[i]);
    assert_non_null(ptrs[i]);
    assert_true(is_aligned(ptrs[i]));
    memset(ptrs[i], (int)(i & 0xff), sizes[i]);
  }
  for (size_t i = 0; i < N; i++)
    for (size_t j = 0; j < sizes[i]; j++) assert_int_equal(ptrs[i][j], i & 0xff);
  twe__arena_destroy(&arena);
  assert_int_equal(arena.reserved_bytes, 0);
}

static void test_arena_alloc_zero_gives_unique_pointers(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  void *a = twe__arena_alloc(&arena, 0);
  void *b = twe__arena_alloc(&arena, 0);
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_not_equal(a, b);
  twe__arena_destroy(&arena);
}

/* A large object gets its own block; the small ones around it keep using
 * the current block instead of starting a new one. */
static void test_arena_alloc_large_keeps_current_block(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  unsigned char *small1 = twe__arena_alloc(&arena, 16);
  size_t after_small = arena.reserved_bytes;
  unsigned char *big = twe__arena_alloc(&arena, 100000);
  assert_non_null(big);
  assert_true(arena.reserved_bytes >= after_small + 100000);
  assert_true(arena.reserved_bytes < after_small + 100000 + 1024);
  unsigned char *small2 = twe__arena_alloc(&arena, 16);
  /* Bumped right after small1 in the same block. */
  assert_ptr_equal(small2, small1 + 16);
  twe__arena_destroy(&arena);
}

static void test_arena_alloc_limit_sets_flag(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 64 * 1024);
  size_t total = 0;
  while (twe__arena_alloc(&arena, 1000)) total += 1000;
  assert_true(arena.limit_hit);
  assert_false(arena.malloc_failed);
  assert_true(arena.reserved_bytes <= 64 * 1024);
  assert_true(total >= 32 * 1024); /* the budget was actually used */
  twe__arena_destroy(&arena);
}

static void test_arena_alloc_huge_size_fails_cleanly(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  assert_null(twe__arena_alloc(&arena, SIZE_MAX));
  assert_null(twe__arena_alloc(&arena, SIZE_MAX - 8));
  assert_null(twe__arena_strndup(&arena, "x", SIZE_MAX));
  assert_non_null(twe__arena_alloc(&arena, 8)); /* still usable */
  twe__arena_destroy(&arena);
}

/* Reset keeps one block for the next task and frees the rest. */
static void test_arena_reset_keeps_one_block(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  for (int i = 0; i < 1000; i++) assert_non_null(twe__arena_alloc(&arena, 512));
  size_t grown = arena.reserved_bytes;
  twe__arena_reset(&arena);
  assert_true(arena.reserved_bytes > 0);
  assert_true(arena.reserved_bytes < grown);
  size_t kept = arena.reserved_bytes;
  void *p = twe__arena_alloc(&arena, 512);
  assert_non_null(p);
  assert_int_equal(arena.reserved_bytes, kept); /* served from the kept block */
  twe__arena_destroy(&arena);
}

/* The caller's memory as the first block: used first, never freed here
 * (ASan would report a free of memory malloc did not give), not counted. */
static void test_arena_inline_first_block(void **state) {
  (void)state;
  _Alignas(max_align_t) unsigned char mem[512];
  twe_arena_t a;
  twe__arena_init_inline(&a, 0, mem, sizeof mem);
  unsigned char *p = twe__arena_alloc(&a, 100);
  assert_true(p > mem && p + 100 <= mem + sizeof mem);
  assert_int_equal(a.reserved_bytes, 0);
  unsigned char *q = twe__arena_alloc(&a, 1000); /* does not fit: a block of its own */
  assert_true(q < mem || q >= mem + sizeof mem);
  assert_true(a.reserved_bytes >= 1000);
  memset(q, 1, 1000);
  memset(p, 2, 100);
  twe__arena_reset(&a); /* keeps the head, a malloc'd block: mem is dropped */
  assert_non_null(twe__arena_alloc(&a, 10));
  twe__arena_destroy(&a);

  /* Too small for a block header: no first block, the arena still works. */
  twe__arena_init_inline(&a, 0, mem, 8);
  assert_non_null(twe__arena_alloc(&a, 10));
  twe__arena_destroy(&a);

  /* Reset with the inline block as the head: rewound, still not freed. */
  twe__arena_init_inline(&a, 0, mem, sizeof mem);
  p = twe__arena_alloc(&a, 64);
  twe__arena_reset(&a);
  assert_ptr_equal(twe__arena_alloc(&a, 64), p);
  assert_int_equal(a.reserved_bytes, 0);
  twe__arena_destroy(&a);
}

static void test_arena_strndup_copies_and_terminates(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  char *s = twe__arena_strndup(&arena, "temporal-worker", 8);
  assert_string_equal(s, "temporal");
  char *empty = twe__arena_strndup(&arena, "", 0);
  assert_string_equal(empty, "");
  twe__arena_destroy(&arena);
}

/* protobuf-c's hook reaches the arena; its free is a no-op. */
static void test_arena_allocator_hook(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  ProtobufCAllocator *a = twe__arena_allocator(&arena);
  void *p = a->alloc(a->allocator_data, 100);
  assert_non_null(p);
  assert_true(arena.reserved_bytes > 0);
  a->free(a->allocator_data, p);
  assert_true(arena.reserved_bytes > 0);
  twe__arena_destroy(&arena);
}

/* Rewind forgets what came after the mark, big objects' own blocks and new
 * heads alike, and gives their blocks back; what came before stays. */
static void test_arena_rewind_to_mark(void **state) {
  (void)state;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  twe__arena_mark_t empty;
  twe__arena_mark(&arena, &empty);
  unsigned char *kept = twe__arena_alloc(&arena, 64);
  memset(kept, 0xab, 64);
  twe__arena_mark_t mark;
  twe__arena_mark(&arena, &mark);
  size_t reserved = arena.reserved_bytes;
  unsigned char *next = twe__arena_alloc(&arena, 32);
  assert_non_null(twe__arena_alloc(&arena, 100000)); /* a block of its own */
  for (int i = 0; i < 200; i++) assert_non_null(twe__arena_alloc(&arena, 1000)); /* new heads */
  assert_non_null(twe__arena_alloc(&arena, 200000));
  assert_true(arena.reserved_bytes > reserved + 300000);
  twe__arena_rewind(&arena, &mark);
  assert_int_equal(arena.reserved_bytes, reserved);
  for (int i = 0; i < 64; i++) assert_int_equal(kept[i], 0xab);
  assert_ptr_equal(twe__arena_alloc(&arena, 32), next); /* bumped from the same place */
  /* The flags come back too. */
  twe_arena_t small;
  twe__arena_init(&small, 8192);
  twe__arena_mark(&small, &mark);
  assert_null(twe__arena_alloc(&small, 100000));
  assert_true(small.limit_hit);
  twe__arena_rewind(&small, &mark);
  assert_false(small.limit_hit);
  assert_int_equal(small.reserved_bytes, 0);
  twe__arena_destroy(&small);
  /* Back to an empty arena. */
  twe__arena_rewind(&arena, &empty);
  assert_int_equal(arena.reserved_bytes, 0);
  assert_non_null(twe__arena_alloc(&arena, 10));
  twe__arena_destroy(&arena);
  /* An arena on the caller's memory keeps it: only the blocks since go. */
  static _Alignas(max_align_t) unsigned char mem[1024];
  twe__arena_init_inline(&arena, 0, mem, sizeof mem);
  unsigned char *first = twe__arena_alloc(&arena, 16);
  twe__arena_mark(&arena, &mark);
  for (int i = 0; i < 50; i++) assert_non_null(twe__arena_alloc(&arena, 500));
  twe__arena_rewind(&arena, &mark);
  assert_int_equal(arena.reserved_bytes, 0);
  assert_ptr_equal(twe__arena_alloc(&arena, 16), first + 16);
  twe__arena_destroy(&arena);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_arena_alloc_aligned_and_disjoint),
    cmocka_unit_test(test_arena_alloc_zero_gives_unique_pointers),
    cmocka_unit_test(test_arena_alloc_large_keeps_current_block),
    cmocka_unit_test(test_arena_alloc_limit_sets_flag),
    cmocka_unit_test(test_arena_alloc_huge_size_fails_cleanly),
    cmocka_unit_test(test_arena_reset_keeps_one_block),
    cmocka_unit_test(test_arena_inline_first_block),
    cmocka_unit_test(test_arena_strndup_copies_and_terminates),
    cmocka_unit_test(test_arena_allocator_hook),
    cmocka_unit_test(test_arena_rewind_to_mark),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
