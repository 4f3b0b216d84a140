/* io/toml.h — a reader for the part of TOML that Temporal's client
 * configuration file (temporal.toml, the profiles the Temporal CLI and the
 * SDKs share) uses: comments, [table.headers] of bare or quoted keys, and
 * key = value lines whose value is a string (basic "...", literal '...',
 * multi-line """...""" and '''...'''), a boolean or an integer. Arrays,
 * inline tables, floats and dates are refused with a message naming the
 * line. No C TOML library is packaged in Debian; this is the small subset
 * the file needs (README, "Configuration"), fuzzed (tests/fuzz/fuzz_toml.c).
 *
 * The result is a flat list of entries with dotted paths
 * ("profile.prod.tls.client_cert_path"), in file order.
 *
 * Thread: any (no state). */
#ifndef TWE_IO_TOML_H
#define TWE_IO_TOML_H
#include <stdbool.h>
#include <stddef.h>

typedef enum twe_toml_type { TWE_TOML_STRING, TWE_TOML_BOOL, TWE_TOML_INT } twe_toml_type_t;

typedef struct twe_toml_entry {
  char *path;  /* the table's path and the key, dot-joined (keys unquoted) */
  twe_toml_type_t type;
  char *string; /* STRING: the value, escapes resolved */
  bool boolean;
  long long integer;
  int line;
} twe_toml_entry_t;

typedef struct twe_toml {
  twe_toml_entry_t *entries;
  size_t n;
} twe_toml_t;

/* Parses len bytes of text into *out. Returns 0, or TWE_ECONFIG with
 * "line N: what" in err (err_len bytes), or -ENOMEM. *out is empty on
 * failure. */
int twe__toml_parse(const char *text, size_t len, twe_toml_t *out, char *err, size_t err_len);
/* The entry at path, or NULL. */
const twe_toml_entry_t *twe__toml_get(const twe_toml_t *t, const char *path);
void twe__toml_free(twe_toml_t *t);

#endif /* TWE_IO_TOML_H */
