/* tests/engine/test_codemap.c — the code map: our own functions (static
 * ones too) are safe and symbolize by name; libc, the allocator and other
 * system libraries are unsafe; addresses outside any object are unknown;
 * objects loaded later are known after a refresh; a copy of a library
 * outside the system directories is safe; a missing, corrupt or replaced
 * file gives no symbol, never a crash; the safe check works inside a signal
 * handler, allocates nothing, and survives tables replaced under it. */
#define _GNU_SOURCE /* REG_RIP, dlinfo, RTLD_NOLOAD, pthread_kill */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/codemap.h"

/* --- helpers ------------------------------------------------------------- */

/* Functions of this binary whose addresses the tests take. */
__attribute__((noinline)) static int codemap_probe_static(int x) {
  __asm__ volatile("" ::: "memory");
  return x * 3 + 1;
}

static _Atomic int spin_stop, spinning;

/* Runs until the signal handler stops it: the handler sees a PC in here. */
__attribute__((noinline)) static void spin_until_signalled(void) {
  atomic_store(&spinning, 1);
  while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) __asm__ volatile("" ::: "memory");
}

static uintptr_t fn_pc(void (*fn)(void)) {
  return (uintptr_t)fn;
}

static uintptr_t probe_pc(void) {
  return (uintptr_t)codemap_probe_static;
}

static uintptr_t libc_pc(const char *name) {
  void *p = dlsym(RTLD_DEFAULT, name);
  assert_non_null(p);
  return (uintptr_t)p;
}

/* The basename of the object dladdr puts pc in. */
static const char *object_of(uintptr_t pc) {
  Dl_info info;
  assert_int_not_equal(dladdr((void *)pc, &info), 0);
  assert_non_null(info.dli_fname);
  const char *slash = strrchr(info.dli_fname, '/');
  return slash ? slash + 1 : info.dli_fname;
}

/* The start of the first executable segment of the object loaded by h. */
struct find_exec {
  uintptr_t bias, lo;
};

static int find_exec_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct find_exec *f = arg;
  if (info->dlpi_addr != f->bias) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X)) {
      f->lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
      return 1;
    }
  return 0;
}

static uintptr_t exec_start_of(void *handle) {
  struct link_map *lm = NULL;
  assert_int_equal(dlinfo(handle, RTLD_DI_LINKMAP, &lm), 0);
  struct find_exec f = {.bias = lm->l_addr};
  dl_iterate_phdr(find_exec_cb, &f);
  assert_int_not_equal(f.lo, 0);
  return f.lo;
}

