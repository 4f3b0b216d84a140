/* engine/codemap.c — the map of loaded code of engine/codemap.h: the
 * executable ranges of every loaded object for the watchdog's signal
 * handler, and ELF function symbols for its messages. */
#define _GNU_SOURCE /* dl_iterate_phdr and dlpi_adds/dlpi_subs */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/codemap.h"

/* The handler's path must not fall back to a lock inside libatomic. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "lock-free atomic pointers");
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "lock-free atomic longs");
_Static_assert(sizeof(void *) == 8, "ELF64 targets only");

enum { BUILD_ID_MAX = 32 };

/* An executable PT_LOAD segment of an object: [lo, hi). */
struct range {
  uintptr_t lo, hi;
  uint32_t obj; /* index into table.objects */
  uint8_t cls;  /* enum twe_codemap_class */
};

/* A function symbol of a cached object: [addr, addr + size), addr before
 * the load bias is added. */
struct sym {
  uintptr_t addr;
  uint64_t size;
  uint32_t name; /* offset into symcache.names */
};

/* The function symbols of one object's file: what symbolization keeps. An
 * empty one (n == 0) remembers that the file gave nothing. */
struct symcache {
  struct sym *syms;
  size_t n;
  char *names;
};

struct object {
  char *path; /* the file to read ("/proc/self/exe" for the main program;
               * it works even when the file was deleted), or NULL */
  char *name; /* the basename shown in messages */
  uintptr_t bias;
  uint8_t build_id[BUILD_ID_MAX];
  size_t build_id_len; /* 0: the loaded object has none */
  uint8_t cls;
  /* Only under the lock, never read by the handler: the symbols, loaded on
   * first use and handed to the next table while the object stays. */
  struct symcache *cache;
};

/* Immutable once published, except objects[].cache (under the lock). */
struct table {
  struct range *ranges; /* sorted by lo */
  size_t n_ranges;
  struct object *objects;
  size_t n_objects;
  unsigned long long adds, subs; /* dl_iterate_phdr's counters when built */
  bool counters;                 /* false: the libc gives none, rebuild each time */
  struct table *retired_next;
};

/* The table the handler reads. Stored (seq_cst) by refresh under the lock;
 * loaded (seq_cst) by classify: see readers. */
static _Atomic(struct table *) current;
/* classify calls in flight, in any thread or handler. A table replaced in
 * current is freed only after a load of readers, later than the replacing
 * store, reads 0: every classify that could have loaded the old pointer
 * incremented before it (all four operations are seq_cst) and has
 * decremented since (its release pairs with that load's acquire). */
static _Atomic unsigned long readers;
/* Tables published; relaxed, a statistic. */
static _Atomic uint64_t generation;
/* Serializes refresh and symbolization; guards retired and caches. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct table *retired;

/* --- the table ------------------------------------------------------------ */

static void free_cache(struct symcache *c) {
  if (!c) return;
  free(c->syms);
  free(c->names);
  free(c);
}

static void free_table(struct table *t) {
  if (!t) return;
  for (size_t i = 0; i < t->n_objects; i++) {
    free(t->objects[i].path);
    free(t->objects[i].name);
    free_cache(t->objects[i].cache);
  }
  free(t->objects);
  free(t->ranges);
  free(t);
}

/* Collects the table inside dl_iterate_phdr (the loader's lock is held, so
 * the list and its counters are one consistent view). */
struct builder {
  struct table *t;
  size_t cap_ranges, cap_objects;
  unsigned calls;
  uintptr_t vdso, loader; /* getauxval(AT_SYSINFO_EHDR), getauxval(AT_BASE) */
  int err;
};

static bool has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool system_path(const char *path) {
  return has_prefix(path, "/lib/") || has_prefix(path, "/lib64/") ||
         has_prefix(path, "/usr/lib/") || has_prefix(path, "/usr/lib64/");
}

static const char *basename_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static uintptr_t align_up(uintptr_t v, uintptr_t align) {
  return (v + align - 1) & ~(align - 1);
}

