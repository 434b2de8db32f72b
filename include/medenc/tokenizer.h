#pragma once
// Tokenizers with exact Hugging Face `tokenizers` parity: byte-level BPE (ModernBERT) and WordPiece
// (BERT, GatorTron), loaded from tokenizer.json, or from vocab.txt + tokenizer_config.json.
//
// Offsets are Unicode code-point offsets into the sequence a token came from, exactly as Hugging
// Face reports them (Python str indices). Special tokens added by the post-processor have (0, 0).
//
// Invalid UTF-8 in any input text is an error (medenc::Error naming the byte offset), never a crash
// and never silently replaced. The empty string encodes to just the special tokens.
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
  std::vector<uint8_t> attention_mask;       // 1, or 0 on padding
  // Further windows when truncation cut the text (each with its special tokens). As in Hugging
  // Face, a window's sequence_ids come from the template ranges, and for a pair each window of one
  // sequence is combined with the other sequence (and with each of its windows).
  std::vector<Encoding> overflowing;

  size_t size() const { return ids.size(); }
};

enum class TruncationStrategy { LongestFirst, OnlyFirst, OnlySecond };
enum class TruncationSide { Right, Left };

struct EncodeOptions {
  bool add_special_tokens = true;
  int64_t max_length = 0;  // 0: no truncation. Counts special tokens, as Hugging Face does.
  int64_t stride = 0;      // overlap between consecutive overflowing windows
  TruncationStrategy strategy = TruncationStrategy::LongestFirst;
  TruncationSide side = TruncationSide::Right;  // which end is cut (transformers' truncation_side)
  // With max_length set: stop tokenizing a sequence once it has max_length tokens, as Hugging Face
  // `tokenizers` >= 0.23 does (after the word that reaches the limit; from the end for Left). The
  // overflowing windows then only cover the text up to there. Off (default): the whole text is
  // tokenized and the windows cover all of it, as with tokenizers 0.21 (transformers 4.48); a pair's
  // budget is still split as 0.23 splits it, so the first window is 0.23's either way.
  bool stop_at_max_length = false;
};

// Hugging Face `tokenizers` padding (applied after encoding, to a batch).
struct PaddingOptions {
  int64_t length = 0;              // 0: pad to the longest encoding of the batch
  int64_t pad_to_multiple_of = 0;  // round the length up to a multiple of this (0: off)
  bool left = false;               // pad on the left instead of the right
  int32_t pad_type_id = 0;
};

class Tokenizer {
 public:
  // DIR/tokenizer.json, else DIR/vocab.txt (+ tokenizer_config.json; do_lower_case defaults to true).
  // tokenizer_config.json arguments override the normalizer the way transformers does for BERT.
  // The "truncation" and "padding" blocks of tokenizer.json are ignored: as in transformers, they
  // come with each call (EncodeOptions, pad()).
  static std::unique_ptr<Tokenizer> from_dir(const std::string& dir);
  static std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path);
  ~Tokenizer();

  // Invalid UTF-8 in the input throws medenc::Error naming the byte offset.
  Encoding encode(std::string_view text, const EncodeOptions& options = {}) const;
  Encoding encode_pair(std::string_view text, std::string_view pair, const EncodeOptions& options = {}) const;
  // Many texts on `threads` threads (0: all cores); same results as encode() one by one. The first
  // error (in input order) is thrown.
  std::vector<Encoding> encode_batch(std::span<const std::string> texts, const EncodeOptions& options = {},
                                     int threads = 0) const;
  // Pads every encoding and its overflowing windows with the pad token (pad_id(); throws when the
  // tokenizer has none): pad ids, pad token, type pad_type_id, offsets (0, 0), attention 0,
  // special_tokens_mask 1, word and sequence id -1.
  void pad(std::vector<Encoding>& batch, const PaddingOptions& options = {}) const;

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
