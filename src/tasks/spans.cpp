// Code-point spans of a text.
#include "tasks/spans.h"

#include "tokenizer/unicode.h"

namespace medenc {

namespace {

char32_t codepoint_at(std::string_view text, std::span<const size_t> cp, int64_t k) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data()) + cp[k];
  const size_t len = cp[k + 1] - cp[k];
  if (len == 1) return p[0];
  char32_t c = p[0] & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) c = (c << 6) | (p[i] & 0x3F);
  return c;
}

}  // namespace

std::pair<int64_t, int64_t> trim_whitespace(std::string_view text, std::span<const size_t> cp, int64_t start,
                                            int64_t end) {
  int64_t s = start, e = end;
  while (s < e && tok::is_white_space(codepoint_at(text, cp, s))) ++s;
  while (e > s && tok::is_white_space(codepoint_at(text, cp, e - 1))) --e;
  if (s == e) return {start, end};
  return {s, e};
}

}  // namespace medenc
