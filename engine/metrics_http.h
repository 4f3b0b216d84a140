/* engine/metrics_http.h — the worker's HTTP endpoint: /metrics, /healthz,
 * /readyz (engine/metrics_http.c). */
#ifndef TWE_ENGINE_METRICS_HTTP_H
#define TWE_ENGINE_METRICS_HTTP_H
#include <stdbool.h>
#include <stddef.h>

typedef struct twe__http twe__http_t;
struct twe_worker;

/* Serves w at address ("127.0.0.1:9464", "[::1]:9464", ":9464"; port 0
 * picks a free one). Returns 0, -EINVAL (not an address), -EADDRINUSE
 * (the server could not listen), -ENOMEM. */
int twe__http_start(struct twe_worker *w, const char *address, twe__http_t **out);
/* The port it listens on. */
unsigned twe__http_port(const twe__http_t *h);
/* Stops serving (waits for the handler in flight). NULL is a no-op. */
void twe__http_stop(twe__http_t *h);

/* /healthz and /readyz: whether the worker is alive (every shard loop
 * turned lately) and ready (started, connected, not stopping); why (a
 * line) in why. Thread: any. */
bool twe__worker_healthy(struct twe_worker *w, char *why, size_t len);
bool twe__worker_ready(struct twe_worker *w, char *why, size_t len);

#endif /* TWE_ENGINE_METRICS_HTTP_H */
