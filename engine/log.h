/* engine/log.h — the worker's own log: one record per event, with its level
 * and shard (and workflow, when it is about one), to the worker's log hook or
 * to stderr as text, logfmt or JSON (twe_worker_options_t: log,
 * log_format). The same message repeated within REPEAT_WINDOW is written
 * once; the next one written says how many were held back.
 *
 * Thread: any (a mutex guards the repeat table; logging is never on a hot
 * path). */
#ifndef TWE_ENGINE_LOG_H
#define TWE_ENGINE_LOG_H
#include "twe/worker.h"

struct twe_worker;

/* Logs fmt for worker w (NULL: stderr as text, no hook) at level, shard
 * (-1: none), about workflow type/id/run (NULLs: none). */
void twe__log(struct twe_worker *w, twe_log_level_t level, int shard, const char *workflow_type,
              const char *workflow_id, const char *run_id, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* The per-worker state (repeat table); twe__log_init at create,
 * twe__log_destroy at destroy. */
void twe__log_init(struct twe_worker *w);
void twe__log_destroy(struct twe_worker *w);

#endif /* TWE_ENGINE_LOG_H */
