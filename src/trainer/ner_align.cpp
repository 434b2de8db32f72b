// NER labels on tokens: words (given or the tokenizer's), their BIO tags from character spans, and the
// word each token belongs to (offsets trimmed of white space, so byte-level BPE's leading space does not
// pull a token into the previous word).
#include <algorithm>
#include <map>

#include "medenc/datasets.h"
#include "medenc/pipeline.h"
#include "tasks/spans.h"

namespace medenc {

namespace {

bool ascii_space_only(std::string_view s) { return s.find_first_not_of(" \t\r\n\v\f") == std::string_view::npos; }

// The token's code-point range without surrounding white space; empty when nothing but white space.
std::pair<int64_t, int64_t> token_range(std::string_view text, std::span<const size_t> cp, const Encoding& w,
                                        size_t t) {
  if (!w.special_tokens_mask.empty() && w.special_tokens_mask[t]) return {0, 0};
  auto [s, e] = w.offsets[t];
  if (s >= e || e >= (int64_t)cp.size()) return {0, 0};
  auto [ts, te] = trim_whitespace(text, cp, s, e);
  if (ascii_space_only(text.substr(cp[(size_t)ts], cp[(size_t)te] - cp[(size_t)ts]))) return {0, 0};
  return {ts, te};
}

}  // namespace

std::vector<TextSpan> tokenizer_words(std::string_view text, std::span<const Encoding* const> windows) {
  const std::vector<size_t> cp = codepoint_byte_offsets(text);
  std::map<int32_t, std::pair<int64_t, int64_t>> ranges;
  for (const Encoding* w : windows)
    for (size_t t = 0; t < w->size(); ++t) {
      const int32_t word = t < w->word_ids.size() ? w->word_ids[t] : -1;
      if (word < 0) continue;
      auto [s, e] = token_range(text, cp, *w, t);
      if (s >= e) continue;
      auto [it, fresh] = ranges.emplace(word, std::pair{s, e});
      if (!fresh) it->second = {std::min(it->second.first, s), std::max(it->second.second, e)};
    }
  std::vector<TextSpan> words;
  for (auto& [id, r] : ranges) words.push_back({r.first, r.second, ""});
  std::sort(words.begin(), words.end(), [](auto& a, auto& b) { return a.start < b.start; });
  return words;
}

std::vector<std::string> word_bio_tags(const std::vector<TextSpan>& words, const std::vector<TextSpan>& entities) {
  std::vector<std::string> tags(words.size(), "O");
  size_t e = 0;
  int64_t previous_entity = -1;
  for (size_t w = 0; w < words.size(); ++w) {
    while (e < entities.size() && entities[e].end <= words[w].start) ++e;
    if (e < entities.size() && entities[e].start < words[w].end) {
      tags[w] = (previous_entity == (int64_t)e ? "I-" : "B-") + entities[e].label;
      previous_entity = (int64_t)e;
    } else {
      previous_entity = -1;
    }
  }
  return tags;
}

std::vector<int64_t> token_words(std::string_view text, const Encoding& window, const std::vector<TextSpan>& words) {
  const std::vector<size_t> cp = codepoint_byte_offsets(text);
  std::vector<int64_t> out(window.size(), -1);
  for (size_t t = 0; t < window.size(); ++t) {
    auto [s, e] = token_range(text, cp, window, t);
    if (s >= e) continue;
    auto it = std::upper_bound(words.begin(), words.end(), s, [](int64_t v, const TextSpan& w) { return v < w.start; });
    if (it == words.begin()) continue;
    --it;
    if (s < it->end) out[t] = it - words.begin();
  }
  return out;
}

}  // namespace medenc
