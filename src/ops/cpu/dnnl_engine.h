#pragma once
// The one oneDNN CPU engine the kernels share.
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

namespace medenc::ops::cpu {

inline dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// A matmul primitive configured for the one thread that will run it. oneDNN may size its blocking
// (and may split the inner dimension across threads) from the thread count it sees when the
// primitive is created; the kernels here always run a primitive single-threaded inside their own
// parallel loop, so creating it as for one thread keeps every output's summation order the same
// whatever --threads is.
inline dnnl::matmul::primitive_desc single_thread_matmul(const dnnl::matmul::desc& desc,
                                                         const dnnl::primitive_attr& attr) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  struct Restore {
    int n;
    ~Restore() { omp_set_num_threads(n); }
  } restore{saved};
  return dnnl::matmul::primitive_desc(desc, attr, cpu_engine());
}

}  // namespace medenc::ops::cpu
