#!/usr/bin/env bash
# Set up a Debian 12 machine for gradlab, build it, and run the main job or the test suite.
#   ./run.sh         install what is missing, build (Release), run the main job: the
#                    tutorials in order, writing their diagrams into docs/diagrams/
#   ./run.sh test    the same set-up, then the whole test suite through ctest
#   ./run.sh sanitize  the same set-up, then the suite built with AddressSanitizer,
#                    UndefinedBehaviorSanitizer and LeakSanitizer (in build-sanitize/), and
#                    the threads test under ThreadSanitizer (in build-tsan/)
#   ./run.sh fuzz    also installs clang and libFuzzer, builds the command line's fuzzers
#                    with clang (in build-fuzz/) and replays fuzz/corpus/ through them once
#   ./run.sh fuzz --long N [expr|json]  the same build, then N executions of each fuzzer
#                    (both at once), or of the one named, starting from a scratch copy of
#                    fuzz/corpus/ in build-fuzz/corpus/
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  sed -n '2,13s/^# \{0,1\}//p' "$0"
}

job=${1:-main}
case "$job" in
  main | test | sanitize) ;;
  fuzz)
    long=0
    fuzzers=(expr json)
    if [ "${2:-}" = --long ]; then
      long=${3:-}
      [[ "$long" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: fuzz --long needs a number of executions" >&2; exit 2; }
      case "${4:-}" in
        "") ;;
        expr | json) fuzzers=("$4") ;;
        *) echo "run.sh: unknown fuzzer '$4' (expr or json)" >&2; exit 2 ;;
      esac
    elif [ -n "${2:-}" ]; then
      echo "run.sh: unknown option '$2' for fuzz (try ./run.sh --help)" >&2; exit 2
    fi ;;
  -h | --help) usage; exit 0 ;;
  *) echo "run.sh: unknown job '$job' (try ./run.sh --help)" >&2; exit 2 ;;
esac

# Debian packages the build needs; apt-get runs only when one is absent. pkg-config finds
# Graphviz's libraries; the diagrams are drawn in DejaVu Sans; the command line reads and
# writes JSON with nlohmann-json; the digits tutorial reads the 8×8 digits that
# python3-sklearn ships, gzipped (zlib).
packages=(g++ cmake make pkg-config libboost-test-dev libgraphviz-dev libopenblas-dev
  fonts-dejavu-core nlohmann-json3-dev zlib1g-dev python3-sklearn)
# The fuzzers need clang (Debian 12's is clang 14) and its libFuzzer runtime.
[ "$job" = fuzz ] && packages+=(clang libclang-rt-14-dev)
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
# The builds are CMakePresets.json's (fuzz/CMakePresets.json for the fuzzers).
if [ "$job" = sanitize ]; then
  # Any finding fails the run: UBSan stops at the first report instead of going on.
  cmake --preset sanitize
  cmake --build --preset sanitize -j"$jobs"
  LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --test-dir build-sanitize --output-on-failure -j"$jobs"
  # ThreadSanitizer cannot share a build with AddressSanitizer: the tests of threads alone, in
  # their own build (two graphs trained at once; two differentiated at once through a shared
  # parameter; two adding into one parameter's grad; two back-propagating one graph; a graph,
  # its nodes and their memory passed between threads). OpenBLAS's own
  # threads are not instrumented, so it runs single-threaded.
  cmake --preset tsan
  cmake --build --preset tsan -j"$jobs" --target test_reliability
  OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1" \
    ./build-tsan/tests/test_reliability \
      --run_test=two_threads_train_at_once_as_one_would,two_threads_differentiate_graphs_that_share_a_parameter,two_threads_accumulate_into_one_parameter,two_threads_back_propagating_one_graph_work_or_refuse,a_graph_built_in_one_thread_is_freed_in_another
  exit
fi

if [ "$job" = fuzz ]; then
  # fuzz/ is a CMake project of its own: libFuzzer needs clang, the rest of gradlab is g++'s.
  (cd fuzz && cmake --preset fuzz && cmake --build --preset fuzz -j"$jobs")
  export OPENBLAS_NUM_THREADS=1  # the inputs are small; threads only slow each execution down
  # Inputs are capped so that each execution stays small; one taking over 10 s is a hang.
  expr_flags=(-dict=fuzz/expr.dict -max_len=512 -timeout=10)
  json_flags=(-dict=fuzz/json.dict -max_len=1024 -timeout=10)
  if [ "$long" -eq 0 ]; then  # the replay: every file of the corpus once, no mutation
    ./build-fuzz/expr_fuzzer "${expr_flags[@]}" -runs=0 fuzz/corpus/expr
    ./build-fuzz/json_fuzzer "${json_flags[@]}" -runs=0 fuzz/corpus/json
    exit
  fi
  # The long run grows a scratch copy of the corpus, never the committed one; a finding is
  # written to build-fuzz/crash-… (or timeout-…, oom-…) and fails the run. It may use 4 GB:
  # under AddressSanitizer the expression fuzzer's memory grows by about 200 MB per million
  # executions (the same inputs run flat at 13 MB without it, so it is the sanitizer's own
  # bookkeeping), which would cross libFuzzer's default limit of 2 GB before 10 million.
  rm -rf build-fuzz/corpus
  cp -r fuzz/corpus build-fuzz/corpus
  status=0
  for fuzzer in "${fuzzers[@]}"; do
    flags="${fuzzer}_flags[@]"
    ./build-fuzz/${fuzzer}_fuzzer "${!flags}" -runs="$long" -print_final_stats=1 -rss_limit_mb=4096 \
      -artifact_prefix=build-fuzz/ build-fuzz/corpus/$fuzzer >build-fuzz/$fuzzer.log 2>&1 &
  done
  for fuzzer in "${fuzzers[@]}"; do
    wait -n || status=1
  done
  for fuzzer in "${fuzzers[@]}"; do
    echo "== $fuzzer (build-fuzz/$fuzzer.log)"
    grep -E '^stat::|Done [0-9]+ runs|ERROR|SUMMARY' build-fuzz/$fuzzer.log || true
  done
  exit "$status"
fi

# CI (CI=true) builds with warnings as errors; both presets build into build/.
preset=release
[ "${CI:-}" = true ] && preset=ci
cmake --preset "$preset"
cmake --build --preset "$preset" -j"$jobs"

if [ "$job" = main ]; then
  cmake --build build --target docs  # runs the tutorials, then writes docs/ops.md
else
  ctest --test-dir build --output-on-failure -j"$jobs"
fi
