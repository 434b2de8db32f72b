#pragma once
// Allocation of large host buffers (the parameter buffer, the activation arena's blocks). From 4 MB
// up they are aligned to 2 MB and transparent huge pages are asked for (Linux madvise), so that the
// first touch of a 600 MB parameter buffer takes about 300 page faults instead of 150,000: on a
// virtual machine each fault costs microseconds, and those faults were most of a model's load time.
#include <cstddef>
#include <new>
#include <utility>

namespace medenc {

void* allocate_large(size_t bytes);           // 64-byte aligned at least; throws std::bad_alloc
void free_large(void* p, size_t bytes) noexcept;  // bytes: as passed to allocate_large, or 0

// std::allocator's interface over allocate_large, for std::vector.
template <class T>
struct LargeBufferAllocator {
  using value_type = T;
  LargeBufferAllocator() = default;
  template <class U>
  LargeBufferAllocator(const LargeBufferAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(allocate_large(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { free_large(p, n * sizeof(T)); }
  // Default-initialisation: resize() leaves new floats uninitialised, so that the owner can fill a
  // large buffer on all cores instead of one core zeroing it first.
  template <class U>
  void construct(U* p) noexcept(noexcept(::new ((void*)p) U)) {
    ::new ((void*)p) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new ((void*)p) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const LargeBufferAllocator<U>&) const noexcept { return true; }
};

}  // namespace medenc
