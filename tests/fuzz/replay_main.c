/* tests/fuzz/replay_main.c — runs a libFuzzer target without libFuzzer:
 * over the files named on the command line, then over pseudo-random inputs
 * (half of them mutations of well-formed seeds), so ctest exercises the
 * target on every build. Real fuzzing: scripts/fuzz (clang, libFuzzer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Well-formed starting points, from the target (twe_fuzz_seeds), which a
 * target may build at start (twe_fuzz_init, when it has one). */
extern const uint8_t *twe_fuzz_seeds[];
extern size_t twe_fuzz_seed_lens[];
extern const size_t twe_fuzz_n_seeds;
void twe_fuzz_init(void) __attribute__((weak));

int main(int argc, char **argv) {
  if (twe_fuzz_init) twe_fuzz_init();
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) continue;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
  }
  srand(12345);
  uint8_t input[1024];
  const int rounds = 20000;
  for (int round = 0; round < rounds; round++) {
    size_t n;
    if (round % 2) {
      size_t s = (size_t)round % twe_fuzz_n_seeds;
      n = twe_fuzz_seed_lens[s] < sizeof input ? twe_fuzz_seed_lens[s] : sizeof input;
      memcpy(input, twe_fuzz_seeds[s], n);
      for (int k = 0; k < 1 + rand() % 4; k++) input[1 + (size_t)rand() % (n - 1)] = (uint8_t)rand();
    } else {
      n = (size_t)(rand() % (int)sizeof input);
      for (size_t i = 0; i < n; i++) input[i] = (uint8_t)rand();
    }
    LLVMFuzzerTestOneInput(input, n);
  }
  printf("replayed %d random inputs and %d file(s)\n", rounds, argc - 1);
  return 0;
}
