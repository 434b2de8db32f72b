#pragma once
// Post-processors of tokenizer.json ("post_processor" block): they add the special tokens around
// the encoded sequences and set type ids and sequence ranges.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/encoding_ops.h"

namespace medenc::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual size_t added_tokens(bool pair) const = 0;
  // Turns the encodings of the sequences (one or two) into their processed form (HF
  // process_encodings); the caller merges the result.
  virtual std::vector<Enc> process_encodings(std::vector<Enc> encodings, bool add_special_tokens) const = 0;
  // Special token strings the template inserts first and last ("[CLS]", "[SEP]"), when known.
  virtual std::optional<std::string> cls_token() const { return std::nullopt; }
  virtual std::optional<std::string> sep_token() const { return std::nullopt; }
  // Every (token, id) it may insert: the loader checks each id against the vocabulary.
  virtual std::vector<std::pair<std::string, int32_t>> inserted_tokens() const { return {}; }
};

// Runs the whole post-processing step: HF PostProcessor::process (or default_process without one).
Enc post_process(const PostProcessor* p, Enc a, std::optional<Enc> b, bool add_special_tokens);

// A BERT template: single "cls $A sep", pair "cls $A sep $B:1 sep:1".
std::unique_ptr<PostProcessor> make_bert_template(const std::string& cls, int32_t cls_id, const std::string& sep,
                                                  int32_t sep_id);
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j, const std::string& where);

}  // namespace medenc::tok
