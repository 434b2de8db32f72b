#pragma once
// fp32 <-> bf16, one definition for file I/O (safetensors), weight loading and the kernels.
#include <cstdint>
#include <cstring>

namespace medenc::bf16 {

// Round to nearest even (NaN stays a quiet NaN); written so that the compiler vectorises loops over it.
inline uint16_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  const uint32_t rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
  const uint32_t nan = (b >> 16) | 0x40u;
  return (uint16_t)((b & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

inline float to_f32(uint16_t h) {
  const uint32_t b = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// f rounded to the nearest bf16 value, kept as fp32 (for bf16 emulated on fp32 kernels).
inline float rounded(float f) { return to_f32(bits(f)); }

}  // namespace medenc::bf16
