/* engine/client.c — twe_client_* (include/twe/client.h): a connection to a
 * Temporal Service for the calls a program makes around its workers (start
 * a workflow, wait for its result), and the options and identity workers
 * created from the client reuse.
 *
 * A client owns a reactor and one gRPC channel on it. Client calls come
 * from any thread, so the pair is guarded by a mutex: a call takes it,
 * runs the reactor until its request is done (twe__grpc_channel_call_blocking)
 * and gives it back. The reactor is therefore only ever run by the thread
 * holding the mutex, which is what makes a reactor usable from several
 * threads in turn (the mutex orders each thread's use after the previous
 * one's).
 *
 * The client also lists the workers created from it once they run, so a
 * start on a queue one of them polls can ask for its first task eagerly
 * (request_eager_start; engine/workflow_eager.c). */
#define _GNU_SOURCE /* strdup, gethostname, getrandom */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "engine/client_internal.h"
#include "engine/values.h"
#include "engine/worker_internal.h"
#include "io/grpc_channel.h"
#include "io/reactor.h"
#include "temporal/api/enums/v1/task_queue.pb-c.h"
#include "temporal/api/enums/v1/workflow.pb-c.h"
#include "temporal/api/history/v1/message.pb-c.h"
#include "temporal/api/workflowservice/v1/request_response.pb-c.h"
#include "twe/client.h"
#include "twe/error.h"

#define WS "/temporal.api.workflowservice.v1.WorkflowService/"
#define SEC 1000000000ull
/* A workflow result is waited for in long polls of this length: above the
 * server's own long-poll interval (it answers an idle wait after ~20 s with
 * a page token to continue), well under any proxy's idle limit. */
#define RESULT_POLL_NS (65 * SEC)
#define DEFAULT_CONNECT_TIMEOUT_NS (10 * SEC)

struct twe_client {
  pthread_mutex_t mu; /* guards reactor and channel: one call at a time */
  twe_reactor_t *reactor;
  twe_grpc_channel_t *channel;
  /* The started workers created from this client (eager workflow start),
   * linked by client_next; held by a start from its slot to the hand-over,
   * so a worker is not destroyed in between. Taken before mu. */
  pthread_mutex_t workers_mu;
  twe_worker_t *workers;
  /* Deep copy of the caller's options: every string below is owned. */
  twe_connection_options_t opts;
};

/* --- small helpers --------------------------------------------------------- */

