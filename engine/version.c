/* engine/version.c — the version of the linked library.
 *
 * CMake passes project(VERSION) as TWE_VERSION_STRING; the TWE_VERSION_*
 * macros in include/twe/common.h must agree (tests/engine/test_version.c). */
#include "twe/common.h"

TWE_EXPORT const char *twe_version(void) {
  return TWE_VERSION_STRING;
}
