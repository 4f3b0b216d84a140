/* io/tcp.h — TCP client connections on a reactor: name resolution off the
 * shard thread, and a connect with a timeout that tries the resolved
 * addresses (IPv4 and IPv6) in order.
 *
 * getaddrinfo() blocks (DNS, /etc/hosts, NSS modules), so a resolver runs it
 * on a helper thread and hands the result back to the reactor's thread
 * through a wake handle and a small queue. The connector then makes one
 * non-blocking attempt per address, each bounded by a reactor timer that
 * cancels it, sets TCP_NODELAY (gRPC frames are small and latency-bound),
 * and delivers a connected fd, or the first error with a line saying which
 * address failed and why.
 *
 * Same rules as io/reactor.h: callbacks run from the reactor's loop, never
 * inside the call that started the work; a call that returns < 0 never calls
 * back; one that returns >= 0 calls back exactly once.
 *
 * Thread: everything here is owner-thread only (the thread of the reactor
 * passed in), except twe__addr_format (any thread).
 */
#ifndef TWE_IO_TCP_H
#define TWE_IO_TCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "io/reactor.h"

/* --- addresses ----------------------------------------------------------- */

/* One socket address (IPv4 or IPv6) with its length. */
typedef struct twe_addr {
  struct sockaddr_storage ss;
  socklen_t len;
} twe_addr_t;

/* Enough for "[ffff:...:255.255.255.255%interface]:65535". */
#define TWE_ADDR_STRLEN 96

/* Writes "127.0.0.1:7233" or "[::1]:7233" into buf (len >= TWE_ADDR_STRLEN
 * never truncates) and returns buf. Thread: any. */
const char *twe__addr_format(const twe_addr_t *addr, char *buf, size_t len);

/* Splits "host:port" or "[v6]:port" (the port is required): *host is
 * malloc'd, without the brackets. Returns 0, or -1 for anything else.
 * Thread: any. */
int twe__tcp_split_address(const char *address, char **host, uint16_t *port);

/* --- resolution ---------------------------------------------------------- */

typedef struct twe_resolver twe_resolver_t;
typedef struct twe_resolve_req twe_resolve_req_t;

/* status 0: addrs[0..n) (n >= 1) in getaddrinfo's order of preference.
 * Otherwise: TWE_ENOHOST (the name does not exist), TWE_ERESOLVE (the
 * resolver failed or timed out; may work later), -ENOMEM, -ECANCELED, or
 * another negative errno; addrs NULL and n 0. detail: getaddrinfo's own
 * words ("Name or service not known"), "" on success. addrs and detail are
 * the resolver's, valid during the callback only. */
typedef void (*twe_resolve_cb)(void *data, int status, const twe_addr_t *addrs, size_t n,
                               const char *detail);

/* Creates a resolver delivering to reactor r, with its helper thread
 * ("twe-resolve", blocking every signal); requests run one at a time, in
 * order. One per shard is the intent. Returns 0, -ENOMEM, or
 * pthread_create's error. Thread: r's owner. */
int twe__resolver_create(twe_reactor_t *r, twe_resolver_t **out);

/* Stops the resolver: requests not yet reported call back with -ECANCELED
 * before this returns. A getaddrinfo() in progress is abandoned; the helper
 * thread then exits on its own. Call it before destroying the reactor.
 * NULL is a no-op. Thread: r's owner. */
void twe__resolver_destroy(twe_resolver_t *res);

/* Resolves host (a name or a numeric IPv4/IPv6 address; "[::1]" brackets
 * are accepted) for TCP port `port`. host is copied. *req_out (optional)
 * identifies the request for twe__resolver_cancel until cb runs.
 * Returns 0, -EINVAL (empty or over-long host, NULL cb), -ENOMEM.
 * Thread: r's owner. */
int twe__resolver_resolve(twe_resolver_t *res, const char *host, uint16_t port,
                          twe_resolve_cb cb, void *data, twe_resolve_req_t **req_out);

/* Makes req call back with -ECANCELED (in a later iteration, without waiting
 * for a getaddrinfo() in progress). Only before its callback has run.
 * Thread: r's owner. */
void twe__resolver_cancel(twe_resolve_req_t *req);

/* --- connecting -------------------------------------------------------- */

typedef struct twe_tcp_connect twe_tcp_connect_t;

/* status 0: fd is a connected TCP socket with TCP_NODELAY, and it is now
 * the callee's (hand it to twe__sock_init, which sets the O_NONBLOCK mode
 * its backend needs, or close it). Otherwise fd is -1
 * and status is the first attempt's error: -ECONNREFUSED, -ETIMEDOUT (an
 * attempt or the resolution outlived timeout_ns), -ENETUNREACH,
 * TWE_ENOHOST, TWE_ERESOLVE, -ECANCELED, ... detail says, per address, what
 * failed and why ("127.0.0.1:1: connect: Connection refused; [::1]:1: ...");
 * it is "" when the first address connected, and is valid during the
 * callback only. */
typedef void (*twe_tcp_connect_cb)(void *data, int status, int fd, const char *detail);

/* Connects to the first of addrs[0..n) (copied) that accepts, in order;
 * each attempt may take timeout_ns (0: no limit but the kernel's).
 * *out (optional) identifies the connect for twe__tcp_connect_cancel until
 * cb runs. Returns 0, -EINVAL (n 0, NULL cb), -ENOMEM. Thread: r's owner. */
int twe__tcp_connect_addrs(twe_reactor_t *r, const twe_addr_t *addrs, size_t n,
                           uint64_t timeout_ns, twe_tcp_connect_cb cb, void *data,
                           twe_tcp_connect_t **out);

/* Resolves host with res, then connects as twe__tcp_connect_addrs; the
 * resolution and each attempt may each take timeout_ns. Returns as
 * twe__resolver_resolve. Thread: r's owner. */
int twe__tcp_connect_host(twe_reactor_t *r, twe_resolver_t *res, const char *host, uint16_t port,
                          uint64_t timeout_ns, twe_tcp_connect_cb cb, void *data,
                          twe_tcp_connect_t **out);

/* Stops a connect: cb reports -ECANCELED (in a later iteration). Only before
 * cb has run. Thread: r's owner. */
void twe__tcp_connect_cancel(twe_tcp_connect_t *c);

#endif /* TWE_IO_TCP_H */
