#!/usr/bin/env bash
# Set up a Debian 12 machine for gradlab, build it, and run the main job or the test suite.
#   ./run.sh         install what is missing, build (Release), run the main job
#   ./run.sh test    the same set-up, then the whole test suite through ctest
#   ./run.sh sanitize  the same set-up, then the suite built with AddressSanitizer,
#                    UndefinedBehaviorSanitizer and LeakSanitizer (in build-sanitize/), and
#                    the threads test under ThreadSanitizer (in build-tsan/)
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  sed -n '2,7s/^# \{0,1\}//p' "$0"
}

job=${1:-main}
case "$job" in
  main | test | sanitize) ;;
  -h | --help) usage; exit 0 ;;
  *) echo "run.sh: unknown job '$job' (try ./run.sh --help)" >&2; exit 2 ;;
esac

# Debian packages the build needs; apt-get runs only when one is absent. pkg-config finds
# Graphviz's libraries; the diagrams are drawn in DejaVu Sans; the command line reads and
# writes JSON with nlohmann-json.
packages=(g++ cmake make pkg-config libboost-test-dev libgraphviz-dev libopenblas-dev
  fonts-dejavu-core nlohmann-json3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "run.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
if [ "$job" = sanitize ]; then
  # Any finding fails the run: UBSan stops at the first report instead of going on.
  flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
  cmake --build build-sanitize -j"$jobs"
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir build-sanitize --output-on-failure -j"$jobs"
  # ThreadSanitizer cannot share a build with AddressSanitizer: the threads test alone, in
  # its own build. OpenBLAS's own threads are not instrumented, so it runs single-threaded.
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS=-fsanitize=thread \
    -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread
  cmake --build build-tsan -j"$jobs" --target test_reliability
  OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1" \
    ./build-tsan/tests/test_reliability --run_test=two_threads_train_at_once_as_one_would
  exit
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"

if [ "$job" = main ]; then
  ./build/seed_network_demo
  cmake --build build --target docs
else
  ctest --test-dir build --output-on-failure -j"$jobs"
fi
