#pragma once
// Normalizers of tokenizer.json ("normalizer" block). Each rewrites one piece of text in place and
// keeps every char aligned to the original chars it came from.
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "tokenizer/normalized_text.h"

namespace medenc::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedText& t) const = 0;
};

enum class UnicodeForm { NFC, NFD, NFKC, NFKD };
// Unicode normalization with HF's change tracking (decompose, canonical order, recompose).
void unicode_normalize(NormalizedText& t, UnicodeForm form);
// Rust char::to_lowercase on every char.
void lowercase(NormalizedText& t);

struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // unset: follows lowercase
  bool lowercase = true;
};
std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerOptions& o);

// Builds a normalizer from its tokenizer.json object; `where` names it in errors.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& where);

}  // namespace medenc::tok
