#include "tokenizer/regex.h"

#include <memory>
#include <mutex>

#include <oniguruma.h>

#include "medenc/error.h"
#include "tokenizer/unicode.h"

namespace medenc::tok {

namespace {

void init_oniguruma() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[1] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

// "[\x{..}-\x{..}...]" of the code points where pred holds.
template <class Pred>
std::string class_of(Pred&& pred) {
  std::string out = "[";
  char buf[40];
  char32_t c = 0;
  while (c < 0x110000) {
    if (!pred(c)) {
      ++c;
      continue;
    }
    const char32_t first = c;
    while (c + 1 < 0x110000 && pred(c + 1)) ++c;
    std::snprintf(buf, sizeof(buf), "\\x{%X}-\\x{%X}", static_cast<unsigned>(first), static_cast<unsigned>(c));
    out += buf;
    ++c;
  }
  return out + "]";
}

const std::string& letter_class() {
  static const std::string s = class_of([](char32_t c) { return (c < 0xD800 || c > 0xDFFF) && is_letter(c); });
  return s;
}
const std::string& number_class() {
  static const std::string s = class_of([](char32_t c) { return (c < 0xD800 || c > 0xDFFF) && is_number(c); });
  return s;
}

// The system Oniguruma may carry older Unicode data than the one Hugging Face bundles, so the
// letter and number properties are spelled out from medenc's own (reconciled) tables.
std::string expand_unicode_classes(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size());
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 >= pattern.size()) {
      out.push_back(pattern[i]);
      continue;
    }
    const char kind = pattern[i + 1];
    if (kind == 'p' || kind == 'P') {
      std::string name;
      size_t len = 0;
      if (i + 2 < pattern.size() && pattern[i + 2] == '{') {
        const size_t close = pattern.find('}', i + 3);
        if (close != std::string::npos) {
          name = pattern.substr(i + 3, close - i - 3);
          len = close - i + 1;
        }
      } else if (i + 2 < pattern.size()) {
        name = pattern.substr(i + 2, 1);
        len = 3;
      }
      bool negate = kind == 'P';
      if (!name.empty() && name[0] == '^') {
        negate = !negate;
        name.erase(0, 1);
      }
      if (name == "L" || name == "Letter" || name == "N" || name == "Number") {
        const std::string& cls = name[0] == 'L' ? letter_class() : number_class();
        out += negate ? "[^" + cls.substr(1) : cls;
        i += len - 1;
        continue;
      }
    }
    out.push_back(pattern[i]);
    out.push_back(kind);
    ++i;
  }
  return out;
}

struct RegionDeleter {
  void operator()(OnigRegion* r) const { onig_region_free(r, 1); }
};

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) : regex_(nullptr) {
  init_oniguruma();
  OnigRegex re = nullptr;
  OnigErrorInfo info;
  const std::string source = expand_unicode_classes(pattern);
  const auto* p = reinterpret_cast<const OnigUChar*>(source.data());
  const int rc = onig_new(&re, p, p + source.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
  if (rc != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, rc, &info);
    throw Error(where + ": bad regex \"" + pattern + "\": " + reinterpret_cast<const char*>(msg));
  }
  regex_ = re;
}

Regex::~Regex() { onig_free(static_cast<OnigRegex>(regex_)); }

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  out.clear();
  std::unique_ptr<OnigRegion, RegionDeleter> region(onig_region_new());
  const auto* begin = reinterpret_cast<const OnigUChar*>(text.data());
  const auto* end = begin + text.size();
  size_t pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= text.size()) {
    onig_region_clear(region.get());
    const int r = onig_search(static_cast<OnigRegex>(regex_), begin, end, begin + pos, end, region.get(), ONIG_OPTION_NONE);
    if (r < 0) break;  // ONIG_MISMATCH (or an engine error: treat as no further match)
    const size_t s = static_cast<size_t>(region->beg[0]);
    const size_t e = static_cast<size_t>(region->end[0]);
    if (s == e && have_last && last_end == e) {
      // Step over one char so an empty match cannot repeat forever.
      if (pos >= text.size()) break;
      const unsigned char b = static_cast<unsigned char>(text[pos]);
      pos += b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
      continue;
    }
    out.emplace_back(s, e);
    pos = e;
    have_last = true;
    last_end = e;
  }
}

std::string pattern_source(const nlohmann::json& pattern, const std::string& where) {
  if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string())
    return regex_escape(pattern["String"].get<std::string>());
  if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) return pattern["Regex"].get<std::string>();
  throw Error(where + ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}");
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace medenc::tok
