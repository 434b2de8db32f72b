#pragma once
// Decoders of tokenizer.json ("decoder" block): token strings back to text.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace medenc::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // HF decode_chain: rewrites the list of token strings (the caller concatenates the result).
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
  std::string decode(std::vector<std::string> tokens) const;
};

std::unique_ptr<Decoder> make_wordpiece_decoder(const std::string& prefix, bool cleanup);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& where);

// transformers' clean_up_tokenization (" ." -> ".", " n't" -> "n't", ...).
std::string clean_up_tokenization(std::string text);

}  // namespace medenc::tok
