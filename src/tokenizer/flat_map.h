#pragma once
// Open-addressing hash maps for the vocabularies: string -> id (looked up by string_view, keys kept
// in one arena) and (id, id) -> merge. They are built once and then only read, from many threads.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace medenc::tok {

inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  h = (h ^ v) * 0xFF51AFD7ED558CCDull;
  h ^= h >> 32;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  return h;
}

inline uint64_t hash_u64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

class StringIdMap {
 public:
  // Inserts or overwrites (the last value for a key wins, like building a HashMap).
  void set(std::string_view key, int32_t id) {
    if ((count_ + 1) * 4 >= slots_.size() * 3) grow();
    const uint64_t h = hash_bytes(key.data(), key.size());
    Slot& s = probe(key, h);
    if (s.id == kEmpty) {
      s.hash = h;
      s.offset = static_cast<uint32_t>(arena_.size());
      s.length = static_cast<uint32_t>(key.size());
      arena_.append(key);
      ++count_;
    }
    s.id = id;
  }
  // -1 when absent.
  int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash_bytes(key.data(), key.size());
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.id == kEmpty) return -1;
      if (s.hash == h && s.length == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0)
        return s.id;
    }
  }
  size_t size() const { return count_; }
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.id != kEmpty) fn(std::string_view(arena_.data() + s.offset, s.length), s.id);
  }

 private:
  static constexpr int32_t kEmpty = INT32_MIN;
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0, length = 0;
    int32_t id = kEmpty;
  };
  Slot& probe(std::string_view key, uint64_t h) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.id == kEmpty) return s;
      if (s.hash == h && s.length == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0)
        return s;
    }
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.id == kEmpty) continue;
      size_t i = s.hash & mask;
      while (slots_[i].id != kEmpty) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  std::string arena_;
  size_t count_ = 0;
};

// (left id, right id) -> (rank, merged id).
class MergeMap {
 public:
  struct Value {
    int32_t rank, id;
  };
  void set(int32_t a, int32_t b, Value v) {
    if ((count_ + 1) * 2 >= slots_.size()) grow();
    const uint64_t key = pack(a, b);
    Slot& s = probe(key);
    if (!s.used) ++count_;
    s = Slot{key, v, true};
  }
  const Value* find(int32_t a, int32_t b) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = pack(a, b);
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
  }
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t key = 0;
    Value value{0, 0};
    bool used = false;
  };
  static uint64_t pack(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }
  Slot& probe(uint64_t key) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask)
      if (!slots_[i].used || slots_[i].key == key) return slots_[i];
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    for (const Slot& s : old)
      if (s.used) probe(s.key) = s;
  }
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

}  // namespace medenc::tok
