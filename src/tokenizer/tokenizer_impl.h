#pragma once
// The parts of a loaded tokenizer (shared by the loader and the encode pipeline).
#include <memory>
#include <optional>
#include <string>

#include "medenc/tokenizer.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/decoders.h"
#include "tokenizer/encoding_ops.h"
#include "tokenizer/models.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"

namespace medenc {

struct Tokenizer::Impl {
  std::string source;  // file or folder it was loaded from (for messages)
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::Model> model;
  std::unique_ptr<tok::PostProcessor> post_processor;
  std::unique_ptr<tok::Decoder> decoder;
  tok::AddedVocabulary added;

  // Special token strings (tokenizer_config.json, else guessed from the vocab).
  std::optional<std::string> cls, sep, pad, mask, unk;
  std::optional<int64_t> model_max_length;

  // One sequence through added tokens, normalizer, pre-tokenizer and model (HF
  // encode_single_sequence); type_id is 0 for the first sequence and 1 for the pair. limit > 0:
  // stop after the word where the token count reaches it (from the end when from_end). Without a
  // limit, seen_limit > 0 sets the result's tokens_seen to where that stop would have come.
  tok::Enc encode_sequence(std::string_view text, int32_t type_id, const char* which, size_t limit = 0,
                           bool from_end = false, size_t seen_limit = 0) const;
  Encoding encode(std::string_view text, const std::string_view* pair, const EncodeOptions& options) const;
  int32_t token_to_id(std::string_view token) const;  // -1: unknown
};

namespace tok {
// tokenizer.json -> Impl (no tokenizer_config.json logic).
std::unique_ptr<Tokenizer::Impl> load_tokenizer_json(const std::string& path);
}  // namespace tok

}  // namespace medenc