/* The GNU build-id among the notes at p (len bytes, entries aligned to
 * align): its length (0: none) and *out. Bounds-checked: p may be a corrupt
 * file. */
static size_t find_build_id(const unsigned char *p, size_t len, size_t align,
                            const unsigned char **out) {
  if (align != 8) align = 4;
  size_t off = 0;
  while (len - off >= sizeof(Elf64_Nhdr)) {
    Elf64_Nhdr nh;
    memcpy(&nh, p + off, sizeof nh);
    /* Offsets from the note's start; 32-bit sizes cannot overflow these. */
    size_t desc = align_up(sizeof nh + (size_t)nh.n_namesz, align);
    size_t next = align_up(desc + (size_t)nh.n_descsz, align);
    if (desc > len - off || nh.n_descsz > len - off - desc) return 0;
    if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
        memcmp(p + off + sizeof nh, "GNU", 4) == 0) {
      *out = p + off + desc;
      return nh.n_descsz;
    }
    if (next >= len - off) return 0;
    off += next;
  }
  return 0;
}

static void loaded_build_id(const struct dl_phdr_info *info, struct object *o) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    /* Read it only where a loaded segment maps file bytes. */
    bool mapped = false;
    for (int j = 0; j < info->dlpi_phnum && !mapped; j++) {
      const ElfW(Phdr) *ld = &info->dlpi_phdr[j];
      mapped = ld->p_type == PT_LOAD && ph->p_vaddr >= ld->p_vaddr &&
               ph->p_vaddr + ph->p_filesz <= ld->p_vaddr + ld->p_filesz;
    }
    if (!mapped) continue;
    const unsigned char *id;
    size_t n = find_build_id((const unsigned char *)(info->dlpi_addr + ph->p_vaddr),
                             ph->p_filesz, ph->p_align, &id);
    if (n) {
      o->build_id_len = n < BUILD_ID_MAX ? n : BUILD_ID_MAX;
      memcpy(o->build_id, id, o->build_id_len);
      return;
    }
  }
}

/* The main program's name: /proc/self/exe's target, without the
 * " (deleted)" the kernel appends when the file was replaced. */
static char *main_program_name(void) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return strdup("main");
  buf[n] = '\0';
  const char *deleted = " (deleted)";
  size_t dl = strlen(deleted);
  if ((size_t)n > dl && strcmp(buf + n - dl, deleted) == 0) buf[n - dl] = '\0';
  return strdup(basename_of(buf));
}

static int collect(struct dl_phdr_info *info, size_t size, void *arg) {
  struct builder *b = arg;
  struct table *t = b->t;
  bool first = b->calls++ == 0;
  if (first && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    t->adds = info->dlpi_adds;
    t->subs = info->dlpi_subs;
    t->counters = true;
  }
  size_t n_exec = 0;
  bool vdso = false;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (b->vdso && b->vdso >= lo && b->vdso - lo < ph->p_memsz) vdso = true;
    if ((ph->p_flags & PF_X) && ph->p_memsz) n_exec++;
  }
  if (n_exec == 0) return 0;

  if (t->n_objects == b->cap_objects) {
    size_t cap = b->cap_objects ? 2 * b->cap_objects : 64;
    struct object *o = realloc(t->objects, cap * sizeof *o);
    if (!o) goto nomem;
    t->objects = o;
    b->cap_objects = cap;
  }
  if (t->n_ranges + n_exec > b->cap_ranges) {
    size_t cap = b->cap_ranges ? 2 * b->cap_ranges : 64;
    while (cap < t->n_ranges + n_exec) cap *= 2;
    struct range *r = realloc(t->ranges, cap * sizeof *r);
    if (!r) goto nomem;
    t->ranges = r;
    b->cap_ranges = cap;
  }
  struct object *o = &t->objects[t->n_objects];
  memset(o, 0, sizeof *o);
  o->bias = info->dlpi_addr;
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  if (vdso) {
    /* Only in memory: nothing to read, and kernel code is not ours. */
    o->cls = TWE_CODEMAP_UNSAFE;
    o->name = strdup(name[0] ? basename_of(name) : "vdso");
  } else if (first && name[0] == '\0') {
    o->cls = TWE_CODEMAP_SAFE;
    o->path = strdup("/proc/self/exe");
    o->name = main_program_name();
    if (!o->path) goto nomem_object;
  } else {
    bool loader = b->loader && info->dlpi_addr == b->loader;
    o->cls = loader || system_path(name) ? TWE_CODEMAP_UNSAFE : TWE_CODEMAP_SAFE;
    if (name[0]) {
      o->path = strdup(name);
      if (!o->path) goto nomem_object;
    }
    o->name = strdup(name[0] ? basename_of(name) : "?");
  }
  if (!o->name) goto nomem_object;
  if (!vdso) loaded_build_id(info, o);
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || !ph->p_memsz) continue;
    struct range *r = &t->ranges[t->n_ranges++];
    r->lo = info->dlpi_addr + ph->p_vaddr;
    r->hi = r->lo + ph->p_memsz;
    r->obj = (uint32_t)t->n_objects;
    r->cls = o->cls;
  }
  t->n_objects++;
  return 0;