/* The path of libm.so.6 as the loader found it (it is part of libc6). */
static void libm_path(char *out, size_t len) {
  void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
  assert_non_null(h);
  struct link_map *lm = NULL;
  assert_int_equal(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
  snprintf(out, len, "%s", lm->l_name);
  dlclose(h);
  assert_true(out[0] == '/');
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  assert_non_null(in);
  FILE *out = fopen(to, "wb");
  assert_non_null(out);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

/* A temporary directory under /tmp (a user location: not a system path). */
static char tmpdir[64];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/twe-codemap-XXXXXX");
  assert_non_null(mkdtemp(tmpdir));
}

/* Copies libm into the temporary directory as name and loads the copy. */
static void *load_libm_copy(const char *name, char *path, size_t len) {
  char src[4096];
  libm_path(src, sizeof src);
  snprintf(path, len, "%s/%s", tmpdir, name);
  copy_file(src, path);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  assert_non_null(h);
  return h;
}

/* Replaces the file at path by a new one (a new inode: the loaded mapping
 * of the old one is untouched) holding len bytes of data. */
static void replace_file(const char *path, const void *data, size_t len) {
  assert_int_equal(unlink(path), 0);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

/* --- tests --------------------------------------------------------------- */

/* Runs first: before any refresh nothing is known, so nothing is safe. */
static void test_codemap_pc_is_safe_before_refresh(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_generation(), 0);
  assert_int_equal(twe__codemap_classify(probe_pc()), TWE_CODEMAP_UNKNOWN);
  assert_false(twe__codemap_pc_is_safe(probe_pc()));
}

static void test_codemap_refresh_idempotent(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  uint64_t g = twe__codemap_generation();
  assert_true(g >= 1);
  assert_true(twe__codemap_pc_is_safe(probe_pc()));
  assert_int_equal(twe__codemap_refresh(), 0);
  assert_int_equal(twe__codemap_refresh(), 0);
  assert_int_equal(twe__codemap_generation(), g);
  assert_true(twe__codemap_pc_is_safe(probe_pc()));
  assert_int_equal(twe__codemap_classify(libc_pc("malloc")), TWE_CODEMAP_UNSAFE);
}

static void test_codemap_symbolize_static_function(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  assert_int_equal(codemap_probe_static(1), 4);
  char buf[256];
  twe__codemap_symbolize(probe_pc(), buf, sizeof buf);
  assert_string_equal(buf, "codemap_probe_static+0x0 (test_codemap)");
  twe__codemap_symbolize(probe_pc() + 5, buf, sizeof buf);
  assert_string_equal(buf, "codemap_probe_static+0x5 (test_codemap)");
  twe__codemap_symbolize(fn_pc(spin_until_signalled) + 2, buf, sizeof buf);
  assert_string_equal(buf, "spin_until_signalled+0x2 (test_codemap)");
  assert_true(twe__codemap_pc_is_safe(fn_pc(spin_until_signalled)));
}

/* libc and the allocator (jemalloc, or the sanitizer's) are system code. */
static void test_codemap_symbolize_system_functions(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  const char *names[] = {"malloc", "read", "strlen"};
  for (size_t i = 0; i < 3; i++) {
    uintptr_t pc = libc_pc(names[i]);
    assert_false(twe__codemap_pc_is_safe(pc));
    assert_int_equal(twe__codemap_classify(pc), TWE_CODEMAP_UNSAFE);
    char buf[256], obj[128];
    twe__codemap_symbolize(pc, buf, sizeof buf);
    snprintf(obj, sizeof obj, " (%s)", object_of(pc));
    assert_non_null(strstr(buf, obj));
    /* strlen resolves to an internal variant (__strlen_avx2) that only a
     * .symtab names: its text is "nearest export+0x...". */
    if (i < 2) assert_non_null(strstr(buf, names[i]));
    else assert_non_null(strstr(buf, "+0x"));
  }
}

static void test_codemap_symbolize_unknown(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  char buf[256];
  assert_false(twe__codemap_pc_is_safe(0));
  assert_int_equal(twe__codemap_classify(0), TWE_CODEMAP_UNKNOWN);
  twe__codemap_symbolize(0, buf, sizeof buf);
  assert_string_equal(buf, "0x0 (unknown)");
  char *heap = malloc(64);
  assert_non_null(heap);
  char want[64];
  snprintf(want, sizeof want, "%p (unknown)", (void *)heap);
  assert_false(twe__codemap_pc_is_safe((uintptr_t)heap));
  twe__codemap_symbolize((uintptr_t)heap, buf, sizeof buf);
  assert_string_equal(buf, want);
  free(heap);
  int local = 0;
  assert_false(twe__codemap_pc_is_safe((uintptr_t)&local));
  assert_false(twe__codemap_pc_is_safe(UINTPTR_MAX));
}

static void test_codemap_symbolize_truncates(void **state) {
  (void)state;
  char buf[8];
  memset(buf, 'x', sizeof buf);
  twe__codemap_symbolize(probe_pc(), buf, 0);
  assert_int_equal(buf[0], 'x');
  twe__codemap_symbolize(probe_pc(), buf, 1);
  assert_int_equal(buf[0], '\0');
  assert_int_equal(buf[1], 'x');
  twe__codemap_symbolize(probe_pc(), buf, sizeof buf);
  assert_string_equal(buf, "codemap");
}

/* The dynamic loader and the vdso are system code too; the vdso has no file
 * to read, so it is named but gets no symbol. */
static void test_codemap_classify_loader_and_vdso(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  uintptr_t base = (uintptr_t)getauxval(AT_BASE);
  if (base) {
    struct find_exec f = {.bias = base};
    dl_iterate_phdr(find_exec_cb, &f);
    assert_int_not_equal(f.lo, 0);
    assert_int_equal(twe__codemap_classify(f.lo + 16), TWE_CODEMAP_UNSAFE);
  }
  uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  if (!base && !vdso) skip();
  if (vdso) {
    /* Its one loadable segment, headers included, is executable. */
    assert_int_equal(twe__codemap_classify(vdso + 64), TWE_CODEMAP_UNSAFE);
    char buf[256], want[256];
    twe__codemap_symbolize(vdso + 64, buf, sizeof buf);
    snprintf(want, sizeof want, "%p (linux-vdso.so.1)", (void *)(vdso + 64));
    assert_string_equal(buf, want);
  }
}

/* A system library loaded after the last refresh is unknown until the next
 * one, then unsafe; unloaded, it is unknown again. */
static void test_codemap_refresh_dlopen_system_library(void **state) {
  (void)state;
  /* libm.so.6 comes with libc6; the sanitizer runtime already loads it, so
   * take the first of these that is not loaded yet. */
  const char *candidates[] = {"libm.so.6", "libresolv.so.2", "libanl.so.1",
                              "libBrokenLocale.so.1", "libz.so.1"};
  const char *lib = NULL;
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !lib; i++) {
    void *h = dlopen(candidates[i], RTLD_NOW | RTLD_NOLOAD);
    if (h) dlclose(h);
    else lib = candidates[i];
  }
  if (!lib) skip();
  assert_int_equal(twe__codemap_refresh(), 0);
  uint64_t g = twe__codemap_generation();
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  assert_non_null(h);
  uintptr_t pc = exec_start_of(h) + 16;
  assert_int_equal(twe__codemap_classify(pc), TWE_CODEMAP_UNKNOWN);
  assert_int_equal(twe__codemap_refresh(), 0);
  assert_int_equal(twe__codemap_generation(), g + 1);
  assert_int_equal(twe__codemap_classify(pc), TWE_CODEMAP_UNSAFE);
  assert_false(twe__codemap_pc_is_safe(pc));
  char buf[256], obj[64];
  twe__codemap_symbolize(pc, buf, sizeof buf);
  snprintf(obj, sizeof obj, " (%s)", lib);
  assert_non_null(strstr(buf, obj));
  assert_int_equal(dlclose(h), 0);
  void *still = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
  if (still) { /* kept loaded by the loader: nothing to check */
    dlclose(still);
    return;
  }
  assert_int_equal(twe__codemap_refresh(), 0);
  assert_int_equal(twe__codemap_generation(), g + 2);
  assert_int_equal(twe__codemap_classify(pc), TWE_CODEMAP_UNKNOWN);
}

