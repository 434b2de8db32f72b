#!/usr/bin/env bash
# Installs medenc into a temporary prefix, builds examples/cpp against it with find_package(medenc)
# (only the installed headers on the include path) and runs it on a small random model.
set -euo pipefail
build_dir=$1
source_dir=$2
prefix=$(mktemp -d /tmp/medenc-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build_dir" --prefix "$prefix/usr" >/dev/null
test -f "$prefix/usr/include/medenc/medenc.h"
test -f "$prefix/usr/include/medenc/version.h"
test -f "$prefix/usr/lib/cmake/medenc/medencConfig.cmake" || test -f "$prefix"/usr/lib/*/cmake/medenc/medencConfig.cmake
cmake -S "$source_dir/examples/cpp" -B "$prefix/example" -DCMAKE_PREFIX_PATH="$prefix/usr" -DCMAKE_BUILD_TYPE=Release >/dev/null
# The example's compile commands may name the install prefix, never the source tree.
cmake --build "$prefix/example" -j2 -- VERBOSE=1 >"$prefix/build.log" 2>&1 || { cat "$prefix/build.log"; exit 1; }
if grep -E -- "-I ?$source_dir/(src|include)" "$prefix/build.log"; then
  echo "the example was compiled against the source tree" >&2
  exit 1
fi
"$prefix/usr/bin/medenc" init --arch ModernBertForSequenceClassification --config tiny --problem-type regression \
  --num-labels 1 --tokenizer "$source_dir/tests/data/tokenizers/modernbert-base" --out "$prefix/model" >/dev/null 2>&1
"$prefix/example/classify" "$prefix/model" >"$prefix/out.txt"
cat "$prefix/out.txt"
test "$(grep -c $'^[0-9]\tscore ' "$prefix/out.txt")" -eq 3
grep -q "^medenc [0-9]" "$prefix/out.txt"
echo "installed package OK"
