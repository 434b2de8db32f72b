#pragma once
// Tokenization models of tokenizer.json ("model" block): BPE, WordPiece and WordLevel. A model turns
// one pre-tokenized word into token ids with byte offsets inside the word.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "tokenizer/flat_map.h"

namespace medenc::tok {

// A token id read from tokenizer.json: an integer from 0 to 2^31 - 1. (nlohmann's get<int32_t>()
// converts a float or a larger integer with undefined behaviour; found by fuzz_tokenizer_json.)
inline int32_t json_token_id(const nlohmann::json& v, const std::string& what) {
  const bool ok = v.is_number_unsigned() ? v.get<uint64_t>() <= (uint64_t)INT32_MAX
                                         : v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX;
  if (!ok) throw Error(what + " is not a token id (an integer from 0 to 2147483647), got " + v.dump());
  return (int32_t)v.get<int64_t>();
}

struct ModelToken {
  int32_t id;
  uint32_t begin, end;  // byte range in the word
};

class Model {
 public:
  Model();
  virtual ~Model() = default;
  // Appends the tokens of `word` (valid UTF-8, not empty).
  virtual void tokenize(std::string_view word, std::vector<ModelToken>& out) const = 0;

  int32_t token_to_id(std::string_view token) const { return vocab_.find(token); }  // -1: none
  const std::string* id_to_token(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < reverse_.size() && has_reverse_[id] ? &reverse_[id] : nullptr;
  }
  size_t vocab_entries() const { return vocab_.size(); }
  int64_t max_id() const { return static_cast<int64_t>(reverse_.size()) - 1; }
  virtual std::optional<std::string> unk_token() const { return std::nullopt; }
  virtual std::optional<std::string> continuing_subword_prefix() const { return std::nullopt; }

 protected:
  void set_vocab(std::string_view token, int32_t id);
  void build_reverse();
  // Per-thread memo of recent words (a direct-mapped table: no locks). Only speed depends on it.
  bool cached(std::string_view word, uint64_t hash, std::vector<ModelToken>& out) const;
  void remember(std::string_view word, uint64_t hash, const ModelToken* b, const ModelToken* e) const;
  StringIdMap vocab_;
  std::vector<std::string> reverse_;
  std::vector<bool> has_reverse_;
  uint64_t uid_;  // tells cache entries of different models apart (never reused)
};

struct WordPieceOptions {
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

// vocab.txt lines (id = line index).
std::unique_ptr<Model> make_wordpiece(const std::vector<std::string>& vocab, const WordPieceOptions& o);
// Builds a model from its tokenizer.json object; `where` names it in errors.
std::unique_ptr<Model> make_model(const nlohmann::json& j, const std::string& where);

// Per-type builders behind make_model (bpe.cpp, wordpiece.cpp, wordlevel.cpp).
std::unique_ptr<Model> make_bpe(const nlohmann::json& j, const std::string& where);
std::unique_ptr<Model> make_wordpiece_json(const nlohmann::json& j, const std::string& where);
std::unique_ptr<Model> make_wordlevel(const nlohmann::json& j, const std::string& where);

// Reads a vocab.txt: one token per line, only the line end stripped (as transformers reads it).
std::vector<std::string> read_vocab_txt(const std::string& path);

}  // namespace medenc::tok
