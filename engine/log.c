/* engine/log.c — the worker's own log. See engine/log.h. */
#define _GNU_SOURCE /* strcasecmp, clock_gettime under -std=c11 */
#include "engine/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "engine/worker_internal.h"

#define REPEAT_WINDOW_NS (10ll * 1000000000ll)

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void twe__log_init(twe_worker_t *w) {
  pthread_mutex_init(&w->log_mu, NULL);
  const char *f = getenv("TWE_LOG_FORMAT");
  if (f && !strcasecmp(f, "text")) w->opts.log_format = TWE_LOG_TEXT;
  if (f && !strcasecmp(f, "logfmt")) w->opts.log_format = TWE_LOG_LOGFMT;
  if (f && !strcasecmp(f, "json")) w->opts.log_format = TWE_LOG_JSON;
}

void twe__log_destroy(twe_worker_t *w) {
  pthread_mutex_destroy(&w->log_mu);
}

/* Quoted for logfmt or JSON (both escape \\ and " alike here). */
static void quoted(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void write_line(twe_log_format_t format, const twe_log_record_t *r) {
  char ts[40];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
  const char *lvl = level_names[r->level <= TWE_LOG_ERROR ? r->level : TWE_LOG_ERROR];
  flockfile(stderr);
  if (format == TWE_LOG_JSON) {
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\"", ts, lvl);
    if (r->shard >= 0) fprintf(stderr, ",\"shard\":%d", r->shard);
    if (r->workflow_type) fputs(",\"workflow_type\":", stderr), quoted(stderr, r->workflow_type);
    if (r->workflow_id) fputs(",\"workflow_id\":", stderr), quoted(stderr, r->workflow_id);
    if (r->run_id) fputs(",\"run_id\":", stderr), quoted(stderr, r->run_id);
    fputs(",\"msg\":", stderr);
    quoted(stderr, r->message);
    fputs("}\n", stderr);
  } else if (format == TWE_LOG_LOGFMT) {
    fprintf(stderr, "time=%s level=%s", ts, lvl);
    if (r->shard >= 0) fprintf(stderr, " shard=%d", r->shard);
    if (r->workflow_type) fputs(" workflow_type=", stderr), quoted(stderr, r->workflow_type);
    if (r->workflow_id) fputs(" workflow_id=", stderr), quoted(stderr, r->workflow_id);
    if (r->run_id) fputs(" run_id=", stderr), quoted(stderr, r->run_id);
    fputs(" msg=", stderr);
    quoted(stderr, r->message);
    fputc('\n', stderr);
  } else {
    /* "twe: shard 0: workflow Type id run R: warning: message" (info
     * lines have no level word, as a compiler's notes). */
    static const char *const words[] = {"debug: ", "", "warning: ", "error: "};
    fputs("twe: ", stderr);
    if (r->shard >= 0) fprintf(stderr, "shard %d: ", r->shard);
    if (r->workflow_type || r->workflow_id || r->run_id) {
      fputs("workflow", stderr);
      if (r->workflow_type) fprintf(stderr, " %s", r->workflow_type);
      if (r->workflow_id) fprintf(stderr, " %s", r->workflow_id);
      if (r->run_id) fprintf(stderr, " run %s", r->run_id);
      fputs(": ", stderr);
    }
    fprintf(stderr, "%s%s\n", words[r->level <= TWE_LOG_ERROR ? r->level : TWE_LOG_ERROR],
            r->message);
  }
  funlockfile(stderr);
}

/* What makes two records the same message: their text and the workflow
 * they are about (FNV-1a; never 0). */
static uint64_t key_of(const char *msg, const char *workflow_id, const char *run_id) {
  uint64_t h = 14695981039346656037ull;
  const char *parts[3] = {msg, workflow_id ? workflow_id : "", run_id ? run_id : ""};
  for (int i = 0; i < 3; i++) {
    for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
      h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  return h ? h : 1;
}

/* Whether the message of key may be written now (and how many like it
 * were held back since the last one written, in *held). */
static bool pass(twe_worker_t *w, uint64_t key, unsigned *held) {
  *held = 0;
  if (!w) return true;
  int64_t now = twe__mono_ns();
  bool ok = true;
  pthread_mutex_lock(&w->log_mu);
  size_t free_slot = TWE__LOG_REPEATS, oldest = 0;
  for (size_t i = 0; i < TWE__LOG_REPEATS; i++) {
    struct twe__log_repeat *r = &w->log_repeats[i];
    if (r->key == key) {
      if (now - r->last_ns < REPEAT_WINDOW_NS) {
        r->held++;
        ok = false;
      } else {
        *held = r->held;
        r->held = 0;
        r->last_ns = now;
      }
      pthread_mutex_unlock(&w->log_mu);
      return ok;
    }
    if (!r->key && free_slot == TWE__LOG_REPEATS) free_slot = i;
    if (w->log_repeats[i].last_ns < w->log_repeats[oldest].last_ns) oldest = i;
  }
  size_t slot = free_slot < TWE__LOG_REPEATS ? free_slot : oldest;
  w->log_repeats[slot] = (struct twe__log_repeat){.key = key, .last_ns = now};
  pthread_mutex_unlock(&w->log_mu);
  return true;
}

void twe__log_record(twe_worker_t *w, const twe_log_record_t *r) {
  if (w && w->opts.log) {
    w->opts.log(w->opts.log_user, r);
    return;
  }
  write_line(w ? w->opts.log_format : TWE_LOG_TEXT, r);
}

void twe__logv(twe_worker_t *w, twe_log_level_t level, int shard, const char *workflow_type,
               const char *workflow_id, const char *run_id, const char *fmt, va_list ap) {
  char msg[2048];
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  unsigned held;
  if (!pass(w, key_of(msg, workflow_id, run_id), &held)) return;
  if (held && n >= 0 && (size_t)n < sizeof msg)
    snprintf(msg + n, sizeof msg - (size_t)n, " (%u more like it in the last %lld s not shown)",
             held, REPEAT_WINDOW_NS / 1000000000ll);
  twe_log_record_t r = {level, shard, workflow_type, workflow_id, run_id, msg};
  twe__log_record(w, &r);
}

void twe__log(twe_worker_t *w, twe_log_level_t level, int shard, const char *workflow_type,
              const char *workflow_id, const char *run_id, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  twe__logv(w, level, shard, workflow_type, workflow_id, run_id, fmt, ap);
  va_end(ap);
}
