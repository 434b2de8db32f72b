#!/usr/bin/env bash
# Installs the Debian packages medenc needs (if missing) and builds it in ./build.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(cmake g++ make pkg-config python3 libdnnl-dev nlohmann-json3-dev libutf8proc-dev libonig-dev libcli11-dev
          libfmt-dev libgtest-dev zlib1g-dev libzip-dev libcurl4-openssl-dev libssl-dev
          libboost-dev curl python3-pytest python3-requests python3-aiohttp  # medenc serve and its tests
          python3-dev pybind11-dev python3-numpy python3-setuptools python3-wheel python3-pip python3-venv
          python3-dask python3-distributed python3-pandas  # the Python package (python/), dask.dataframe, tests
          ocl-icd-opencl-dev)  # libdnnl-dev's CMake package looks for OpenCL (a Recommends apt skips here)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
