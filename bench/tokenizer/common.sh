# Sourced by run.sh, parity.sh and unicode_diff.sh: paths, a temporary folder, the medenc library
# built in BUILD_DIR (default ./build), Hugging Face's npm package, and tools linked against both.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$root/build}"
data="${DATA_DIR:-$root/../shared/data}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# build_tool SOURCE OUTPUT: compiles a tool from bench/tokenizer against libmedenc.a.
build_tool() {
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target medenc_lib -j"$(nproc)" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
  c++ -std=c++20 -O3 -march=native -fopenmp -I"$root/include" -I"$root/src" "$here/$1" "$build/libmedenc.a" \
    $(pkg-config --libs libutf8proc oniguruma zlib) -lfmt -o "$2"
  [ -d "$here/node_modules/tokenizers" ] || (cd "$here" && npm install --no-audit --no-fund >/dev/null)
}
