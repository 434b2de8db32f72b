// libFuzzer target: random bytes through both tokenizer kinds (byte-level BPE and WordPiece, from
// tokenizer.json and from vocab.txt) with random options. Invalid UTF-8 must give medenc::Error,
// never a crash; every encoding must be internally consistent.
//   build-fuzz/fuzz/fuzz_tokenizer -max_total_time=600 -max_len=4096 CORPUS_DIR
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "medenc/error.h"
#include "medenc/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

const medenc::Tokenizer& pick(uint8_t which) {
  static const std::string dir = MEDENC_FUZZ_TOKENIZERS;
  static auto modern = medenc::Tokenizer::from_dir(dir + "/modernbert-base");
  static auto uncased = medenc::Tokenizer::from_dir(dir + "/bert-base-uncased");
  static auto cased = medenc::Tokenizer::from_tokenizer_json(dir + "/bert-base-cased/tokenizer.json");
  switch (which % 3) {
    case 0: return *modern;
    case 1: return *uncased;
    default: return *cased;
  }
}

void check(bool ok) {
  if (!ok) std::abort();
}

int64_t codepoints(std::string_view s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void check_encoding(const medenc::Tokenizer& tok, const medenc::Encoding& e, int64_t len_a, int64_t len_b, int depth) {
  const size_t n = e.ids.size();
  check(e.tokens.size() == n && e.offsets.size() == n && e.type_ids.size() == n && e.special_tokens_mask.size() == n &&
        e.sequence_ids.size() == n && e.word_ids.size() == n && e.attention_mask.size() == n);
  for (size_t i = 0; i < n; ++i) {
    check(e.ids[i] >= 0 && e.ids[i] < tok.vocab_size());
    const auto [s, t] = e.offsets[i];
    const int64_t limit = e.sequence_ids[i] == 1 ? len_b : len_a;
    check(0 <= s && s <= t && t <= std::max(len_a, len_b));
    if (e.sequence_ids[i] >= 0 && e.special_tokens_mask[i] == 0) check(t <= limit);
  }
  check(depth < 4);
  for (const auto& o : e.overflowing) check_encoding(tok, o, len_a, len_b, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const medenc::Tokenizer& tok = pick(data[0]);
  const uint8_t flags = data[1];
  medenc::EncodeOptions o;
  o.add_special_tokens = (flags & 1) == 0;
  if (flags & 2) {
    o.max_length = data[2] % 40;
    o.stride = data[3] % 8;
    o.strategy = static_cast<medenc::TruncationStrategy>((flags >> 2) % 3);
    o.side = (flags & 0x20) ? medenc::TruncationSide::Left : medenc::TruncationSide::Right;
    o.stop_at_max_length = (flags & 0x40) != 0;
  }
  std::string_view text(reinterpret_cast<const char*>(data) + 4, size - 4);
  std::string_view pair;
  const bool with_pair = (flags & 0x80) != 0;
  if (with_pair) {
    const size_t cut = text.size() ? data[3] % (text.size() + 1) : 0;
    pair = text.substr(cut);
    text = text.substr(0, cut);
  }
  const bool valid = medenc::tok::invalid_utf8_at(text) == std::string_view::npos &&
                     medenc::tok::invalid_utf8_at(pair) == std::string_view::npos;
  try {
    medenc::Encoding e = with_pair ? tok.encode_pair(text, pair, o) : tok.encode(text, o);
    check(valid);
    check_encoding(tok, e, codepoints(text), codepoints(pair), 0);
    const std::string decoded = tok.decode(e.ids, (flags & 4) != 0, (flags & 8) != 0);
    check(medenc::tok::invalid_utf8_at(decoded) == std::string_view::npos);
    tok.tokens_to_string(e.tokens);
    std::vector<medenc::Encoding> batch{std::move(e)};
    medenc::PaddingOptions p;
    p.length = data[2] % 64;
    p.left = (flags & 16) != 0;
    tok.pad(batch, p);
  } catch (const medenc::Error&) {
    // Expected for invalid UTF-8 and for truncation settings that cannot be met.
    if (!valid) return 0;
    check(o.max_length > 0);
  }
  return 0;
}
