/* proto/registry.h — find a generated message type by its full protobuf name.
 *
 * gRPC error details, update requests and protocol messages arrive as
 * google.protobuf.Any: a type URL ("type.googleapis.com/temporal.api.
 * errordetails.v1.NotFoundFailure") and bytes. The registry maps the name to
 * the protobuf-c descriptor generated for it, covering every message of the
 * Temporal API and its imports (the table is generated at build time).
 *
 * Thread: any thread. The index is built once, on first use (pthread_once). */
#ifndef TWE_PROTO_REGISTRY_H
#define TWE_PROTO_REGISTRY_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "google/protobuf/any.pb-c.h"
#include "proto/arena.h"

/* The descriptor of the message named by the first len bytes of full_name
 * (e.g. "temporal.api.common.v1.Payload"), or NULL if there is none. */
const ProtobufCMessageDescriptor *twe__proto_descriptor_by_name(const char *full_name, size_t len);

/* The message name inside an Any type URL: what follows its last '/'
 * (the whole URL when it has none). Points into type_url; sets *len. */
const char *twe__proto_any_type_name(const char *type_url, size_t *len);

/* Decodes an Any into arena. Returns 0 and sets *out and *desc_out, or
 *   TWE_EENCODING when the type is not in the registry (then *desc_out is NULL),
 *   TWE_EDECODE / TWE_ELIMIT / -ENOMEM as for twe__proto_decode. */
int twe__proto_any_unpack(const Google__Protobuf__Any *any, twe_arena_t *arena,
                          ProtobufCMessage **out, const ProtobufCMessageDescriptor **desc_out);

#endif /* TWE_PROTO_REGISTRY_H */
