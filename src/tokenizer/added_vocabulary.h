#pragma once
// Added tokens: strings matched in the text before the model runs (special tokens like [MASK], the
// whitespace-run tokens of ModernBERT, ...). Tokens with normalized=false are matched on the raw
// text, the others on each normalized piece; matching is leftmost-longest.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/flat_map.h"
#include "tokenizer/models.h"
#include "tokenizer/normalized_text.h"
#include "tokenizer/normalizers.h"

namespace medenc::tok {

struct AddedToken {
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// Patterns over code points with leftmost-longest, non-overlapping search.
class TokenTrie {
 public:
  struct Hit {
    int32_t value;
    uint32_t b, e;
  };
  void add(const std::vector<char32_t>& pattern, int32_t value);  // the first value for a pattern wins
  bool empty() const { return values_.size() <= 1; }
  void find(const char32_t* s, size_t n, std::vector<Hit>& out) const;

 private:
  int32_t child(int32_t node, char32_t c) const {
    const MergeMap::Value* v = edges_.find(node, static_cast<int32_t>(c));
    return v ? v->id : -1;
  }
  std::vector<int32_t> values_{-1};  // per node (-1: no pattern ends here); node 0 is the root
  MergeMap edges_;  // (node, char) -> child node (in Value::id)
  std::array<bool, 128> first_ascii_{};
  std::unordered_set<char32_t> first_other_;
};

class AddedVocabulary {
 public:
  // Registers the tokens in order, giving each the id Hugging Face gives it: its model vocab id
  // when the model has it, else the next id after the model vocab.
  void build(const std::vector<AddedToken>& tokens, const Model& model, const Normalizer* normalizer);

  // Splits `original` into pieces: added tokens found on the raw text, normalized text pieces, and
  // added tokens found on those normalized pieces.
  void extract_and_normalize(const std::vector<char32_t>& original, const Normalizer* normalizer, PieceList& out) const;

  int32_t token_to_id(std::string_view content) const;  // -1: not an added token
  const AddedToken* token(int32_t id) const;
  bool is_special(std::string_view content) const { return special_.count(std::string(content)) > 0; }
  int64_t max_id() const { return max_id_; }
  const std::unordered_map<int32_t, AddedToken>& by_id() const { return by_id_; }

 private:
  struct Split {
    int32_t id;  // -1: text
    uint32_t b, e;
  };
  void find_splits(const char32_t* s, uint32_t n, const TokenTrie& trie, const std::vector<int32_t>& ids,
                   std::vector<Split>& out) const;

  std::unordered_map<std::string, int32_t> content_to_id_;
  std::unordered_map<int32_t, AddedToken> by_id_;
  std::unordered_set<std::string> special_;
  TokenTrie raw_, normalized_;
  std::vector<int32_t> raw_ids_, normalized_ids_;  // trie value -> token id
  int64_t max_id_ = -1;
};

}  // namespace medenc::tok
