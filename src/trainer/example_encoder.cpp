// Examples to model inputs: tokenization with truncation, labels to ids, NER tags on first sub-tokens,
// and masked-LM masking.
#include <fmt/format.h>

#include "medenc/datasets.h"
#include "medenc/error.h"
#include "util/random.h"

namespace medenc {

ExampleEncoder::ExampleEncoder(const Tokenizer& tokenizer, TaskKind task, LabelSpace labels, int64_t max_length,
                               bool with_type_ids)
    : tokenizer_(tokenizer), task_(task), labels_(std::move(labels)), max_length_(max_length),
      with_type_ids_(with_type_ids) {
  if (max_length_ < 2) throw Error(fmt::format("max length {} is too short", max_length_));
}

Encoding ExampleEncoder::encode_text(const Example& ex, bool* truncated) const {
  EncodeOptions eo;
  eo.max_length = max_length_;
  Encoding enc = ex.text_pair ? tokenizer_.encode_pair(ex.text, *ex.text_pair, eo) : tokenizer_.encode(ex.text, eo);
  *truncated = !enc.overflowing.empty();
  return enc;
}

EncodedExample ExampleEncoder::encode(const Example& ex) const {
  EncodedExample out;
  Encoding enc = encode_text(ex, &out.truncated);
  enc.overflowing.clear();
  out.ids = enc.ids;
  if (with_type_ids_) out.type_ids = enc.type_ids;
  out.special = enc.special_tokens_mask;
  switch (task_) {
    case TaskKind::Regression: out.score = (float)ex.score; break;
    case TaskKind::SingleLabel:
      out.label = labels_.find(ex.labels.at(0));
      if (out.label < 0) throw Error(fmt::format("line {}: label '{}' is not in the label set", ex.line, ex.labels[0]));
      break;
    case TaskKind::MultiLabel:
      out.multi_hot.assign((size_t)labels_.size(), 0.0f);
      for (const std::string& l : ex.labels)
        if (int32_t id = labels_.find(l); id >= 0) out.multi_hot[(size_t)id] = 1.0f;
      break;
    case TaskKind::Ner: {
      const Encoding* windows[1] = {&enc};
      const std::vector<TextSpan> words = ex.words.empty() ? tokenizer_words(ex.text, windows) : ex.words;
      const std::vector<std::string> tags = word_bio_tags(words, ex.entities);
      const std::vector<int64_t> tw = token_words(ex.text, enc, words);
      std::vector<uint8_t> seen(words.size(), 0);
      out.token_labels.assign(enc.size(), -100);
      const int32_t outside = labels_.find("O");
      for (size_t t = 0; t < enc.size(); ++t) {
        const int64_t w = tw[t];
        if (w < 0 || seen[(size_t)w]) continue;
        seen[(size_t)w] = 1;
        // An entity type outside the label set (--label-list) is trained as O.
        const int32_t id = labels_.find(tags[(size_t)w]);
        out.token_labels[t] = id >= 0 ? id : (outside >= 0 ? outside : -100);
      }
      break;
    }
    case TaskKind::Mlm: break;
  }
  return out;
}

ExampleEncoder::NerWindows ExampleEncoder::encode_ner_windows(const Example& ex) const {
  NerWindows out;
  bool truncated = false;
  Encoding enc = encode_text(ex, &truncated);
  std::vector<Encoding> rest = std::move(enc.overflowing);
  enc.overflowing.clear();
  out.windows.push_back(std::move(enc));
  for (Encoding& w : rest) out.windows.push_back(std::move(w));
  std::vector<const Encoding*> ptrs;
  for (const Encoding& w : out.windows) ptrs.push_back(&w);
  const std::vector<TextSpan> words = ex.words.empty() ? tokenizer_words(ex.text, ptrs) : ex.words;
  out.gold_tags = word_bio_tags(words, ex.entities);
  out.first_token.assign(words.size(), {-1, -1});
  for (size_t w = 0; w < out.windows.size(); ++w) {
    const std::vector<int64_t> tw = token_words(ex.text, out.windows[w], words);
    for (size_t t = 0; t < tw.size(); ++t)
      if (tw[t] >= 0 && out.first_token[(size_t)tw[t]].first < 0) out.first_token[(size_t)tw[t]] = {(int32_t)w, (int32_t)t};
  }
  return out;
}

void mask_tokens(std::vector<int32_t>& ids, const std::vector<uint8_t>& special, double probability, int32_t mask_id,
                 int64_t vocab_size, uint64_t seed, std::vector<int32_t>& labels) {
  Rng rng(seed);
  labels.assign(ids.size(), -100);
  for (size_t t = 0; t < ids.size(); ++t) {
    if (t < special.size() && special[t]) continue;
    if (rng.uniform() >= probability) continue;
    labels[t] = ids[t];
    const double r = rng.uniform();
    if (r < 0.8) ids[t] = mask_id;
    else if (r < 0.9) ids[t] = (int32_t)rng.below((uint64_t)vocab_size);
  }
}

void add_to_batch(Batch& batch, const EncodedExample& ex, bool with_type_ids) {
  if (with_type_ids) batch.add(ex.ids, ex.type_ids);
  else batch.add(ex.ids);
}

}  // namespace medenc
