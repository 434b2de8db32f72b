// Embedding backward on CPU: token rows are grouped by id (a stable counting sort), so each table row is
// summed by one thread in token order, deterministically.
#include <algorithm>
#include <cstring>

#include "ops/cpu/backward_kernels.h"

namespace medenc::ops::cpu {

void embedding_backward(const int32_t* ids, int64_t n, const float* dout, float* dtable, int64_t dim,
                        int64_t padding_idx) {
  std::vector<int64_t> order;
  order.reserve((size_t)n);
  for (int64_t t = 0; t < n; ++t)
    if (ids[t] != padding_idx) order.push_back(t);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ids[a] < ids[b]; });
  std::vector<int64_t> group_start;
  for (size_t k = 0; k < order.size(); ++k)
    if (k == 0 || ids[order[k]] != ids[order[k - 1]]) group_start.push_back((int64_t)k);
  group_start.push_back((int64_t)order.size());
  const int64_t groups = (int64_t)group_start.size() - 1;
  #pragma omp parallel for schedule(dynamic, 16)
  for (int64_t gi = 0; gi < groups; ++gi) {
    float* row = dtable + (int64_t)ids[order[group_start[gi]]] * dim;
    for (int64_t k = group_start[gi]; k < group_start[gi + 1]; ++k) {
      const float* g = dout + order[k] * dim;
      for (int64_t i = 0; i < dim; ++i) row[i] += g[i];
    }
  }
}

}  // namespace medenc::ops::cpu
