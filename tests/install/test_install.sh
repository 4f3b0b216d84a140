#!/usr/bin/env bash
# tests/install/test_install.sh BUILD_DIR — install the build into a
# temporary prefix and use it from outside, as an embedder would: through the
# CMake package (shared and static), and through pkg-config. Also checks that
# libtwe.so exports the public API and hides internals (twe__*).
set -euo pipefail
build=${1:?usage: test_install.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
lib=$(ls -d "$tmp"/prefix/lib*/ | head -1)

expected="twe 0.1.0: malformed protobuf message"
cmake -S "$here/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
[ "$("$tmp/consumer/consumer_shared")" = "$expected" ] || fail "consumer_shared printed the wrong line"
[ "$("$tmp/consumer/consumer_static")" = "$expected" ] || fail "consumer_static printed the wrong line"
echo "ok: find_package(twe) shared and static"

export PKG_CONFIG_PATH="$lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -o "$tmp/pc" "$here/consumer/main.c" $(pkg-config --cflags --libs twe) -Wl,-rpath,"$lib"
[ "$("$tmp/pc")" = "$expected" ] || fail "pkg-config consumer printed the wrong line"
echo "ok: pkg-config twe"

exports=$(nm -D --defined-only "$lib/libtwe.so" | awk '{print $3}')
grep -qx twe_version <<<"$exports" || fail "twe_version is not exported"
grep -qx twe_strerror <<<"$exports" || fail "twe_strerror is not exported"
if grep -q '^twe__' <<<"$exports"; then fail "internal symbols exported: $(grep '^twe__' <<<"$exports" | head -3)"; fi
if grep -q '^temporal__api' <<<"$exports"; then fail "generated protobuf symbols exported"; fi
echo "ok: libtwe.so exports $(wc -l <<<"$exports") symbols, no internals"