void twe__client_set_err(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || !err_len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

int twe__client_errno_from_grpc(int code) {
  switch (code) {
    case TWE_GRPC_OK:
      return 0;
    case TWE_GRPC_CANCELLED:
      return -ECANCELED;
    case TWE_GRPC_INVALID_ARGUMENT:
      return -EINVAL;
    case TWE_GRPC_DEADLINE_EXCEEDED:
      return -ETIMEDOUT;
    case TWE_GRPC_NOT_FOUND:
      return -ENOENT;
    case TWE_GRPC_ALREADY_EXISTS:
      return -EEXIST;
    case TWE_GRPC_PERMISSION_DENIED:
    case TWE_GRPC_UNAUTHENTICATED:
      return -EACCES;
    case TWE_GRPC_RESOURCE_EXHAUSTED:
    case TWE_GRPC_ABORTED:
      return -EAGAIN;
    case TWE_GRPC_FAILED_PRECONDITION:
      return -EPERM;
    case TWE_GRPC_OUT_OF_RANGE:
      return -ERANGE;
    case TWE_GRPC_UNIMPLEMENTED:
      return -EOPNOTSUPP;
    case TWE_GRPC_UNAVAILABLE:
      return -ENOTCONN;
    default:
      return -EIO; /* UNKNOWN, INTERNAL, DATA_LOSS */
  }
}

/* Writes "<what>: <CODE>: <message>" for a failed call. */
int twe__client_call_error(const twe_grpc_request_t *req, const char *what, char *err, size_t err_len) {
  twe__client_set_err(err, err_len, "%s: %s: %s", what, twe__grpc_code_name(req->status.code),
          req->status.message ? req->status.message : "");
  return twe__client_errno_from_grpc(req->status.code);
}

/* The errno a failed first connection stands for, from the channel's
 * description of it ("connect to h:p failed: Connection refused"). */
static int connection_errno(const char *why) {
  static const int codes[] = {-ECONNREFUSED, -ETIMEDOUT,   -EHOSTUNREACH, -ENETUNREACH,
                              TWE_ENOHOST,   TWE_ERESOLVE, TWE_ETLS};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (strstr(why, twe_strerror(codes[i]))) return codes[i];
  if (strstr(why, "TLS") || strstr(why, "certificate")) return TWE_ETLS;
  if (strstr(why, "timed out")) return -ETIMEDOUT;
  return -ENOTCONN;
}

/* --- options --------------------------------------------------------------- */

static void free_options(twe_connection_options_t *o) {
  free((char *)o->address);
  free((char *)o->namespace_name);
  free((char *)o->api_key);
  free((char *)o->tls_ca_path);
  free((char *)o->tls_ca_pem);
  free((char *)o->tls_cert_path);
  free((char *)o->tls_cert_pem);
  free((char *)o->tls_key_path);
  free((char *)o->tls_key_pem);
  free((char *)o->tls_server_name);
  free((char *)o->identity);
  memset(o, 0, sizeof *o);
}

static bool dup_str(const char **dst, const char *src) {
  *dst = NULL;
  if (!src) return true;
  *dst = strdup(src);
  return *dst != NULL;
}

/* Copies every string of src into dst (strings owned by dst), filling the
 * defaults: address, namespace, identity "<pid>@<hostname>". */
static int copy_options(twe_connection_options_t *dst, const twe_connection_options_t *src) {
  *dst = *src;
  char identity[300];
  if (!src->identity || !*src->identity) {
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) < 0 || !host[0]) snprintf(host, sizeof host, "unknown");
    snprintf(identity, sizeof identity, "%ld@%s", (long)getpid(), host);
  }
  bool ok = dup_str(&dst->address, src->address ? src->address : "localhost:7233");
  ok &= dup_str(&dst->namespace_name,
                src->namespace_name && *src->namespace_name ? src->namespace_name : "default");
  ok &= dup_str(&dst->api_key, src->api_key);
  ok &= dup_str(&dst->tls_ca_path, src->tls_ca_path);
  ok &= dup_str(&dst->tls_ca_pem, src->tls_ca_pem);
  ok &= dup_str(&dst->tls_cert_path, src->tls_cert_path);
  ok &= dup_str(&dst->tls_cert_pem, src->tls_cert_pem);
  ok &= dup_str(&dst->tls_key_path, src->tls_key_path);
  ok &= dup_str(&dst->tls_key_pem, src->tls_key_pem);
  ok &= dup_str(&dst->tls_server_name, src->tls_server_name);
  ok &= dup_str(&dst->identity, src->identity && *src->identity ? src->identity : identity);
  if (!ok) {
    free_options(dst);
    return -ENOMEM;
  }
  return 0;
}

const twe_connection_options_t *twe__client_options(const twe_client_t *c) {
  return &c->opts;
}

const char *twe__client_identity(const twe_client_t *c) {
  return c->opts.identity;
}

const char *twe_client_namespace(const twe_client_t *c) {
  return c ? c->opts.namespace_name : NULL;
}

/* --- life cycle -------------------------------------------------------------- */

