#!/usr/bin/env bash
# The package as a user outside this repository meets it: gradlab installed into a scratch
# prefix, and README.md's first program (the first ```cpp block after "## A first program",
# taken from the README itself) built against it twice, with find_package(gradlab) and with
# pkg-config, and run. Both must print the same, and the engine's ∂C/∂V (printed first) must
# equal the hand derivation's (printed second).
#   first_program.sh SOURCE_DIR BUILD_DIR SCRATCH_DIR
set -euo pipefail
src=$1 build=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch/with-cmake"
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null

awk '/^## A first program/ {found = 1} found && /^```cpp/ {inside = 1; next}
     inside && /^```/ {exit} inside' "$src/README.md" >"$scratch/first.cpp"
[ -s "$scratch/first.cpp" ] || { echo "README.md has no first program" >&2; exit 1; }

cat >"$scratch/with-cmake/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(first_program LANGUAGES CXX)
find_package(gradlab 0.1 CONFIG REQUIRED)
add_executable(first ../first.cpp)
target_link_libraries(first PRIVATE gradlab::gradlab)
target_compile_features(first PRIVATE cxx_std_20)
EOF
cmake -S "$scratch/with-cmake" -B "$scratch/with-cmake/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/with-cmake/build" >/dev/null
"$scratch/with-cmake/build/first" >"$scratch/cmake.out"

pc=$(dirname "$(find "$scratch/prefix" -name gradlab.pc | head -n 1)")
# shellcheck disable=SC2046  # pkg-config's flags are words
# (CXXFLAGS and LDFLAGS, as the suite sets them for a sanitizer build; CMake reads them too.)
g++ -O1 ${CXXFLAGS:-} ${LDFLAGS:-} -o "$scratch/first-pc" "$scratch/first.cpp" \
  $(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs gradlab)
"$scratch/first-pc" >"$scratch/pkg-config.out"

cmp "$scratch/cmake.out" "$scratch/pkg-config.out" || { echo "the two builds print differently" >&2; exit 1; }
lines=$(wc -l <"$scratch/cmake.out")
half=$((lines / 2))
[ "$lines" -ge 2 ] && [ $((half * 2)) -eq "$lines" ] || { echo "unexpected output:" >&2; cat "$scratch/cmake.out" >&2; exit 1; }
# The tensors print with their names and ops; compare the numbers only.
numbers() { grep -oE -- '-?[0-9]+\.[0-9]+(e-?[0-9]+)?|-?[0-9]+e-?[0-9]+' ; }
diff <(head -n "$half" "$scratch/cmake.out" | numbers) <(tail -n "$half" "$scratch/cmake.out" | numbers) \
  || { echo "V.grad() and the hand-derived dV differ" >&2; exit 1; }
echo "the README's first program builds with find_package and with pkg-config and prints ∂C/∂V twice:"
cat "$scratch/cmake.out"
