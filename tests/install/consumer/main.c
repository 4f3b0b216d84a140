/* Uses only the public API: prints the version and one error description. */
#include <stdio.h>

#include <twe/twe.h>

int main(void) {
  printf("twe %s: %s\n", twe_version(), twe_strerror(TWE_EDECODE));
  return 0;
}
