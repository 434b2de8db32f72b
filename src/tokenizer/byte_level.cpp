#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace medenc::tok {

const std::string_view kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

namespace {

struct ByteTables {
  std::array<char32_t, 256> to_char{};
  std::array<int16_t, 324> to_byte{};  // chars 0..323 cover the whole table
  ByteTables() {
    to_byte.fill(-1);
    auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const char32_t c = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
      to_char[b] = c;
      to_byte[c] = static_cast<int16_t>(b);
    }
  }
};

const ByteTables kTables;

enum Class : uint8_t { kLetter, kNumber, kSpace, kOther };

inline Class classify(char32_t c) {
  if (c < 0x80) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return kLetter;
    if (c >= '0' && c <= '9') return kNumber;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return kSpace;
    return kOther;
  }
  if (is_white_space(c)) return kSpace;
  if (is_letter(c)) return kLetter;
  if (is_number(c)) return kNumber;
  return kOther;
}

}  // namespace

char32_t byte_to_char(uint8_t b) { return kTables.to_char[b]; }

int char_to_byte(char32_t c) { return c < 324 ? kTables.to_byte[c] : -1; }

void gpt2_split(const char32_t* s, uint32_t n, std::vector<Match>& out) {
  out.clear();
  uint32_t i = 0;
  while (i < n) {
    const char32_t c = s[i];
    // Contractions: 's 't 're 've 'm 'll 'd (lowercase only).
    if (c == '\'' && i + 1 < n) {
      const char32_t c1 = s[i + 1];
      uint32_t len = 0;
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
        len = 2;
      else if (i + 2 < n && ((c1 == 'r' && s[i + 2] == 'e') || (c1 == 'v' && s[i + 2] == 'e') || (c1 == 'l' && s[i + 2] == 'l')))
        len = 3;
      if (len) {
        out.push_back({i, i + len, true});
        i += len;
        continue;
      }
    }
    const Class k = classify(c);
    // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional plain space, then a run of one class.
    uint32_t run_start = i;
    Class run_class = k;
    if (c == ' ' && i + 1 < n) {
      const Class k1 = classify(s[i + 1]);
      if (k1 != kSpace) {
        run_start = i + 1;
        run_class = k1;
      }
    }
    if (run_class != kSpace) {
      uint32_t j = run_start + 1;
      while (j < n && classify(s[j]) == run_class) ++j;
      out.push_back({i, j, true});
      i = j;
      continue;
    }
    // Whitespace: "\s+(?!\S)" keeps the last space for the next word, "\s+" takes a lone one.
    uint32_t j = i + 1;
    while (j < n && classify(s[j]) == kSpace) ++j;
    if (j < n && j - i >= 2) --j;
    out.push_back({i, j, true});
    i = j;
  }
}

}  // namespace medenc::tok
