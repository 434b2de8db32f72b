#pragma once
// Counter-based seeds: every random draw of training (shuffling, dropout, masking, balancing) is
// seeded from the run seed and where it happens (epoch, step, example), never from a running
// generator, so a resumed run draws exactly what an uninterrupted one would.
#include <cstdint>
#include <initializer_list>

namespace medenc {

inline uint64_t mix_seed(uint64_t seed, std::initializer_list<uint64_t> parts) {
  uint64_t h = seed ^ 0x243F6A8885A308D3ull;
  for (uint64_t p : parts) {
    h ^= p + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
  }
  return h;
}

template <class... T>
uint64_t mix_seed(uint64_t seed, T... parts) {
  return mix_seed(seed, {(uint64_t)parts...});
}

}  // namespace medenc
