#pragma once
// Regular expressions for Split pre-tokenizers and Replace normalizers/decoders. Hugging Face
// `tokenizers` compiles these patterns with Oniguruma, so we use the same engine and syntax.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace medenc::tok {

class Regex {
 public:
  // Throws medenc::Error naming `where` when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches, left to right, as byte ranges of `text` (valid UTF-8). An empty match
  // right after the previous match is skipped, like the Rust `onig` crate's find_iter.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  void* regex_;
};

// Regex source that matches `literal` exactly.
std::string regex_escape(std::string_view literal);

// The regex source of a tokenizer.json pattern: {"String": literal} or {"Regex": source}.
std::string pattern_source(const nlohmann::json& pattern, const std::string& where);

}  // namespace medenc::tok