/* The same library outside the system directories counts as user code. */
static void test_codemap_refresh_user_library_safe(void **state) {
  (void)state;
  char path[256];
  void *h = load_libm_copy("libtwecodemaptest.so", path, sizeof path);
  uintptr_t cbrt_pc = (uintptr_t)dlsym(h, "cbrt");
  assert_int_not_equal(cbrt_pc, 0);
  assert_int_equal(twe__codemap_refresh(), 0);
  assert_true(twe__codemap_pc_is_safe(cbrt_pc));
  char buf[256];
  twe__codemap_symbolize(cbrt_pc, buf, sizeof buf);
  /* "cbrt" and its aliases cbrtf64, cbrtf32x: the shortest is shown. */
  assert_string_equal(buf, "cbrt+0x0 (libtwecodemaptest.so)");
  /* Cached: the file is no longer needed. */
  assert_int_equal(unlink(path), 0);
  twe__codemap_symbolize(cbrt_pc + 3, buf, sizeof buf);
  assert_string_equal(buf, "cbrt+0x3 (libtwecodemaptest.so)");
  assert_int_equal(dlclose(h), 0);
}

/* Files that cannot give symbols: missing, garbage, truncated, or another
 * build. The object is still named, and still safe. */
static void test_codemap_symbolize_bad_files(void **state) {
  (void)state;
  char libm[4096];
  libm_path(libm, sizeof libm);
  static const char *const cases[] = {"missing", "garbage", "truncated", "other-build"};
  for (size_t i = 0; i < 4; i++) {
    char name[64], path[256];
    snprintf(name, sizeof name, "libtwebad-%s.so", cases[i]);
    void *h = load_libm_copy(name, path, sizeof path);
    uintptr_t pc = (uintptr_t)dlsym(h, "cbrt");
    assert_int_not_equal(pc, 0);
    if (i == 0) {
      assert_int_equal(unlink(path), 0);
    } else if (i == 1) {
      static const char junk[] = "\177ELF this is not an object file at all, only bytes";
      replace_file(path, junk, sizeof junk);
    } else if (i == 2) {
      /* A real header whose section table points past the end. */
      FILE *f = fopen(libm, "rb");
      assert_non_null(f);
      unsigned char head[4096];
      assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
      fclose(f);
      replace_file(path, head, sizeof head);
    } else {
      /* A valid ELF with a different build-id: its symbols would lie. */
      char other[4096];
      snprintf(other, sizeof other, "%s.other", path);
      copy_file("/proc/self/exe", other);
      assert_int_equal(rename(other, path), 0);
    }
    assert_int_equal(twe__codemap_refresh(), 0);
    assert_true(twe__codemap_pc_is_safe(pc));
    char buf[256], want[256];
    twe__codemap_symbolize(pc, buf, sizeof buf);
    snprintf(want, sizeof want, "%p (%s)", (void *)pc, name);
    assert_string_equal(buf, want);
    unlink(path);
    assert_int_equal(dlclose(h), 0);
  }
}

