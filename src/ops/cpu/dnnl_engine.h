#pragma once
// The one oneDNN CPU engine the kernels share.
#include <omp.h>

#include <string>

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

// Whether oneDNN has a non-reference matmul for these types on this CPU (callers keep the answer;
// probed on a rows x 64 by 64 x 64 shape): its reference kernels are too slow to use.
inline bool native_matmul(dnnl::memory::data_type src, dnnl::memory::data_type weights, dnnl::memory::data_type dst,
                          dnnl::memory::format_tag weights_tag, int64_t rows) {
  try {
    dnnl::memory::desc a({rows, 64}, src, dnnl::memory::format_tag::ab);
    dnnl::memory::desc w({64, 64}, weights, weights_tag);
    dnnl::memory::desc c({rows, 64}, dst, dnnl::memory::format_tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, w, c), cpu_engine());
    return std::string(pd.impl_info_str()).find("ref") == std::string::npos;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace medenc::ops::cpu