int twe__client_create_unchecked(const twe_connection_options_t *opts, twe_client_t **out,
                                 char *err, size_t err_len) {
  twe_connection_options_t env;
  twe_connection_config_t *config = NULL;
  if (!opts) {
    /* The profile of temporal.toml (if any), the environment on top. */
    int rc = twe_connection_options_load(&env, &config, err, err_len);
    if (rc < 0) return rc;
    opts = &env;
  }
  twe_client_t *c = calloc(1, sizeof *c);
  int rc = c ? copy_options(&c->opts, opts) : -ENOMEM;
  twe_connection_config_free(config); /* the options are copied */
  if (!c) return -ENOMEM;
  if (rc < 0) {
    free(c);
    return rc;
  }
  rc = pthread_mutex_init(&c->mu, NULL);
  if (rc == 0 && (rc = pthread_mutex_init(&c->workers_mu, NULL)) != 0)
    pthread_mutex_destroy(&c->mu);
  if (rc != 0) {
    free_options(&c->opts);
    free(c);
    return -rc;
  }
  rc = twe__reactor_create(&c->reactor, NULL);
  if (rc < 0) {
    twe__client_set_err(err, err_len, "cannot create the io reactor: %s", twe_strerror(rc));
    twe_client_close(c);
    return rc;
  }
  rc = twe__grpc_channel_create(c->reactor, &c->opts, &c->channel, err, err_len);
  if (rc < 0) {
    if (err && err_len && !err[0]) twe__client_set_err(err, err_len, "%s", twe_strerror(rc));
    twe_client_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

static void on_check_done(twe_grpc_request_t *req) {
  *(bool *)req->data = true;
}

/* A start-up check call. Unlike call_blocking it does not wait out the
 * deadline when the server cannot be reached at all: a first connection
 * that fails (refused, unresolvable, TLS) ends the check at once with the
 * channel's reason. Later failures are the channel's to retry. */
static int check_call(twe_client_t *c, twe_grpc_request_t *req, const char *what, char *err,
                      size_t err_len) {
  bool done = false;
  req->done = on_check_done;
  req->data = &done;
  int rc = twe__grpc_channel_start(c->channel, req);
  if (rc < 0) {
    twe__client_set_err(err, err_len, "%s: %s", what, twe_strerror(rc));
    return rc;
  }
  while (!done) {
    int n = twe__reactor_run_once(c->reactor, -1);
    if (done) break;
    twe_grpc_channel_stats_t st;
    twe__grpc_channel_stats(c->channel, &st);
    if (n < 0 || (st.connects_succeeded == 0 && st.last_error[0])) {
      twe__grpc_channel_cancel(c->channel, req); /* its callback runs now */
      if (n < 0) {
        twe__client_set_err(err, err_len, "%s: the io reactor failed: %s", what, twe_strerror(n));
        return n;
      }
      twe__client_set_err(err, err_len, "%s", st.last_error);
      return connection_errno(st.last_error);
    }
  }
  if (req->status.code == TWE_GRPC_OK) return 0;
  if (req->status.code == TWE_GRPC_DEADLINE_EXCEEDED) {
    twe__client_call_error(req, what, err, err_len);
    return -ETIMEDOUT;
  }
  /* The connection failed after it was made (a handshake that timed out, a
   * reset) and the deadline left no time for another: the channel's reason
   * says which (a silent server's handshake timeout and the call's deadline
   * come at the same moment, in either order). */
  if (req->status.code == TWE_GRPC_UNAVAILABLE && req->status.message) {
    twe__client_call_error(req, what, err, err_len);
    return connection_errno(req->status.message);
  }
  return twe__client_call_error(req, what, err, err_len);
}

/* Whether a failed connect may be tried again: the server could not be
 * reached (yet), as opposed to a server that answered no. */
static bool unreachable(int rc) {
  return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EHOSTUNREACH || rc == -ENETUNREACH ||
         rc == TWE_ENOHOST || rc == TWE_ERESOLVE || rc == -ENOTCONN || rc == -ECONNRESET ||
         rc == -EAGAIN;
}

static int connect_once(const twe_connection_options_t *opts, twe_client_t **out, char *err,
                        size_t err_len);

int twe_client_connect(const twe_connection_options_t *opts, twe_client_t **out, char *err,
                       size_t err_len) {
  twe_connection_options_t loaded;
  twe_connection_config_t *config = NULL;
  if (!opts) {
    /* The profile of temporal.toml (if any), the environment on top. */
    int rc = twe_connection_options_load(&loaded, &config, err, err_len);
    if (rc < 0) return rc;
    opts = &loaded;
  }
  uint64_t wait = opts->wait_for_server_ns;
  uint64_t start = mono_ns();
  double backoff = 1.0;
  int rc;
  for (int attempt = 1;; attempt++) {
    rc = connect_once(opts, out, err, err_len);
    if (rc == 0 || !wait || !unreachable(rc)) break;
    uint64_t waited = mono_ns() - start;
    if (wait != TWE_WAIT_FOREVER && waited + (uint64_t)(backoff * 1e9) > wait) break;
    fprintf(stderr, "twe: cannot reach the server yet (attempt %d, %.0f s so far): %s; trying "
            "again in %.1f s\n", attempt, (double)waited / 1e9, err && err_len ? err : "",
            backoff);
    struct timespec ts = {(time_t)backoff, (long)((backoff - (double)(time_t)backoff) * 1e9)};
    nanosleep(&ts, NULL);
    backoff = backoff * 1.6 > 10.0 ? 10.0 : backoff * 1.6;
  }
  twe_connection_config_free(config); /* the client copied what it keeps */
  return rc;
}

static int connect_once(const twe_connection_options_t *opts, twe_client_t **out, char *err,
                        size_t err_len) {
  if (err && err_len) err[0] = '\0';
  if (!out) return -EINVAL;
  *out = NULL;
  twe_client_t *c;
  int rc = twe__client_create_unchecked(opts, &c, err, err_len);
  if (rc < 0) return rc;
  uint64_t timeout =
      c->opts.connect_timeout_ns ? c->opts.connect_timeout_ns : DEFAULT_CONNECT_TIMEOUT_NS;
  twe_arena_t arena;
  twe__arena_init(&arena, 0);

  Temporal__Api__Workflowservice__V1__GetSystemInfoRequest info =
      TEMPORAL__API__WORKFLOWSERVICE__V1__GET_SYSTEM_INFO_REQUEST__INIT;
  twe_grpc_request_t req = {
    .path = WS "GetSystemInfo",
    .request = &info.base,
    .response_type = &temporal__api__workflowservice__v1__get_system_info_response__descriptor,
    .arena = &arena,
    .timeout_ns = timeout,
  };
  rc = check_call(c, &req, "GetSystemInfo", err, err_len);
  if (rc < 0) goto fail;

  Temporal__Api__Workflowservice__V1__DescribeNamespaceRequest ns =
      TEMPORAL__API__WORKFLOWSERVICE__V1__DESCRIBE_NAMESPACE_REQUEST__INIT;
  ns.namespace_ = (char *)c->opts.namespace_name;
  twe_grpc_request_t nreq = {
    .path = WS "DescribeNamespace",
    .request = &ns.base,
    .response_type = &temporal__api__workflowservice__v1__describe_namespace_response__descriptor,
    .arena = &arena,
    .timeout_ns = timeout,
    .namespaced = true,
  };
  rc = check_call(c, &nreq, "DescribeNamespace", err, err_len);
  if (rc == -ENOENT) {
    twe__client_set_err(err, err_len, "namespace \"%s\" does not exist on %s: %s", c->opts.namespace_name,
            c->opts.address, nreq.status.message ? nreq.status.message : "");
    goto fail;
  }
  if (rc < 0) goto fail;
  twe__arena_destroy(&arena);
  /* The checks' connection is not kept: nothing reads it between calls
   * (the reactor runs only inside a call), so a server that went away
   * would leave its socket in CLOSE-WAIT for as long as the client lives
   * (a worker's whole life). The next call connects again. */
  twe__grpc_channel_close_idle(c->channel);
  for (int i = 0; i < 100; i++) {
    twe_grpc_channel_stats_t st;
    twe__grpc_channel_stats(c->channel, &st);
    if (st.connections_open == 0) break;
    twe__reactor_run_once(c->reactor, 1000000);
  }
  *out = c;
  return 0;

fail:
  twe__arena_destroy(&arena);
  twe_client_close(c);
  return rc;
}

void twe_client_close(twe_client_t *c) {
  if (!c) return;
  if (c->channel) twe__grpc_channel_destroy(c->channel);
  if (c->reactor) twe__reactor_destroy(c->reactor); /* drains the closing sockets */
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->workers_mu);
  free_options(&c->opts);
  free(c);
}

void twe__client_add_worker(twe_client_t *c, twe_worker_t *w) {
  pthread_mutex_lock(&c->workers_mu);
  if (!w->client_listed) {
    w->client_next = c->workers;
    c->workers = w;
    w->client_listed = true;
  }
  pthread_mutex_unlock(&c->workers_mu);
}

void twe__client_remove_worker(twe_client_t *c, twe_worker_t *w) {
  pthread_mutex_lock(&c->workers_mu);
  for (twe_worker_t **at = &c->workers; *at; at = &(*at)->client_next)
    if (*at == w) {
      *at = w->client_next;
      break;
    }
  w->client_listed = false;
  pthread_mutex_unlock(&c->workers_mu);
}

/* A started worker of this client on task_queue with a workflow task slot
 * free: the slot is taken into *permit. Called with workers_mu held. */
static twe_worker_t *eager_worker(twe_client_t *c, const char *task_queue, twe_slot_t *permit) {
  for (twe_worker_t *w = c->workers; w; w = w->client_next)
    if (strcmp(w->task_queue, task_queue) == 0 && twe__wf_eager_reserve(w, permit)) return w;
  return NULL;
}

int twe__client_call(twe_client_t *c, twe_grpc_request_t *req) {
  pthread_mutex_lock(&c->mu);
  int rc = twe__grpc_channel_call_blocking(c->channel, req);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* --- start ------------------------------------------------------------------- */

/* A random (version 4) UUID: StartWorkflowExecution's request_id, which
 * makes a retried start idempotent. */
void twe__client_uuid(char out[37]) {
  uint8_t b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = getrandom(b + got, sizeof b - got, 0);
    if (n > 0) {
      got += (size_t)n;
    } else if (n < 0 && errno != EINTR) {
      /* No entropy source: fall back on time and address bits; a request id
       * only needs to be unique, not secret. */
      uint64_t t = mono_ns() ^ (uint64_t)(uintptr_t)out;
      for (; got < sizeof b; got++) b[got] = (uint8_t)(t >> (8 * (got % 8))) ^ (uint8_t)rand();
    }
  }
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
}

int twe_client_start_workflow(twe_client_t *c, const char *type,
                              const twe_start_workflow_options_t *opts, const twe_payload_t *args,
                              size_t nargs, char *run_id, size_t run_id_len, char *err,
                              size_t err_len) {
  if (err && err_len) err[0] = '\0';
  if (run_id && run_id_len) run_id[0] = '\0';
  if (!c || !type || !*type || !opts || !opts->workflow_id || !*opts->workflow_id ||
      !opts->task_queue || !*opts->task_queue || (nargs && !args)) {
    twe__client_set_err(err, err_len,
            "start workflow: a client, a type, a workflow id and a task queue are required");
    return -EINVAL;
  }
  twe_arena_t arena;
  twe__arena_init(&arena, 0);
  int rc;
  twe_worker_t *eager = NULL;
  twe_slot_t permit = {0};
  Temporal__Api__Workflowservice__V1__StartWorkflowExecutionRequest r =
      TEMPORAL__API__WORKFLOWSERVICE__V1__START_WORKFLOW_EXECUTION_REQUEST__INIT;
  Temporal__Api__Common__V1__WorkflowType wt = TEMPORAL__API__COMMON__V1__WORKFLOW_TYPE__INIT;
  Temporal__Api__Taskqueue__V1__TaskQueue tq = TEMPORAL__API__TASKQUEUE__V1__TASK_QUEUE__INIT;
  char request_id[37];
  twe__client_uuid(request_id);
  wt.name = (char *)type;
  tq.name = (char *)opts->task_queue;
  tq.kind = TEMPORAL__API__ENUMS__V1__TASK_QUEUE_KIND__TASK_QUEUE_KIND_NORMAL;
  r.namespace_ = (char *)c->opts.namespace_name;
  r.workflow_id = (char *)opts->workflow_id;
  r.workflow_type = &wt;
  r.task_queue = &tq;
  r.identity = (char *)c->opts.identity;
  r.request_id = request_id;
  /* Arguments go out as given (encoding and bytes): checking them is the
   * receiving worker's job, and tests send malformed JSON on purpose. */
  if (nargs) {
    rc = twe__values_to_payloads(&arena, args, nargs, &r.input);
    if (rc < 0) {
      twe__client_set_err(err, err_len, "start workflow: an argument cannot be encoded (%s)",
              rc == -EINVAL ? "no encoding" : twe_strerror(rc));
      goto out;
    }
  }
  r.workflow_execution_timeout = twe__duration_pb(&arena, opts->execution_timeout_ns);
  r.workflow_run_timeout = twe__duration_pb(&arena, opts->run_timeout_ns);
  r.workflow_task_timeout = twe__duration_pb(&arena, opts->task_timeout_ns);
  if ((opts->execution_timeout_ns && !r.workflow_execution_timeout) ||
      (opts->run_timeout_ns && !r.workflow_run_timeout) ||
      (opts->task_timeout_ns && !r.workflow_task_timeout)) {
    rc = -ENOMEM;
    goto out;
  }
  if ((rc = twe__memo_pb(&arena, opts->memo, opts->memo_count, &r.memo)) < 0 ||
      (rc = twe__search_attributes_pb(&arena, opts->search_attributes,
                                      opts->search_attributes_count, &r.search_attributes)) < 0) {
    twe__client_set_err(err, err_len,
                        "start workflow: a memo field or search attribute is not valid (%s)",
                        twe_strerror(rc));
    goto out;
  }
  twe_grpc_request_t req = {
    .path = WS "StartWorkflowExecution",
    .request = &r.base,
    .response_type =
        &temporal__api__workflowservice__v1__start_workflow_execution_response__descriptor,
    .arena = &arena,
    .namespaced = true,
  };
  /* Eager start: a worker of this client polls the queue and has a slot
   * for the first task. The list stays held until the task is handed over
   * (or its slot given back), so the worker outlives the call. */
  if (opts->request_eager_start) {
    pthread_mutex_lock(&c->workers_mu);
    eager = eager_worker(c, opts->task_queue, &permit);
    if (!eager) pthread_mutex_unlock(&c->workers_mu);
    r.request_eager_execution = eager != NULL;
  }
  rc = twe__client_call(c, &req);
  if (rc < 0) {
    twe__client_set_err(err, err_len, "StartWorkflowExecution: %s", twe_strerror(rc));
    goto out;
  }
  if (req.status.code != TWE_GRPC_OK) {
    rc = twe__client_call_error(&req, "StartWorkflowExecution", err, err_len);
    goto out;
  }
  const Temporal__Api__Workflowservice__V1__StartWorkflowExecutionResponse *resp =
      (const void *)req.response;
  if (run_id && run_id_len) snprintf(run_id, run_id_len, "%s", resp->run_id ? resp->run_id : "");
  /* The server may not grant it (turned off, or the run already existed):
   * then the task goes through the queue as usual. */
  if (eager && resp->eager_workflow_task && resp->eager_workflow_task->task_token.len)
    twe__wf_eager_deliver(eager, &permit, &resp->eager_workflow_task->base);
  rc = 0;
out:
  if (eager) {
    twe__slot_release(&permit, TWE_SLOT_UNUSED); /* not handed over */
    pthread_mutex_unlock(&c->workers_mu);
  }
  twe__arena_destroy(&arena);
  return rc;
}

/* --- result -------------------------------------------------------------------- */

typedef Temporal__Api__History__V1__HistoryEvent event_pb_t;
#define CLOSE_EVENT(x) \
  TEMPORAL__API__HISTORY__V1__HISTORY_EVENT__ATTRIBUTES_WORKFLOW_EXECUTION_##x##_EVENT_ATTRIBUTES

/* The kind of a failure other SDKs name, from the top of the chain down: the
 * first application failure, or NULL. */
static const Temporal__Api__Failure__V1__ApplicationFailureInfo *first_application(
    const twe_failure_pb_t *f) {
  for (int depth = 0; f && depth < 64; f = f->cause, depth++)
    if (f->failure_info_case ==
            TEMPORAL__API__FAILURE__V1__FAILURE__FAILURE_INFO_APPLICATION_FAILURE_INFO &&
        f->application_failure_info)
      return f->application_failure_info;
  return NULL;
}

static int fill_error(twe_arena_t *arena, twe_error_info_t *e, const char *type,
                      const char *message) {
  memset(e, 0, sizeof *e);
  e->type = twe__str(arena, type);
  e->message = twe__str(arena, message);
  return e->type && e->message ? 0 : -ENOMEM;
}

/* Fills out from a close event (its memory in arena). Returns 0 for
 * COMPLETED, TWE_EWORKFLOW for the other closes, or -ENOMEM. */
static int read_close_event(twe_arena_t *arena, const event_pb_t *ev, twe_workflow_result_t *out,
                            const char *workflow_id, char *err, size_t err_len) {
  int rc;
  char msg[200];
  switch (ev->attributes_case) {
    case CLOSE_EVENT(COMPLETED): {
      const Temporal__Api__History__V1__WorkflowExecutionCompletedEventAttributes *a =
          ev->workflow_execution_completed_event_attributes;
      out->status = TWE_WORKFLOW_STATUS_COMPLETED;
      out->result = twe_payload_null();
      if (a && a->result && a->result->n_payloads) {
        rc = twe__value_from_payload(arena, a->result->payloads[0], &out->result);
        if (rc < 0) return rc;
        out->has_result = true;
      }
      return 0;
    }
    case CLOSE_EVENT(FAILED): {
      const Temporal__Api__History__V1__WorkflowExecutionFailedEventAttributes *a =
          ev->workflow_execution_failed_event_attributes;
      out->status = TWE_WORKFLOW_STATUS_FAILED;
      if (a && a->failure) {
        rc = twe__error_from_failure(arena, a->failure, &out->error);
        if (rc < 0) return rc;
        /* A workflow that failed because of an application error somewhere
         * down its chain (e.g. an activity's) is reported the way callers
         * of other SDKs see it: the workflow's own message, with the
         * application type that lets them tell errors apart. */
        const Temporal__Api__Failure__V1__ApplicationFailureInfo *app =
            first_application(a->failure);
        if (app) {
          if (a->failure->message && *a->failure->message)
            out->error.message = twe__str(arena, a->failure->message);
          out->error.type = twe__str(arena, app->type);
          out->error.non_retryable = app->non_retryable;
          if (!out->error.message || !out->error.type) return -ENOMEM;
        }
      } else {
        rc = fill_error(arena, &out->error, "Error", "workflow failed");
        if (rc < 0) return rc;
      }
      break;
    }
    case CLOSE_EVENT(TIMED_OUT):
      out->status = TWE_WORKFLOW_STATUS_TIMED_OUT;
      rc = fill_error(arena, &out->error, "TimeoutError", "workflow execution timed out");
      if (rc < 0) return rc;
      break;
    case CLOSE_EVENT(TERMINATED): {
      const Temporal__Api__History__V1__WorkflowExecutionTerminatedEventAttributes *a =
          ev->workflow_execution_terminated_event_attributes;
      out->status = TWE_WORKFLOW_STATUS_TERMINATED;
      rc = fill_error(arena, &out->error, "TerminatedError",
                      a && a->reason && *a->reason ? a->reason : "workflow execution terminated");
      if (rc < 0) return rc;
      break;
    }
    case CLOSE_EVENT(CANCELED):
      out->status = TWE_WORKFLOW_STATUS_CANCELED;
      rc = fill_error(arena, &out->error, "CanceledError", "workflow execution canceled");
      if (rc < 0) return rc;
      break;
    case CLOSE_EVENT(CONTINUED_AS_NEW): {
      const Temporal__Api__History__V1__WorkflowExecutionContinuedAsNewEventAttributes *a =
          ev->workflow_execution_continued_as_new_event_attributes;
      out->status = TWE_WORKFLOW_STATUS_CONTINUED_AS_NEW;
      snprintf(msg, sizeof msg, "workflow continued as new (run %s)",
               a && a->new_execution_run_id ? a->new_execution_run_id : "?");
      rc = fill_error(arena, &out->error, "ContinuedAsNewError", msg);
      if (rc < 0) return rc;
      break;
    }
    default:
      twe__client_set_err(err, err_len, "workflow %s: the history's close event has unexpected type %d",
              workflow_id, (int)ev->event_type);
      return TWE_EPROTOCOL;
  }
  twe__client_set_err(err, err_len, "workflow %s %s: %s%s%s", workflow_id,
                      twe_workflow_status_name(out->status),
          out->error.type ? out->error.type : "", out->error.type ? ": " : "",
          out->error.message ? out->error.message : "");
  return TWE_EWORKFLOW;
}

int twe_client_workflow_result(twe_client_t *c, const char *workflow_id, const char *run_id,
                               uint64_t timeout_ns, twe_workflow_result_t *out, char *err,
                               size_t err_len) {
  if (err && err_len) err[0] = '\0';
  if (!out) return -EINVAL;
  memset(out, 0, sizeof *out);
  if (!c || !workflow_id || !*workflow_id) {
    twe__client_set_err(err, err_len, "workflow result: a client and a workflow id are required");
    return -EINVAL;
  }
  /* Two arenas in turn: a call's request points at the page token of the
   * previous response, which must live until the call has encoded it. */
  twe_arena_t *arenas[2] = {malloc(sizeof(twe_arena_t)), malloc(sizeof(twe_arena_t))};
  if (!arenas[0] || !arenas[1]) {
    free(arenas[0]);
    free(arenas[1]);
    return -ENOMEM;
  }
  twe__arena_init(arenas[0], 0);
  twe__arena_init(arenas[1], 0);
  uint64_t start = mono_ns();
  uint64_t deadline = timeout_ns ? start + timeout_ns : UINT64_MAX;
  ProtobufCBinaryData token = {0, NULL};
  int turn = 0, rc;
  /* The run being waited on: "" (the latest), the caller's, or the next of
   * a continue-as-new chain. */
  char current[64];
  snprintf(current, sizeof current, "%s", run_id ? run_id : "");
  for (;;) {
    uint64_t now = mono_ns();
    if (now >= deadline) {
      twe__client_set_err(err, err_len, "workflow %s did not close within %.1f s", workflow_id,
              (double)timeout_ns / 1e9);
      rc = -ETIMEDOUT;
      break;
    }
    uint64_t per_call = deadline - now < RESULT_POLL_NS ? deadline - now : RESULT_POLL_NS;
    twe_arena_t *arena = arenas[turn];
    twe__arena_reset(arena);
    Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryRequest r =
        TEMPORAL__API__WORKFLOWSERVICE__V1__GET_WORKFLOW_EXECUTION_HISTORY_REQUEST__INIT;
    Temporal__Api__Common__V1__WorkflowExecution ex =
        TEMPORAL__API__COMMON__V1__WORKFLOW_EXECUTION__INIT;
    ex.workflow_id = (char *)workflow_id;
    ex.run_id = current;
    r.namespace_ = (char *)c->opts.namespace_name;
    r.execution = &ex;
    r.next_page_token = token;
    r.wait_new_event = true;
    r.history_event_filter_type =
        TEMPORAL__API__ENUMS__V1__HISTORY_EVENT_FILTER_TYPE__HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT;
    r.skip_archival = true;
    twe_grpc_request_t req = {
      .path = WS "GetWorkflowExecutionHistory",
      .request = &r.base,
      .response_type =
          &temporal__api__workflowservice__v1__get_workflow_execution_history_response__descriptor,
      .arena = arena,
      .timeout_ns = per_call,
      .namespaced = true,
    };
    rc = twe__client_call(c, &req);
    if (rc < 0) {
      twe__client_set_err(err, err_len, "GetWorkflowExecutionHistory: %s", twe_strerror(rc));
      break;
    }
    /* The previous response (and its token) may go now. */
    twe__arena_reset(arenas[1 - turn]);
    token = (ProtobufCBinaryData){0, NULL};
    /* The loop checks the time. A server that reached the call's
     * grpc-timeout resets the stream (CANCEL) a moment before our own
     * deadline: that is the same end of the same wait. */
    if (req.status.code == TWE_GRPC_DEADLINE_EXCEEDED ||
        (req.status.code == TWE_GRPC_CANCELLED && mono_ns() + 250000000ull >= now + per_call))
      continue;
    /* A server shedding load (a namespace rate limit) is asked again a
     * little later, within the caller's time. */
    if (req.status.code == TWE_GRPC_RESOURCE_EXHAUSTED || req.status.code == TWE_GRPC_UNAVAILABLE) {
      uint64_t left = deadline - mono_ns();
      uint64_t pause = left < 500000000ull ? left : 500000000ull;
      nanosleep(&(struct timespec){0, (long)pause}, NULL);
      continue;
    }
    if (req.status.code != TWE_GRPC_OK) {
      rc = twe__client_call_error(&req, "GetWorkflowExecutionHistory", err, err_len);
      break;
    }
    const Temporal__Api__Workflowservice__V1__GetWorkflowExecutionHistoryResponse *resp =
        (const void *)req.response;
    const event_pb_t *close_ev = NULL;
    if (resp->history && resp->history->n_events)
      close_ev = resp->history->events[resp->history->n_events - 1];
    if (close_ev && !run_id &&
        close_ev->attributes_case == CLOSE_EVENT(CONTINUED_AS_NEW) &&
        close_ev->workflow_execution_continued_as_new_event_attributes &&
        close_ev->workflow_execution_continued_as_new_event_attributes->new_execution_run_id &&
        *close_ev->workflow_execution_continued_as_new_event_attributes->new_execution_run_id) {
      /* Follow the chain: wait on the run it continued as. */
      snprintf(current, sizeof current, "%s",
               close_ev->workflow_execution_continued_as_new_event_attributes
                   ->new_execution_run_id);
      turn = 1 - turn;
      continue;
    }
    if (close_ev) {
      rc = read_close_event(arena, close_ev, out, workflow_id, err, err_len);
      if ((rc == 0 || rc == TWE_EWORKFLOW) && resp->history)
        snprintf(out->run_id, sizeof out->run_id, "%s", current);
      if (rc == 0 || rc == TWE_EWORKFLOW) {
        out->internal_ = arena; /* the result's memory */
        arenas[turn] = NULL;
      } else {
        memset(out, 0, sizeof *out);
        if (rc == -ENOMEM || rc == TWE_ELIMIT)
          twe__client_set_err(err, err_len, "workflow result: %s", twe_strerror(rc));
      }
      break;
    }
    /* No close yet: the server hands back a token to continue waiting. */
    token = resp->next_page_token;
    turn = 1 - turn;
  }
  for (int i = 0; i < 2; i++) {
    if (!arenas[i]) continue;
    twe__arena_destroy(arenas[i]);
    free(arenas[i]);
  }
  return rc;
}

const char *twe_workflow_status_name(twe_workflow_status_t status) {
  static const char *const names[] = {"UNKNOWN",    "RUNNING",          "COMPLETED",
                                      "FAILED",     "CANCELED",         "TERMINATED",
                                      "CONTINUED_AS_NEW", "TIMED_OUT"};
  return (unsigned)status < sizeof names / sizeof names[0] ? names[status] : "UNKNOWN";
}

void twe_workflow_result_free(twe_workflow_result_t *r) {
  if (!r) return;
  twe_arena_t *arena = r->internal_;
  if (arena) {
    twe__arena_destroy(arena);
    free(arena);
  }
  memset(r, 0, sizeof *r);
}
