#pragma once
// Pre-tokenizers of tokenizer.json ("pre_tokenizer" block): they cut the normalized pieces into
// words (and ByteLevel maps every byte to its printable char).
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/normalized_text.h"

namespace medenc::tok {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PieceList& list) const = 0;
};

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& where);

}  // namespace medenc::tok
