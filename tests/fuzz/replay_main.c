/* tests/fuzz/replay_main.c — runs a libFuzzer target without libFuzzer:
 * over the files named on the command line, then over pseudo-random inputs
 * (half of them mutations of well-formed seeds), so ctest exercises the
 * target on every build. Real fuzzing: scripts/fuzz (clang, libFuzzer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Well-formed starting points for each part of the target. */
static const uint8_t seed_frame[] = {0, 0, 0, 0, 0, 3, 'a', 'b', 'c'};
static const uint8_t seed_trailers[] = {1, '2', 0, 'a', 'p', 'p', 'l', 'i', 'c', 'a', 't', 'i', 'o',
                                        'n', '/', 'g', 'r', 'p', 'c', 0, '5', 0, 'n', 'o', '%', '2',
                                        '0', 0, 'C', 'A', 'U', 'S', 'x'};
static const uint8_t seed_http2[] = {2, 0, 0, 5, 1, 4, 0, 0, 0, 1, 0x88, 0x40, 0x01, 'x', 0x00};

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) continue;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
  }
  const uint8_t *seeds[] = {seed_frame, seed_trailers, seed_http2};
  const size_t seed_len[] = {sizeof seed_frame, sizeof seed_trailers, sizeof seed_http2};
  srand(12345);
  uint8_t input[512];
  const int rounds = 20000;
  for (int round = 0; round < rounds; round++) {
    size_t n;
    if (round % 2) {
      int s = round % 3;
      n = seed_len[s];
      memcpy(input, seeds[s], n);
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
