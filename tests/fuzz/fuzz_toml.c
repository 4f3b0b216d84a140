/* tests/fuzz/fuzz_toml.c — fuzz target for the temporal.toml reader
 * (io/toml.c): any bytes either parse into entries whose paths and strings
 * are well-formed, or fail with TWE_ECONFIG and a message naming a line;
 * nothing is read past the input and nothing leaks (under ASan). Built as a
 * libFuzzer target with clang (scripts/fuzz), and replayed over mutated
 * seeds under ctest (tests/fuzz/replay_main.c). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/toml.h"
#include "twe/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char seed_profiles[] =
    "# profiles\n[profile.default]\naddress = \"localhost:7233\"\nnamespace = 'default'\n"
    "[profile.prod]\naddress = \"x.tmprl.cloud:7233\" # cloud\napi_key = \"k\\u00e9y\"\n"
    "[profile.prod.tls]\ndisabled = false\nclient_cert_data = \"\"\"\n-----BEGIN-----\nAB\\\n"
    "  CD\n\"\"\"\nn = -1_000\n";
static const char seed_literal[] = "[\"quoted key\".b]\nx.y = '''\nraw\\n'''\nz = true\n";
const uint8_t *twe_fuzz_seeds[] = {(const uint8_t *)seed_profiles,
                                         (const uint8_t *)seed_literal};
size_t twe_fuzz_seed_lens[] = {sizeof seed_profiles - 1, sizeof seed_literal - 1};
const size_t twe_fuzz_n_seeds = 2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  twe_toml_t t;
  char err[256];
  int rc = twe__toml_parse((const char *)data, size, &t, err, sizeof err);
  if (rc == 0) {
    for (size_t i = 0; i < t.n; i++) {
      const twe_toml_entry_t *e = &t.entries[i];
      if (!e->path || !*e->path || e->line < 1) __builtin_trap();
      if (e->type == TWE_TOML_STRING && !e->string) __builtin_trap();
      if (twe__toml_get(&t, e->path) != e) __builtin_trap(); /* keys are unique */
    }
    twe__toml_free(&t);
  } else if (rc == TWE_ECONFIG) {
    if (strncmp(err, "line ", 5) != 0 || t.n != 0) __builtin_trap();
  } else if (rc != -ENOMEM) {
    __builtin_trap();
  }
  return 0;
}