nomem_object:
  free(o->path);
  free(o->name);
nomem:
  b->err = -ENOMEM;
  return 1; /* stop iterating */
}

static int by_lo(const void *a, const void *b) {
  const struct range *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

struct counters {
  unsigned long long adds, subs;
  bool valid;
};

static int read_counters(struct dl_phdr_info *info, size_t size, void *arg) {
  struct counters *c = arg;
  if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    c->adds = info->dlpi_adds;
    c->subs = info->dlpi_subs;
    c->valid = true;
  }
  return 1; /* the counters are global: one object is enough */
}

static bool same_object(const struct object *a, const struct object *b) {
  return a->bias == b->bias && a->build_id_len == b->build_id_len &&
         memcmp(a->build_id, b->build_id, a->build_id_len) == 0 &&
         ((!a->path && !b->path) || (a->path && b->path && strcmp(a->path, b->path) == 0));
}

/* Frees the retired tables once no classify can be reading them. */
static void reclaim(void) {
  if (!retired) return;
  if (atomic_load_explicit(&readers, memory_order_seq_cst) != 0) return; /* next time */
  while (retired) {
    struct table *t = retired;
    retired = t->retired_next;
    free_table(t);
  }
}

static int refresh_locked(void) {
  /* Relaxed: only lock holders store it. */
  struct table *old = atomic_load_explicit(&current, memory_order_relaxed);
  if (old && old->counters) {
    struct counters c = {0};
    dl_iterate_phdr(read_counters, &c);
    if (c.valid && c.adds == old->adds && c.subs == old->subs) {
      reclaim();
      return 0;
    }
  }
  struct builder b = {.vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR),
                      .loader = (uintptr_t)getauxval(AT_BASE)};
  b.t = calloc(1, sizeof *b.t);
  if (!b.t) return -ENOMEM;
  dl_iterate_phdr(collect, &b);
  if (b.err) {
    free_table(b.t);
    return b.err;
  }
  struct table *t = b.t;
  qsort(t->ranges, t->n_ranges, sizeof *t->ranges, by_lo);
  /* Symbols already read stay with objects that stay. */
  if (old) {
    for (size_t i = 0; i < t->n_objects; i++)
      for (size_t j = 0; j < old->n_objects; j++)
        if (old->objects[j].cache && same_object(&t->objects[i], &old->objects[j])) {
          t->objects[i].cache = old->objects[j].cache;
          old->objects[j].cache = NULL;
          break;
        }
    for (size_t j = 0; j < old->n_objects; j++) {
      free_cache(old->objects[j].cache);
      old->objects[j].cache = NULL;
    }
  }
  /* seq_cst: ordered against the load of readers in reclaim (see readers);
   * also the release that publishes the table's contents to classify. */
  atomic_store_explicit(&current, t, memory_order_seq_cst);
  atomic_fetch_add_explicit(&generation, 1, memory_order_relaxed);
  if (old) {
    old->retired_next = retired;
    retired = old;
  }
  reclaim();
  return 0;
}

