/* twe/common.h — what every public header shares: the export macro and the
 * library version.
 *
 * Thread: everything declared here may be called from any thread. */
#ifndef TWE_COMMON_H
#define TWE_COMMON_H

/* The library is built with hidden visibility; only TWE_EXPORT symbols are
 * part of the ABI of libtwe.so. */
#if defined(TWE_BUILDING_LIBRARY) && defined(__GNUC__)
#define TWE_EXPORT __attribute__((visibility("default")))
#else
#define TWE_EXPORT
#endif

#define TWE_VERSION_MAJOR 0
#define TWE_VERSION_MINOR 1
#define TWE_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library actually linked, "MAJOR.MINOR.PATCH".
 * Returns a static string. */
TWE_EXPORT const char *twe_version(void);

#ifdef __cplusplus
}
#endif

#endif /* TWE_COMMON_H */
