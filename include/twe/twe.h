/* twe/twe.h — the public C API of twe, a Temporal worker engine.
 *
 * Include this one header. Each part says which thread may call what. */
#ifndef TWE_TWE_H
#define TWE_TWE_H

#include "twe/common.h"
#include "twe/connection.h"
#include "twe/error.h"
#include "twe/value.h"
#include "twe/workflow.h"
#include "twe/activity.h"
#include "twe/client.h"
#include "twe/worker.h"

#endif /* TWE_TWE_H */
