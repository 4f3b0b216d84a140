/* engine/codemap.h — which loaded object (and which function) a program
 * counter is in, and whether code there may be abandoned mid-instruction.
 *
 * The watchdog interrupts a shard thread that has run workflow code past its
 * CPU budget. Its signal handler may give up the interrupted fiber only if
 * nothing can be left half-done at the interrupted PC: not inside libc, the
 * dynamic loader, the allocator or any other system library, where a lock or
 * allocator state could be held. Workflow code lives in the main executable
 * or in the user's own shared objects, so the map classifies whole objects:
 *
 *   unsafe: the dynamic loader, the vdso, and every object whose path starts
 *           with /lib/, /lib64/, /usr/lib/ or /usr/lib64/ (libc, libm,
 *           jemalloc, libstdc++, libgcc_s, openssl, nghttp2, protobuf-c,
 *           liburing, libck, jansson, the sanitizer runtimes ...);
 *   safe:   the main executable and every other object (/usr/local/lib, a
 *           build tree, ...);
 *   unknown (treated as unsafe): a PC in no loaded object's executable
 *           segment (0, the heap, JIT code).
 *
 * The map is a sorted table of the executable PT_LOAD ranges of every loaded
 * object, built with dl_iterate_phdr. A table is immutable once published
 * through an atomic pointer, so the signal handler reads it without locks;
 * a refresh that sees objects loaded or unloaded (dlpi_adds/dlpi_subs)
 * publishes a new one. An old table is freed only at a later refresh that
 * sees no reader inside twe__codemap_classify (a counter of readers in
 * flight), so a handler never reads freed memory.
 *
 * Symbolization (for messages: "spin_forever+0x1c (fanout)") reads the
 * object's file from disk: its .symtab when it has one (our binaries are not
 * stripped, static functions must be found), else its .dynsym. Function
 * symbols are cached per object (a sorted array and their names, nothing
 * else of the file). A file whose GNU build-id differs from the loaded
 * object's (replaced on disk since) is not used. The vdso is not read.
 *
 * ELF64 only (x86-64, aarch64). */
#ifndef TWE_ENGINE_CODEMAP_H
#define TWE_ENGINE_CODEMAP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What twe__codemap_classify says of a PC. */
enum twe_codemap_class {
  TWE_CODEMAP_UNKNOWN = 0, /* in no known executable range */
  TWE_CODEMAP_SAFE = 1,    /* main executable or a user object */
  TWE_CODEMAP_UNSAFE = 2,  /* a system object, the loader or the vdso */
};

/* Builds, or rebuilds when objects were loaded or unloaded since the last
 * call, the table of executable ranges of every loaded object; frees retired
 * tables no signal handler can still be reading. Cheap when nothing changed
 * (one dl_iterate_phdr callback). Call it after loading workflow code (the
 * worker calls it when it starts). Returns 0 or -ENOMEM (the previous table
 * stays in use). Thread: any, not a signal handler. */
int twe__codemap_refresh(void);

/* Classifies pc with the current table: TWE_CODEMAP_UNKNOWN before the first
 * refresh and for a pc in no range (an object loaded since the last refresh
 * is unknown too). Async-signal-safe and lock-free: no allocation, no call
 * outside this file. Thread: any, including a signal handler. */
enum twe_codemap_class twe__codemap_classify(uintptr_t pc);

/* Whether pc is in safe code (twe__codemap_classify == TWE_CODEMAP_SAFE):
 * false for system code, unknown code and before the first refresh.
 * Async-signal-safe and lock-free. Thread: any, including a signal
 * handler. */
bool twe__codemap_pc_is_safe(uintptr_t pc);

/* How many tables have been published (0 before the first refresh); a
 * refresh that found nothing changed does not count. Thread: any. */
uint64_t twe__codemap_generation(void);

/* Writes "function+0xoff (object)" for pc into buf, where object is the
 * basename of the object's file: the function symbol whose extent covers
 * pc, else the nearest function symbol below pc in the same executable
 * range. "0x... (object)" when no symbol fits or the file cannot be read
 * (missing, corrupt, stripped, replaced), "0x... (unknown)" when pc is in no
 * loaded object. Refreshes the table first (cheap when nothing changed).
 * buf is always NUL-terminated when len > 0 (the text is truncated to fit);
 * nothing is written when len is 0. Reads files and allocates: serialized
 * internally by a mutex. Thread: any, not a signal handler. */
void twe__codemap_symbolize(uintptr_t pc, char *buf, size_t len);

#endif /* TWE_ENGINE_CODEMAP_H */
