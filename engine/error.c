/* engine/error.c — descriptions and names for the error table in
 * include/twe/error.h. */
#define _GNU_SOURCE /* strerrordesc_np, strerrorname_np: static strings, thread-safe */
#include <string.h>

#include "twe/error.h"

struct twe_error_entry {
  int code;
  const char *name;
  const char *description;
};

static const struct twe_error_entry twe_errors[] = {
  {TWE_EDECODE, "TWE_EDECODE", "malformed protobuf message"},
  {TWE_ELIMIT, "TWE_ELIMIT", "size limit exceeded"},
  {TWE_EENCODING, "TWE_EENCODING", "payload encoding missing, unknown or not the one expected"},
  {TWE_EJSON, "TWE_EJSON", "payload is not valid JSON"},
  {TWE_EENCODE, "TWE_EENCODE", "message could not be encoded"},
  {TWE_EPROTOCOL, "TWE_EPROTOCOL", "peer violated the HTTP/2 or gRPC protocol"},
  {TWE_ETLS, "TWE_ETLS", "TLS handshake or protocol failure"},
  {TWE_ECONFIG, "TWE_ECONFIG", "invalid configuration option or file"},
  {TWE_ENOHOST, "TWE_ENOHOST", "host name not found"},
  {TWE_ERESOLVE, "TWE_ERESOLVE", "name resolution failed"},
  {TWE_EFAILED, "TWE_EFAILED", "the awaited operation failed"},
  {TWE_ENOTREGISTERED, "TWE_ENOTREGISTERED", "type not registered"},
  {TWE_ENONDETERMINISM, "TWE_ENONDETERMINISM", "workflow code does not match its history"},
  {TWE_ECANCELED_ACTIVITY, "TWE_ECANCELED_ACTIVITY", "activity cancelled"},
  {TWE_EWORKFLOW, "TWE_EWORKFLOW", "workflow did not complete"},
  {TWE_EPREEMPTED, "TWE_EPREEMPTED", "workflow task preempted by the watchdog"},
  {TWE_ESTUCK, "TWE_ESTUCK", "a worker thread is stuck in workflow code"},
};

static const struct twe_error_entry *find_entry(int err) {
  for (size_t i = 0; i < sizeof twe_errors / sizeof twe_errors[0]; i++)
    if (twe_errors[i].code == err) return &twe_errors[i];
  return NULL;
}

TWE_EXPORT const char *twe_strerror(int err) {
  const struct twe_error_entry *e = find_entry(err);
  if (e) return e->description;
  if (err < 0 && err > -TWE_ERRNO_BASE) {
    const char *d = strerrordesc_np(-err);
    if (d) return d;
  }
  return "unknown error";
}

TWE_EXPORT const char *twe_err_name(int err) {
  const struct twe_error_entry *e = find_entry(err);
  if (e) return e->name;
  if (err < 0 && err > -TWE_ERRNO_BASE) {
    const char *n = strerrorname_np(-err);
    if (n) return n;
  }
  return "EUNKNOWN";
}