/* --- from a signal handler ------------------------------------------------- */

static _Atomic int handler_class = -1;
static _Atomic uintptr_t handler_pc;

static uintptr_t context_pc(void *uc_void) {
  ucontext_t *uc = uc_void;
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.pc;
#else
#error "x86-64 and aarch64 only"
#endif
}

/* What the watchdog's handler does: classify the interrupted PC. */
static void on_signal(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  uintptr_t pc = context_pc(uc);
  atomic_store(&handler_pc, pc);
  atomic_store(&handler_class, (int)twe__codemap_classify(pc));
  atomic_store(&spin_stop, 1);
}

static void install_handler(struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: a blocked read returns EINTR */
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGUSR1, &sa, old), 0);
}

static void *kill_later(void *arg) {
  pthread_t target = *(pthread_t *)arg;
  /* Only once the target is inside the loop. */
  while (!atomic_load(&spinning)) sched_yield();
  pthread_kill(target, SIGUSR1);
  return NULL;
}

static void test_codemap_pc_is_safe_in_signal_handler_user_code(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  struct sigaction old;
  install_handler(&old);
  atomic_store(&spin_stop, 0);
  atomic_store(&spinning, 0);
  atomic_store(&handler_class, -1);
  pthread_t self = pthread_self(), killer;
  assert_int_equal(pthread_create(&killer, NULL, kill_later, &self), 0);
  spin_until_signalled();
  pthread_join(killer, NULL);
  sigaction(SIGUSR1, &old, NULL);
  assert_int_equal(atomic_load(&handler_class), TWE_CODEMAP_SAFE);
  char buf[256];
  twe__codemap_symbolize(atomic_load(&handler_pc), buf, sizeof buf);
  assert_memory_equal(buf, "spin_until_signalled+0x", 23);
}

