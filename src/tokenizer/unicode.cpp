#include "tokenizer/unicode.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include <utf8proc.h>

#include "medenc/error.h"
#include "tokenizer/unicode_tables.h"

namespace medenc::tok {

namespace {

// Length of the valid UTF-8 sequence at p (0 when invalid).
inline size_t valid_sequence_length(const unsigned char* p, size_t left) {
  const unsigned char b0 = p[0];
  if (b0 < 0x80) return 1;
  if (b0 < 0xC2) return 0;
  if (b0 < 0xE0) return left >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (b0 < 0xF0) {
    if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (b0 == 0xE0 && p[1] < 0xA0) return 0;   // overlong
    if (b0 == 0xED && p[1] >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (b0 < 0xF5) {
    if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
    if (b0 == 0xF0 && p[1] < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && p[1] >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

inline char32_t decode_at(const unsigned char* p, size_t len) {
  switch (len) {
    case 1: return p[0];
    case 2: return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    case 3: return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    default: return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
  }
}

inline int category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

}  // namespace

bool in_table(const CodeTable& t, char32_t c) {
  const CodeRange* end = t.ranges + t.size;
  const CodeRange* it = std::upper_bound(t.ranges, end, c, [](char32_t v, const CodeRange& r) { return v < r.first; });
  return it != t.ranges && (it - 1)->last >= c;
}

const char32_t* find_case_override(const CaseTable& t, char32_t c) {
  const CaseOverride* end = t.items + t.size;
  const CaseOverride* it = std::lower_bound(t.items, end, c, [](const CaseOverride& o, char32_t v) { return o.from < v; });
  return it != end && it->from == c ? &it->to : nullptr;
}

void decode_utf8(std::string_view s, std::vector<char32_t>& out, std::string_view what) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  out.reserve(out.size() + n);
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      out.push_back(p[i++]);
      continue;
    }
    const size_t len = valid_sequence_length(p + i, n - i);
    if (len == 0) throw Error(std::string(what) + ": invalid UTF-8 at byte " + std::to_string(i));
    out.push_back(decode_at(p + i, len));
    i += len;
  }
}

size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = valid_sequence_length(p + i, s.size() - i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string to_utf8(const char32_t* chars, size_t n) {
  std::string s;
  s.reserve(n);
  for (size_t i = 0; i < n; ++i) append_utf8(s, chars[i]);
  return s;
}

std::vector<char32_t> to_chars(std::string_view utf8) {
  std::vector<char32_t> out;
  decode_utf8(utf8, out, "text");
  return out;
}

std::string utf8_lossy(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  std::string out;
  out.reserve(n);
  size_t i = 0;
  while (i < n) {
    const size_t len = valid_sequence_length(p + i, n - i);
    if (len > 0) {
      out.append(bytes.data() + i, len);
      i += len;
      continue;
    }
    // Maximal subpart: a lead byte followed by as many continuation bytes as stay on a valid path.
    size_t skip = 1;
    const unsigned char b0 = p[i];
    size_t need = b0 >= 0xC2 && b0 < 0xE0 ? 2 : b0 >= 0xE0 && b0 < 0xF0 ? 3 : b0 >= 0xF0 && b0 < 0xF5 ? 4 : 0;
    for (size_t k = 1; k < need && i + k < n; ++k) {
      const unsigned char b = p[i + k];
      unsigned char lo = 0x80, hi = 0xBF;
      if (k == 1) {
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
      }
      if (b < lo || b > hi) break;
      skip = k + 1;
    }
    out.append("\xEF\xBF\xBD");
    i += skip;
  }
  return out;
}

bool is_white_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

int general_category(char32_t c) { return category(c); }

bool is_letter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  const int k = category(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) != in_table(kLetterFlips, c);
}

bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  const int k = category(c);
  return (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) != in_table(kNumberFlips, c);
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '_';
  const int k = category(c);
  const bool word = c == 0x200C || c == 0x200D || (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ND) ||
                    k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
  return word != in_table(kWordCharFlips, c);
}

bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  if (c < 0x80) return c < 0x20 || c == 0x7F;
  const int k = category(c);
  const bool other = k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO;
  return other != in_table(kBertControlFlips, c);
}

bool is_bert_whitespace(char32_t c) { return is_white_space(c); }

bool is_bert_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  const int k = category(c);
  const bool punct = k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
  return punct != in_table(kBertPunctuationFlips, c);
}

bool is_bert_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_nonspacing_mark(char32_t c) {
  if (c < 0x300) return false;
  const bool mn = category(c) == UTF8PROC_CATEGORY_MN;
  return mn != in_table(kNonspacingMarkFlips, c);
}

bool is_combining_mark(char32_t c) {
  if (c < 0x300) return false;
  const int k = category(c);
  const bool mark = k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME;
  return mark != in_table(kCombiningMarkFlips, c);
}

