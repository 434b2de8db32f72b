#include "medenc/large_buffer.h"

#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace medenc {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeFrom = size_t{4} << 20;  // below this, rounding up to 2 MB would waste too much
constexpr size_t kCacheLine = 64;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
}  // namespace

void* allocate_large(size_t bytes) {
  const bool huge = bytes >= kHugeFrom;
  const size_t align = huge ? kHugePage : kCacheLine;
  const size_t rounded = round_up(bytes == 0 ? 1 : bytes, align);
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: where huge pages are off or unavailable the buffer is ordinary memory.
  if (huge) (void)::madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

void free_large(void* p, size_t) noexcept { std::free(p); }

}  // namespace medenc
