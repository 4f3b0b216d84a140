/* engine/metrics_http.c — the worker's HTTP endpoint (the metrics_address
 * option, TWE_METRICS_ADDRESS): /metrics in the Prometheus text format,
 * /healthz (every shard loop turned within the last HEALTH_WINDOW_NS: a
 * shard stuck in workflow code fails it) and /readyz (started, not
 * stopping, every shard connected).
 *
 * The server is libmicrohttpd (Debian's libmicrohttpd): its own thread,
 * at most 32 connections (8 per client address), 5 s to send a request; a
 * slow or hostile client never reaches the shard threads, which it reads
 * only through atomics (engine/metrics.h).
 *
 * Thread: start and stop on the owner's thread; the handler on the
 * server's. */
#define _GNU_SOURCE /* getaddrinfo flags under -std=c11 */
#include "engine/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/metrics.h"
#include "engine/worker_internal.h"
#include "twe/error.h"

#define HEALTH_WINDOW_NS (5ll * 1000000000ll)

struct twe__http {
  struct MHD_Daemon *daemon;
  twe_worker_t *worker;
  unsigned port;
};

bool twe__worker_healthy(twe_worker_t *w, char *why, size_t len) {
  if (!atomic_load(&w->started)) {
    snprintf(why, len, "not started\n");
    return false;
  }
  int64_t now = twe__mono_ns();
  for (unsigned i = 0; i < w->shard_count; i++) {
    twe_wshard_t *s = &w->shards[i];
    if (s->joined) continue; /* stopped for good: nothing to wait for */
    int64_t tick = atomic_load_explicit(&s->alive_ns, memory_order_relaxed);
    if (now - tick > HEALTH_WINDOW_NS) {
      snprintf(why, len, "shard %u: its loop has not turned for %.1f s\n", i,
               (double)(now - tick) / 1e9);
      return false;
    }
  }
  snprintf(why, len, "ok\n");
  return true;
}

bool twe__worker_ready(twe_worker_t *w, char *why, size_t len) {
  if (!atomic_load(&w->started)) {
    snprintf(why, len, "not started\n");
    return false;
  }
  if (atomic_load_explicit(&w->stop_requested, memory_order_relaxed)) {
    snprintf(why, len, "stopping\n");
    return false;
  }
  for (unsigned i = 0; i < w->shard_count; i++)
    if (!atomic_load_explicit(&w->shards[i].connected, memory_order_relaxed)) {
      snprintf(why, len, "shard %u: not connected to the server\n", i);
      return false;
    }
  snprintf(why, len, "ok\n");
  return true;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode, const char *type) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
  if (!r) {
    if (mode == MHD_RESPMEM_MUST_FREE) free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", type);
  enum MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg) {
  return reply(c, status, (char *)msg, strlen(msg), MHD_RESPMEM_MUST_COPY, "text/plain");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state) {
  (void)version, (void)upload;
  twe__http_t *h = cls;
  /* The first call is for the headers only; answer on the second. */
  if (!*state) {
    *state = h;
    return MHD_YES;
  }
  if (*upload_size) {
    *upload_size = 0; /* a body is not read */
    return MHD_YES;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
  char why[256];
  if (strcmp(url, "/metrics") == 0) {
    char *body;
    size_t len;
    if (twe__metrics_render(h->worker, &body, &len) < 0)
      return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return reply(c, MHD_HTTP_OK, body, len, MHD_RESPMEM_MUST_FREE,
                 "text/plain; version=0.0.4; charset=utf-8");
  }
  if (strcmp(url, "/healthz") == 0) {
    bool ok = twe__worker_healthy(h->worker, why, sizeof why);
    return text(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, why);
  }
  if (strcmp(url, "/readyz") == 0) {
    bool ok = twe__worker_ready(h->worker, why, sizeof why);
    return text(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, why);
  }
  return text(c, MHD_HTTP_NOT_FOUND, "not found: /metrics, /healthz, /readyz\n");
}

int twe__http_start(twe_worker_t *w, const char *address, twe__http_t **out) {
  /* host:port, [v6]:port, or :port (every address). */
  char host[256] = "";
  const char *colon = strrchr(address, ':');
  if (!colon || !colon[1]) return -EINVAL;
  const char *h0 = address, *h1 = colon;
  if (*h0 == '[' && h1 > h0 && h1[-1] == ']') h0++, h1--;
  if ((size_t)(h1 - h0) >= sizeof host) return -EINVAL;
  memcpy(host, h0, (size_t)(h1 - h0));
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai) != 0 || !ai) return -EINVAL;
  twe__http_t *h = calloc(1, sizeof *h);
  if (!h) {
    freeaddrinfo(ai);
    return -ENOMEM;
  }
  h->worker = w;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                               MHD_OPTION_CONNECTION_LIMIT, 32u, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                               8u, MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
  freeaddrinfo(ai);
  if (!h->daemon) {
    free(h);
    return -EADDRINUSE;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : 0;
  *out = h;
  return 0;
}

unsigned twe__http_port(const twe__http_t *h) {
  return h ? h->port : 0;
}

void twe__http_stop(twe__http_t *h) {
  if (!h) return;
  MHD_stop_daemon(h->daemon);
  free(h);
}
