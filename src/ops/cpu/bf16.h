#pragma once
// bf16 operands of the CPU kernels that feed bf16 GEMMs (the rounding itself: util/bf16.h).
#include <cstdint>
#include <type_traits>

#include "util/bf16.h"

namespace medenc::ops::cpu {

inline uint16_t bf16_bits(float f) { return bf16::bits(f); }
inline float bf16_rounded(float f) { return bf16::rounded(f); }

// x rounded to bf16 as the GEMM operand type Out: bf16 bits (uint16_t) for bf16 kernels, or the same
// value as fp32 (float) for bf16 emulated on fp32 kernels.
template <typename Out>
inline Out bf16_as(float x) {
  if constexpr (std::is_same_v<Out, uint16_t>) {
    return bf16_bits(x);
  } else {
    return bf16_rounded(x);
  }
}

}  // namespace medenc::ops::cpu
