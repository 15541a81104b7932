#!/usr/bin/env bash
# Every test: install dependencies, check formatting, build the default,
# sanitizer (ASan+UBSan) and fuzzing (clang/libFuzzer) configurations, and
# run the whole suite under each. The last lines are CTest's summary of the
# default build.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash packaging/dev/install-deps.sh --test

echo "== clang-format"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find core plugins sdk tests -name '*.[ch]')
clang-format --dry-run -Werror $files

for preset in fuzz asan default; do
  echo "== build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j"$jobs"
done

echo "== tests: fuzz (libFuzzer runs and corpus replays, clang ASan)"
ctest --test-dir build/fuzz -L fuzz --output-on-failure -j"$jobs"
echo "== tests: asan (ASan+UBSan, gcc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"
echo "== packages: build, install with dpkg, smoke test the installed files"
bash packaging/dev/package-test.sh
echo "== tests: default"
ctest --test-dir build/default --output-on-failure -j"$jobs"
