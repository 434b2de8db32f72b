#pragma once
// The encoding while it is being built: the public Encoding plus the sequence ranges Hugging Face
// keeps to derive sequence ids, and the overflowing windows. Merging, truncation and the final
// conversion follow `tokenizers` exactly (overflowing windows of a pair combine the same way).
#include <map>
#include <utility>
#include <vector>

#include "medenc/tokenizer.h"

namespace medenc::tok {

struct Enc {
  std::vector<int32_t> ids, type_ids, words;  // words: -1 for none
  std::vector<std::string> tokens;
  std::vector<std::pair<int64_t, int64_t>> offsets;
  std::vector<uint8_t> special_tokens_mask, attention_mask;
  std::map<int, std::pair<size_t, size_t>> ranges;  // sequence id -> token range
  std::vector<Enc> overflowing;
  // Tokens tokenizers >= 0.23 would have made of this sequence: it stops after the word that reaches
  // max_length, and splits a pair's budget by these lengths. 0: all (size()).
  size_t tokens_seen = 0;

  size_t size() const { return ids.size(); }
  void reserve(size_t n);
  // Appends one token.
  void push(int32_t id, std::string token, std::pair<int64_t, int64_t> offset, int32_t type_id, int32_t word,
            uint8_t special);
  void set_sequence_id(int id) { ranges[id] = {0, size()}; }
  // Tokens [b, e) as a new encoding (no ranges, no overflowing).
  Enc slice(size_t b, size_t e) const;
};

// Appends `pair` to `a` (HF Encoding::merge_with), combining their overflowing windows.
void merge_with(Enc& a, Enc pair, bool growing_offsets);
// Concatenation of all, left to right (HF Encoding::merge).
Enc merge_all(std::vector<Enc> encodings, bool growing_offsets);

// Keeps the first (or last) max_len tokens and moves the rest into overflowing windows that
// overlap by `stride` tokens (HF Encoding::truncate).
void truncate(Enc& e, size_t max_len, size_t stride, bool left);

// Truncates a single sequence or a pair to max_length tokens in all (HF truncate_encodings).
void truncate_pair(Enc& a, Enc* b, size_t max_length, size_t stride, TruncationStrategy strategy, bool left);

// The public form: sequence ids from the ranges, overflowing windows converted recursively.
Encoding finish(Enc&& e);

}  // namespace medenc::tok