int to_lowercase(char32_t c, char32_t out[3]) {
  if (c < 0x80) {
    out[0] = c >= 'A' && c <= 'Z' ? c + 32 : c;
    return 1;
  }
  if (c == 0x130) {  // the one unconditional multi-char lowercase mapping
    out[0] = 'i';
    out[1] = 0x307;
    return 2;
  }
  if (const char32_t* m = find_case_override(kLowercaseOverrides, c)) {
    out[0] = *m;
    return 1;
  }
  out[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
  return 1;
}

int combining_class(char32_t c) {
  if (c < 0x300) return 0;
  const int ccc = utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
  return ccc != 0 && in_table(kZeroCombiningClassFlips, c) ? 0 : ccc;
}

int decompose_char(char32_t c, bool compat, char32_t* out) {
  if (c < 0xA0 || in_table(kNoCanonicalFlips, c) || (compat && in_table(kNoCompatFlips, c))) {
    out[0] = c;
    return 1;
  }
  utf8proc_int32_t buf[32];
  int bound = 0;
  const utf8proc_option_t opts = static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0));
  const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32, opts, &bound);
  if (n <= 0 || n > 32) {
    out[0] = c;
    return 1;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out[i] = static_cast<char32_t>(buf[i]);
  return static_cast<int>(n);
}

namespace {

// Primary composites keyed by (a << 21 | b), built once from utf8proc's decompositions.
const std::unordered_map<uint64_t, char32_t>& composition_table() {
  static const std::unordered_map<uint64_t, char32_t> table = [] {
    std::unordered_map<uint64_t, char32_t> t;
    for (utf8proc_int32_t c = 0xA0; c < 0x110000; ++c) {
      if (c >= 0xAC00 && c <= 0xD7A3) continue;  // Hangul is composed arithmetically
      const utf8proc_property_t* p = utf8proc_get_property(c);
      if (p->comp_exclusion || p->decomp_type != 0 || p->decomp_seqindex == UINT16_MAX) continue;
      utf8proc_int32_t d[32];
      int bound = 0;
      const utf8proc_ssize_t n = utf8proc_decompose_char(c, d, 32, UTF8PROC_DECOMPOSE, &bound);
      if (n < 2 || n > 32) continue;
      // The single-level pair is (composition of all but the last char, last char).
      utf8proc_int32_t head[32];
      for (utf8proc_ssize_t i = 0; i + 1 < n; ++i) head[i] = d[i];
      const utf8proc_ssize_t hn = utf8proc_normalize_utf32(head, n - 1, UTF8PROC_COMPOSE);
      if (hn != 1) continue;
      utf8proc_int32_t pair[2] = {head[0], d[n - 1]};
      if (utf8proc_normalize_utf32(pair, 2, UTF8PROC_COMPOSE) != 1 || pair[0] != c) continue;
      t.emplace((static_cast<uint64_t>(head[0]) << 21) | static_cast<uint64_t>(d[n - 1]), static_cast<char32_t>(c));
    }
    return t;
  }();
  return table;
}

// Chars that end a primary composite (they can join the char before them).
const std::vector<bool>& composition_seconds() {
  static const std::vector<bool> seconds = [] {
    std::vector<bool> v(0x110000, false);
    for (const auto& [key, composite] : composition_table()) v[key & 0x1FFFFF] = true;
    for (char32_t c = 0x1161; c <= 0x1175; ++c) v[c] = true;  // Hangul vowels
    for (char32_t c = 0x11A8; c <= 0x11C2; ++c) v[c] = true;  // Hangul trailing consonants
    return v;
  }();
  return seconds;
}

bool compute_inert(char32_t c, bool compat, bool compose) {
  char32_t d[32];
  if (decompose_char(c, compat, d) != 1 || d[0] != c || combining_class(c) != 0) return false;
  return !compose || !composition_seconds()[c];
}

}  // namespace

bool normalization_inert(char32_t c, bool compat, bool compose) {
  if (c < 0xA0) return true;
  // Bits per BMP char: 1 NFD, 2 NFC, 4 NFKD, 8 NFKC.
  static const std::vector<uint8_t> bmp = [] {
    std::vector<uint8_t> v(0x10000, 0);
    for (char32_t c = 0; c < 0x10000; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;
      v[c] = static_cast<uint8_t>(compute_inert(c, false, false) | compute_inert(c, false, true) << 1 |
                                  compute_inert(c, true, false) << 2 | compute_inert(c, true, true) << 3);
    }
    return v;
  }();
  if (c < 0x10000) return bmp[c] >> ((compat ? 2 : 0) + (compose ? 1 : 0)) & 1;
  return compute_inert(c, compat, compose);
}

char32_t compose_pair(char32_t a, char32_t b) {
  // Hangul syllables: L + V, then LV + T.
  if (a >= 0x1100 && a <= 0x1112 && b >= 0x1161 && b <= 0x1175)
    return 0xAC00 + ((a - 0x1100) * 21 + (b - 0x1161)) * 28;
  if (a >= 0xAC00 && a <= 0xD7A3 && (a - 0xAC00) % 28 == 0 && b >= 0x11A8 && b <= 0x11C2) return a + (b - 0x11A7);
  const auto& t = composition_table();
  auto it = t.find((static_cast<uint64_t>(a) << 21) | b);
  return it == t.end() ? 0 : it->second;
}

}  // namespace medenc::tok