struct blocked_reader {
  int fd;
  pid_t tid;
  _Atomic int ready;
  ssize_t got;
  int err;
};

static void *read_blocked(void *arg) {
  struct blocked_reader *b = arg;
  b->tid = (pid_t)syscall(SYS_gettid);
  atomic_store(&b->ready, 1);
  char c;
  b->got = read(b->fd, &c, 1);
  b->err = errno;
  return NULL;
}

/* Whether thread tid is inside system call nr (/proc/.../syscall). */
static bool in_syscall(pid_t tid, long nr) {
  char path[64], line[128] = "";
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  bool yes = fgets(line, sizeof line, f) && strtol(line, NULL, 10) == nr && line[0] != 'r';
  fclose(f);
  return yes;
}

/* A thread interrupted inside libc (blocked in read) is not safe to
 * abandon. */
static void test_codemap_pc_is_safe_in_signal_handler_libc(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  struct sigaction old;
  install_handler(&old);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  struct blocked_reader b = {.fd = fds[0]};
  atomic_store(&handler_class, -1);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, read_blocked, &b), 0);
  while (!atomic_load(&b.ready)) sched_yield();
  for (int i = 0; i < 10000 && !in_syscall(b.tid, SYS_read); i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  assert_true(in_syscall(b.tid, SYS_read));
  pthread_kill(t, SIGUSR1);
  pthread_join(t, NULL);
  sigaction(SIGUSR1, &old, NULL);
  close(fds[0]);
  close(fds[1]);
  assert_int_equal(b.got, -1);
  assert_int_equal(b.err, EINTR);
  assert_int_equal(atomic_load(&handler_class), TWE_CODEMAP_UNSAFE);
  char buf[256];
  twe__codemap_symbolize(atomic_load(&handler_pc), buf, sizeof buf);
  assert_null(strstr(buf, "(unknown)"));
  assert_null(strstr(buf, "(test_codemap)"));
}

/* --- no allocation --------------------------------------------------------- */

static _Atomic int hooks_armed, hook_allocs;

static void count_alloc(const volatile void *p, size_t size) {
  (void)p;
  (void)size;
  if (atomic_load(&hooks_armed)) atomic_fetch_add(&hook_allocs, 1);
}

