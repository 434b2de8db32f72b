#!/usr/bin/env bash
# Checks that a portable (default, MEDENC_NATIVE=OFF) binary runs on any x86-64: lists the functions
# outside the avx2/avx512 kernel namespaces that contain AVX (VEX/EVEX) or BMI/LZCNT/MOVBE
# instructions. Such a function would be an inline or template copy compiled for a higher level that
# the linker kept for everyone (see src/ops/cpu/isa.h). Usage: scripts/check_portable.sh build/medenc
set -euo pipefail
binary=${1:-build/medenc}
leaks=$(objdump -d --no-show-raw-insn "$binary" | awk '
  /^[0-9a-f]+ </ { fn = $0; next }
  /\t(v[a-z0-9]+|kmov[a-z]+|andn|bextr|bzhi|pdep|pext|rorx|sarx|shlx|shrx|lzcnt|tzcnt|movbe)[ \t]/ {
    if (!(fn in seen)) { seen[fn] = 1; print fn } }' | c++filt | grep -v -E '::(avx2|avx512)::' || true)
if [ -n "$leaks" ]; then
  echo "$binary: functions outside the per-ISA kernels use instructions beyond x86-64:" >&2
  echo "$leaks" >&2
  exit 1
fi
echo "$binary: only the avx2/avx512 kernels use instructions beyond x86-64"
