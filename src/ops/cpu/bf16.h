#pragma once
// fp32 -> bf16 rounding shared by the CPU kernels that feed bf16 GEMMs.
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace medenc::ops::cpu {

// Round to nearest even (NaN stays NaN); written so that the compiler vectorises loops over it.
inline uint16_t bf16_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  const uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
  const uint32_t nan = (b >> 16) | 0x40u;
  return (uint16_t)((b & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

// The same value as an fp32 number (for bf16 emulated on fp32 kernels).
inline float bf16_rounded(float f) {
  const uint32_t bits = (uint32_t)bf16_bits(f) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

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