static void count_free(const volatile void *p) {
  (void)p;
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef int (*install_hooks_fn)(void (*)(const volatile void *, size_t),
                                void (*)(const volatile void *));

static void classify_many(const uintptr_t pcs[4]) {
  for (int i = 0; i < 10000; i++) twe__codemap_classify(pcs[i % 4]);
}

/* The allocator's own counters (jemalloc's thread.allocated, or the
 * sanitizer's malloc hooks) do not move while classifying. */
static void test_codemap_pc_is_safe_does_not_allocate(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  /* Looked up before counting: dlsym may allocate. */
  const uintptr_t pcs[4] = {probe_pc(), 0, (uintptr_t)&hooks_armed, libc_pc("read")};
  mallctl_fn mallctl = (mallctl_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "mallctl");
  uint64_t before = 0, after = 0;
  size_t sz = sizeof before;
  if (mallctl && mallctl("thread.allocated", &before, &sz, NULL, 0) == 0) {
    /* Proves the counter counts. */
    void *volatile p = malloc(100);
    free(p);
    assert_int_equal(mallctl("thread.allocated", &after, &sz, NULL, 0), 0);
    assert_true(after > before);
    assert_int_equal(mallctl("thread.allocated", &before, &sz, NULL, 0), 0);
    classify_many(pcs);
    assert_int_equal(mallctl("thread.allocated", &after, &sz, NULL, 0), 0);
    assert_int_equal(after, before);
    return;
  }
  install_hooks_fn install =
    (install_hooks_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "__sanitizer_install_malloc_and_free_hooks");
  if (!install || install(count_alloc, count_free) == 0) skip(); /* plain glibc malloc */
  atomic_store(&hooks_armed, 1);
  void *volatile p = malloc(100);
  free(p);
  assert_int_equal(atomic_load(&hook_allocs), 1);
  atomic_store(&hook_allocs, 0);
  classify_many(pcs);
  atomic_store(&hooks_armed, 0);
  assert_int_equal(atomic_load(&hook_allocs), 0);
}

/* --- tables replaced under readers ------------------------------------------ */

static _Atomic int readers_stop;
static _Atomic long reader_rounds, reader_wrong;

static void *read_table(void *arg) {
  (void)arg;
  while (!atomic_load(&readers_stop)) {
    if (!twe__codemap_pc_is_safe(probe_pc())) atomic_fetch_add(&reader_wrong, 1);
    if (twe__codemap_pc_is_safe(0)) atomic_fetch_add(&reader_wrong, 1);
    atomic_fetch_add(&reader_rounds, 1);
  }
  return NULL;
}

/* Readers keep classifying while objects come and go and tables are
 * replaced (and retired tables freed): every answer stays right (under
 * ASan, any read of a freed table would be reported). */
static void test_codemap_refresh_while_reading(void **state) {
  (void)state;
  assert_int_equal(twe__codemap_refresh(), 0);
  uint64_t g = twe__codemap_generation();
  atomic_store(&readers_stop, 0);
  pthread_t r[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&r[i], NULL, read_table, NULL), 0);
  char path[256];
  for (int round = 0; round < 40; round++) {
    void *h = load_libm_copy("libtwecodemapchurn.so", path, sizeof path);
    assert_int_equal(twe__codemap_refresh(), 0);
    uintptr_t pc = (uintptr_t)dlsym(h, "cbrt");
    assert_true(twe__codemap_pc_is_safe(pc));
    unlink(path);
    assert_int_equal(dlclose(h), 0);
    assert_int_equal(twe__codemap_refresh(), 0);
  }
  atomic_store(&readers_stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(r[i], NULL);
  assert_true(twe__codemap_generation() >= g + 40);
  assert_true(atomic_load(&reader_rounds) > 0);
  assert_int_equal(atomic_load(&reader_wrong), 0);
}

static int group_setup(void **state) {
  (void)state;
  make_tmpdir();
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  /* What a failed test may have left behind. */
  static const char *const names[] = {
    "libtwecodemaptest.so", "libtwecodemapchurn.so", "libtwebad-missing.so",
    "libtwebad-garbage.so", "libtwebad-truncated.so", "libtwebad-other-build.so",
    "libtwebad-other-build.so.other"};
  char path[256];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
    unlink(path);
  }
  rmdir(tmpdir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_codemap_pc_is_safe_before_refresh), /* first */
    cmocka_unit_test(test_codemap_refresh_idempotent),
    cmocka_unit_test(test_codemap_symbolize_static_function),
    cmocka_unit_test(test_codemap_symbolize_system_functions),
    cmocka_unit_test(test_codemap_symbolize_unknown),
    cmocka_unit_test(test_codemap_symbolize_truncates),
    cmocka_unit_test(test_codemap_classify_loader_and_vdso),
    cmocka_unit_test(test_codemap_refresh_dlopen_system_library),
    cmocka_unit_test(test_codemap_refresh_user_library_safe),
    cmocka_unit_test(test_codemap_symbolize_bad_files),
    cmocka_unit_test(test_codemap_pc_is_safe_in_signal_handler_user_code),
    cmocka_unit_test(test_codemap_pc_is_safe_in_signal_handler_libc),
    cmocka_unit_test(test_codemap_pc_is_safe_does_not_allocate),
    cmocka_unit_test(test_codemap_refresh_while_reading),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