int twe__codemap_refresh(void) {
  pthread_mutex_lock(&lock);
  int r = refresh_locked();
  pthread_mutex_unlock(&lock);
  return r;
}

/* The range holding pc, or NULL. */
static const struct range *find_range(const struct table *t, uintptr_t pc) {
  size_t lo = 0, hi = t->n_ranges;
  while (lo < hi) { /* first range with lo > pc */
    size_t mid = lo + (hi - lo) / 2;
    if (t->ranges[mid].lo <= pc)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return NULL;
  const struct range *r = &t->ranges[lo - 1];
  return pc < r->hi ? r : NULL;
}

enum twe_codemap_class twe__codemap_classify(uintptr_t pc) {
  /* seq_cst, both: see readers. */
  atomic_fetch_add_explicit(&readers, 1, memory_order_seq_cst);
  const struct table *t = atomic_load_explicit(&current, memory_order_seq_cst);
  enum twe_codemap_class cls = TWE_CODEMAP_UNKNOWN;
  if (t) {
    const struct range *r = find_range(t, pc);
    if (r) cls = (enum twe_codemap_class)r->cls;
  }
  /* Release: our reads of the table come before a free that sees this. */
  atomic_fetch_sub_explicit(&readers, 1, memory_order_release);
  return cls;
}

bool twe__codemap_pc_is_safe(uintptr_t pc) {
  return twe__codemap_classify(pc) == TWE_CODEMAP_SAFE;
}

uint64_t twe__codemap_generation(void) {
  return atomic_load_explicit(&generation, memory_order_relaxed);
}

/* --- symbols -------------------------------------------------------------- */

/* A function symbol while reading: name points into the mapped file. */
struct raw_sym {
  uintptr_t addr;
  uint64_t size;
  const char *name;
  unsigned char bind;
};

/* Several names at one address (aliases): the first after sorting is shown.
 * Prefer one with an extent, then a name without a leading underscore
 * ("read" over "__read"), then global over weak over local, then the
 * shorter, then the alphabetically first. */
static int alias_rank(const struct raw_sym *s) {
  int bind = s->bind == STB_GLOBAL ? 0 : s->bind == STB_WEAK ? 1 : 2;
  return (s->size ? 0 : 8) + (s->name[0] == '_' ? 4 : 0) + bind;
}

static int by_addr_then_rank(const void *a, const void *b) {
  const struct raw_sym *x = a, *y = b;
  if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
  int rx = alias_rank(x), ry = alias_rank(y);
  if (rx != ry) return rx - ry;
  size_t lx = strlen(x->name), ly = strlen(y->name);
  if (lx != ly) return lx < ly ? -1 : 1;
  return strcmp(x->name, y->name);
}

static bool span_ok(size_t size, uint64_t off, uint64_t len) {
  return off <= size && len <= size - off;
}

struct elf {
  const unsigned char *p;
  size_t size;
  Elf64_Ehdr eh;
  size_t shnum;
};

static bool get_shdr(const struct elf *e, size_t i, Elf64_Shdr *out) {
  if (i >= e->shnum) return false;
  memcpy(out, e->p + e->eh.e_shoff + i * sizeof *out, sizeof *out);
  return true;
}

static bool open_elf(struct elf *e, const void *p, size_t size) {
  e->p = p;
  e->size = size;
  if (size < sizeof e->eh) return false;
  memcpy(&e->eh, p, sizeof e->eh);
  const unsigned char *id = e->eh.e_ident;
  unsigned char data = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
  if (memcmp(id, ELFMAG, SELFMAG) != 0 || id[EI_CLASS] != ELFCLASS64 || id[EI_DATA] != data ||
      id[EI_VERSION] != EV_CURRENT)
    return false;
  if (e->eh.e_shoff == 0 || e->eh.e_shentsize != sizeof(Elf64_Shdr)) return false;
  if (!span_ok(size, e->eh.e_shoff, sizeof(Elf64_Shdr))) return false;
  e->shnum = e->eh.e_shnum;
  if (e->shnum == 0) { /* extended numbering: the count is in section 0 */
    Elf64_Shdr s0;
    memcpy(&s0, e->p + e->eh.e_shoff, sizeof s0);
    e->shnum = s0.sh_size;
  }
  return e->shnum <= (size - e->eh.e_shoff) / sizeof(Elf64_Shdr);
}

/* Whether the file's build-id is the loaded object's (true when the loaded
 * object has none to compare). */
static bool build_id_matches(const struct elf *e, const struct object *o) {
  if (o->build_id_len == 0) return true;
  if (e->eh.e_phentsize != sizeof(Elf64_Phdr) || e->eh.e_phnum == 0 ||
      !span_ok(e->size, e->eh.e_phoff, (uint64_t)e->eh.e_phnum * sizeof(Elf64_Phdr)))
    return false;
  for (size_t i = 0; i < e->eh.e_phnum; i++) {
    Elf64_Phdr ph;
    memcpy(&ph, e->p + e->eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_NOTE || !span_ok(e->size, ph.p_offset, ph.p_filesz)) continue;
    const unsigned char *id;
    size_t n = find_build_id(e->p + ph.p_offset, ph.p_filesz, ph.p_align, &id);
    if (n) {
      size_t cmp = n < BUILD_ID_MAX ? n : BUILD_ID_MAX;
      return cmp == o->build_id_len && memcmp(id, o->build_id, cmp) == 0;
    }
  }
  return false;
}

/* Fills c with the function symbols of the first section of type want in
 * e. Returns 0 (c may stay empty: no such section, corrupt, no functions)
 * or -ENOMEM. */
static int read_symbol_section(struct symcache *c, const struct elf *e, uint32_t want) {
  Elf64_Shdr symtab = {0}, strtab, sh;
  for (size_t i = 0; i < e->shnum && symtab.sh_type == 0; i++)
    if (get_shdr(e, i, &sh) && sh.sh_type == want) symtab = sh;
  size_t size = e->size;
  if (symtab.sh_type == 0 || symtab.sh_entsize != sizeof(Elf64_Sym) ||
      !span_ok(size, symtab.sh_offset, symtab.sh_size) || !get_shdr(e, symtab.sh_link, &strtab) ||
      strtab.sh_type != SHT_STRTAB || !span_ok(size, strtab.sh_offset, strtab.sh_size))
    return 0;
  const unsigned char *syms = e->p + symtab.sh_offset;
  const char *strs = (const char *)e->p + strtab.sh_offset;
  size_t n = symtab.sh_size / sizeof(Elf64_Sym), n_func = 0;

  struct raw_sym *raw = malloc((n ? n : 1) * sizeof *raw);
  if (!raw) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    Elf64_Sym s;
    memcpy(&s, syms + i * sizeof s, sizeof s);
    int type = ELF64_ST_TYPE(s.st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF || s.st_value == 0 ||
        s.st_name == 0 || s.st_name >= strtab.sh_size)
      continue;
    const char *name = strs + s.st_name;
    if (!memchr(name, '\0', strtab.sh_size - s.st_name)) continue; /* unterminated */
    raw[n_func++] = (struct raw_sym){s.st_value, s.st_size, name, ELF64_ST_BIND(s.st_info)};
  }
  qsort(raw, n_func, sizeof *raw, by_addr_then_rank);
  /* One entry per address, the best-ranked name, the widest extent. */
  size_t kept = 0, bytes = 0;
  for (size_t i = 0; i < n_func; i++) {
    if (kept && raw[kept - 1].addr == raw[i].addr) {
      if (raw[i].size > raw[kept - 1].size) raw[kept - 1].size = raw[i].size;
      continue;
    }
    raw[kept++] = raw[i];
    bytes += strlen(raw[i].name) + 1;
  }
  int r = 0;
  if (kept && bytes <= UINT32_MAX) {
    c->syms = malloc(kept * sizeof *c->syms);
    c->names = malloc(bytes);
    if (!c->syms || !c->names) {
      free(c->syms);
      free(c->names);
      c->syms = NULL;
      c->names = NULL;
      r = -ENOMEM;
    } else {
      size_t at = 0;
      for (size_t i = 0; i < kept; i++) {
        size_t len = strlen(raw[i].name) + 1;
        memcpy(c->names + at, raw[i].name, len);
        c->syms[i] = (struct sym){raw[i].addr, raw[i].size, (uint32_t)at};
        at += len;
      }
      c->n = kept;
    }
  }
  free(raw);
  return r;
}

