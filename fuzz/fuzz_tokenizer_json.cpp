// libFuzzer target: loading tokenizer.json (models WordPiece, BPE, WordLevel, Unigram; normalizers,
// pre-tokenizers, post-processors, decoders, added tokens). Anything malformed must give
// medenc::Error, never a crash or a hang; a tokenizer that loads must encode and decode a few texts.
// The corpus seeds are small hand-made tokenizer.json files of each kind.
//   build-fuzz/fuzz/fuzz_tokenizer_json -max_total_time=600 -max_len=8192 fuzz/corpus/fuzz_tokenizer_json
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "medenc/error.h"
#include "medenc/tokenizer.h"

using medenc::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = medenc::fuzz::scratch_dir() + "/tokenizer.json";
  medenc::fuzz::write_bytes(path, std::string_view(reinterpret_cast<const char*>(data), size));
  std::unique_ptr<medenc::Tokenizer> tok;
  try {
    tok = medenc::Tokenizer::from_tokenizer_json(path);
  } catch (const medenc::Error&) {
    return 0;
  }
  for (const char* text : {"", "Chest pain, fever 38.5\xC2\xB0" "C.", "hello world [MASK] unaffable", "  a\tb\nc  "}) {
    try {
      medenc::EncodeOptions o;
      o.max_length = 8;
      o.stride = 1;
      const medenc::Encoding e = tok->encode_pair(text, "pair text", o);
      for (int32_t id : e.ids) check(id >= 0 && id < tok->vocab_size(), "ids inside the vocabulary");
      tok->decode(e.ids);
    } catch (const medenc::Error&) {
      // e.g. a model without an unknown token that meets an unknown character
    }
  }
  return 0;
}
