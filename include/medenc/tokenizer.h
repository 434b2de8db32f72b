#pragma once
// Tokenizers with exact Hugging Face `tokenizers` parity: byte-level BPE (ModernBERT) and WordPiece
// (BERT, GatorTron), loaded from tokenizer.json, or from vocab.txt + tokenizer_config.json.
//
// Offsets are Unicode code-point offsets into the sequence a token came from, exactly as Hugging
// Face reports them (Python str indices). Special tokens added by the post-processor have (0, 0).
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medenc {

struct Encoding {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<int64_t, int64_t>> offsets;  // code points, [start, end)
  std::vector<int32_t> type_ids;
  std::vector<uint8_t> special_tokens_mask;  // 1 for tokens added by the post-processor
  std::vector<int32_t> sequence_ids;         // 0 / 1, or -1 for added special tokens
  std::vector<int32_t> word_ids;             // pre-tokenizer word index, or -1
  std::vector<Encoding> overflowing;         // further windows when truncating with overflow

  size_t size() const { return ids.size(); }
};

enum class TruncationStrategy { LongestFirst, OnlyFirst, OnlySecond };

struct EncodeOptions {
  bool add_special_tokens = true;
  int64_t max_length = 0;  // 0: no truncation. Counts special tokens, as Hugging Face does.
  int64_t stride = 0;      // overlap between consecutive overflowing windows
  TruncationStrategy strategy = TruncationStrategy::LongestFirst;
};

class Tokenizer {
 public:
  // DIR/tokenizer.json, else DIR/vocab.txt (+ tokenizer_config.json; do_lower_case defaults to true).
  // tokenizer_config.json arguments override the normalizer the way transformers does for BERT.
  static std::unique_ptr<Tokenizer> from_dir(const std::string& dir);
  static std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path);
  ~Tokenizer();

  // Invalid UTF-8 in the input throws medenc::Error naming the byte offset.
  Encoding encode(std::string_view text, const EncodeOptions& options = {}) const;
  Encoding encode_pair(std::string_view text, std::string_view pair, const EncodeOptions& options = {}) const;

  // Decoder applied to ids; skip_special drops special added tokens; cleanup applies
  // clean_up_tokenization_spaces (transformers' decode default).
  std::string decode(std::span<const int32_t> ids, bool skip_special = true, bool cleanup = true) const;
  // The decoder alone on token strings (transformers' convert_tokens_to_string).
  std::string tokens_to_string(const std::vector<std::string>& tokens) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;
  int64_t vocab_size() const;  // model vocab plus added tokens (max id + 1)
  int64_t num_special_tokens_to_add(bool pair) const;

  std::optional<int32_t> cls_id() const;
  std::optional<int32_t> sep_id() const;
  std::optional<int32_t> pad_id() const;
  std::optional<int32_t> mask_id() const;
  std::optional<int32_t> unk_id() const;
  std::string mask_token() const;  // e.g. "[MASK]"
  // True for WordPiece-style models with a continuing-subword prefix ("##"); the NER pipeline's
  // subword detection depends on it.
  bool has_continuing_subword_prefix() const;
  // model_max_length from tokenizer_config.json, if present and sane.
  std::optional<int64_t> model_max_length() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Code-point offsets -> byte offsets in a valid UTF-8 string (for slicing the original text).
std::vector<size_t> codepoint_byte_offsets(std::string_view utf8);  // size = code points + 1

}  // namespace medenc
