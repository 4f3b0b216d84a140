/* engine/log.h — the worker's own log: one record per event, with its level
 * and shard (and workflow, when it is about one), to the worker's log hook or
 * to stderr as text, logfmt or JSON (twe_worker_options_t: log,
 * log_format). The same message (the same text about the same workflow)
 * repeated within REPEAT_WINDOW is written once; the next one written
 * says how many were held back.
 *
 * Thread: any (a mutex guards the repeat table; logging is never on a hot
 * path). */
#ifndef TWE_ENGINE_LOG_H
#define TWE_ENGINE_LOG_H
#include <stdarg.h>

#include "twe/worker.h"

struct twe_worker;

/* Logs fmt for worker w (NULL: stderr as text, no hook) at level, shard
 * (-1: none), about workflow type/id/run (NULLs: none). Repeats (the
 * same text about the same workflow within REPEAT_WINDOW) are held back. */
void twe__log(struct twe_worker *w, twe_log_level_t level, int shard, const char *workflow_type,
              const char *workflow_id, const char *run_id, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void twe__logv(struct twe_worker *w, twe_log_level_t level, int shard, const char *workflow_type,
               const char *workflow_id, const char *run_id, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));
/* Writes a record as it is, never held back (twe_workflow_log's lines
 * when the worker has no workflow_log hook: the code's own lines are all
 * wanted). */
void twe__log_record(struct twe_worker *w, const twe_log_record_t *r);

/* The per-worker state (repeat table); twe__log_init at create,
 * twe__log_destroy at destroy. */
void twe__log_init(struct twe_worker *w);
void twe__log_destroy(struct twe_worker *w);

#endif /* TWE_ENGINE_LOG_H */
