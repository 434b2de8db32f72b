#pragma once
// Independent work items spread over the OpenMP threads, with the first exception carried out.
#include <cstdint>
#include <exception>

namespace medenc::ops::cpu {

// f(i) for every i in [0, n), in parallel, one item at a time as threads free up. Dynamic: on a
// shared VM one core is often briefly descheduled, and a static split would leave the other waiting
// at the end; the item, not the thread, fixes each result's summation order. An exception from f (a
// scratch allocation, a oneDNN call) ends that item; none may leave an OpenMP region, so the first
// is rethrown here once every item has run.
template <class F>
void parallel_items(int64_t n, F&& f) {
  std::exception_ptr failure;
  #pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i) {
    try {
      f(i);
    } catch (...) {
      #pragma omp critical(medenc_parallel_items)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace medenc::ops::cpu