/* Fills c with the function symbols of the ELF file at p. Returns 0 (c may
 * stay empty: not ELF64, corrupt, no symbols, another build) or -ENOMEM. */
static int read_symbols(struct symcache *c, const void *p, size_t size, const struct object *o) {
  struct elf e;
  if (!open_elf(&e, p, size) || !build_id_matches(&e, o)) return 0;
  /* .symtab has the static functions; .dynsym only the exported ones. */
  int r = read_symbol_section(c, &e, SHT_SYMTAB);
  if (r == 0 && c->n == 0) r = read_symbol_section(c, &e, SHT_DYNSYM);
  return r;
}

/* Reads o's symbols from its file. NULL only when out of memory (then
 * nothing is cached and the next call tries again). */
static struct symcache *load_symbols(const struct object *o) {
  struct symcache *c = calloc(1, sizeof *c);
  if (!c || !o->path) return c;
  int fd = open(o->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return c;
  struct stat st;
  void *map = MAP_FAILED;
  size_t size = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    size = (size_t)st.st_size;
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  close(fd);
  if (map == MAP_FAILED) return c;
  int r = read_symbols(c, map, size, o);
  munmap(map, size);
  if (r < 0) {
    free_cache(c);
    return NULL;
  }
  return c;
}

/* The symbol to show for offset off (pc minus the bias) in a range starting
 * at offset range_lo, or NULL. */
static const struct sym *find_sym(const struct symcache *c, uintptr_t off, uintptr_t range_lo) {
  size_t lo = 0, hi = c->n;
  while (lo < hi) { /* first symbol above off */
    size_t mid = lo + (hi - lo) / 2;
    if (c->syms[mid].addr <= off)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return NULL;
  const struct sym *below = &c->syms[lo - 1];
  /* The nearest one usually covers off; a function nested in another's
   * extent (hand-written assembly) may hide one just below it. */
  for (size_t k = 0; k < 8 && k < lo; k++) {
    const struct sym *s = &c->syms[lo - 1 - k];
    if (s->size && off - s->addr < s->size) return s;
  }
  return below->addr >= range_lo ? below : NULL;
}

void twe__codemap_symbolize(uintptr_t pc, char *buf, size_t len) {
  if (!buf || len == 0) return;
  pthread_mutex_lock(&lock);
  refresh_locked(); /* on -ENOMEM the previous table still answers */
  /* Relaxed: we hold the lock, the only writers do too. */
  struct table *t = atomic_load_explicit(&current, memory_order_relaxed);
  const struct range *r = t ? find_range(t, pc) : NULL;
  if (!r) {
    snprintf(buf, len, "0x%" PRIxPTR " (unknown)", pc);
    pthread_mutex_unlock(&lock);
    return;
  }
  struct object *o = &t->objects[r->obj];
  if (!o->cache) o->cache = load_symbols(o);
  const struct sym *s = o->cache ? find_sym(o->cache, pc - o->bias, r->lo - o->bias) : NULL;
  if (s)
    snprintf(buf, len, "%s+0x%" PRIxPTR " (%s)", o->cache->names + s->name,
             pc - o->bias - s->addr, o->name);
  else
    snprintf(buf, len, "0x%" PRIxPTR " (%s)", pc, o->name);
  pthread_mutex_unlock(&lock);
}
