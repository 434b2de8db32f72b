#pragma once
// The one oneDNN CPU engine the kernels share.
#include <oneapi/dnnl/dnnl.hpp>

namespace medenc::ops::cpu {

inline dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

}  // namespace medenc::ops::cpu
