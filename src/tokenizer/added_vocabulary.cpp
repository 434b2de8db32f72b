#include "tokenizer/added_vocabulary.h"

#include "tokenizer/unicode.h"

namespace medenc::tok {

void TokenTrie::add(const std::vector<char32_t>& pattern, int32_t value) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (char32_t c : pattern) {
    const int32_t existing = child(node, c);
    if (existing < 0) {
      const auto next = static_cast<int32_t>(values_.size());
      values_.push_back(-1);
      edges_.set(node, static_cast<int32_t>(c), {0, next});
      node = next;
    } else {
      node = existing;
    }
  }
  if (values_[node] < 0) values_[node] = value;
  if (pattern[0] < 128)
    first_ascii_[pattern[0]] = true;
  else
    first_other_.insert(pattern[0]);
}

void TokenTrie::find(const char32_t* s, size_t n, std::vector<Hit>& out) const {
  out.clear();
  if (empty()) return;
  size_t i = 0;
  while (i < n) {
    const char32_t c = s[i];
    if (c < 128 ? !first_ascii_[c] : first_other_.empty() || first_other_.count(c) == 0) {
      ++i;
      continue;
    }
    int32_t node = 0, best = -1;
    size_t best_end = 0;
    for (size_t j = i; j < n; ++j) {
      node = child(node, s[j]);
      if (node < 0) break;
      if (values_[node] >= 0) {
        best = values_[node];
        best_end = j + 1;
      }
    }
    if (best >= 0) {
      out.push_back({best, static_cast<uint32_t>(i), static_cast<uint32_t>(best_end)});
      i = best_end;
    } else {
      ++i;
    }
  }
}

void AddedVocabulary::build(const std::vector<AddedToken>& tokens, const Model& model, const Normalizer* normalizer) {
  int32_t next_new = static_cast<int32_t>(model.vocab_entries());
  for (const AddedToken& t : tokens) {
    if (t.content.empty()) continue;
    if (t.special) special_.insert(t.content);
    int32_t id;
    if (auto it = content_to_id_.find(t.content); it != content_to_id_.end()) {
      id = it->second;
    } else if (int32_t m = model.token_to_id(t.content); m >= 0) {
      id = m;
      content_to_id_[t.content] = id;
    } else {
      id = next_new++;
      content_to_id_[t.content] = id;
    }
    by_id_[id] = t;
    max_id_ = std::max<int64_t>(max_id_, id);
  }
  // Special tokens first, then the others (HF's pattern order); duplicates keep the first.
  for (int pass = 0; pass < 2; ++pass) {
    for (const AddedToken& t : tokens) {
      if (t.content.empty() || t.special != (pass == 0)) continue;
      const int32_t id = content_to_id_.at(t.content);
      if (t.normalized) {
        NormalizedText n;
        n.chars = to_chars(t.content);
        n.start.assign(n.chars.size(), 0);
        n.end.assign(n.chars.size(), 0);
        if (normalizer) normalizer->normalize(n);
        normalized_.add(n.chars, static_cast<int32_t>(normalized_ids_.size()));
        normalized_ids_.push_back(id);
      } else {
        raw_.add(to_chars(t.content), static_cast<int32_t>(raw_ids_.size()));
        raw_ids_.push_back(id);
      }
    }
  }
}

int32_t AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = content_to_id_.find(std::string(content));
  return it == content_to_id_.end() ? -1 : it->second;
}

const AddedToken* AddedVocabulary::token(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

void AddedVocabulary::find_splits(const char32_t* s, uint32_t n, const TokenTrie& trie, const std::vector<int32_t>& ids,
                                  std::vector<Split>& out) const {
  out.clear();
  std::vector<TokenTrie::Hit> hits;
  trie.find(s, n, hits);
  uint32_t start_offset = 0;
  for (const TokenTrie::Hit& h : hits) {
    uint32_t start = h.b, stop = h.e;
    const int32_t id = ids[h.value];
    const AddedToken& t = by_id_.at(id);
    if (t.single_word) {
      const bool start_space = start == 0 || !is_word_char(s[start - 1]);
      const bool stop_space = stop == n || !is_word_char(s[stop]);
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      uint32_t k = start;
      while (k > 0 && is_white_space(s[k - 1])) --k;
      start = std::max(k, start_offset);  // never re-take what the previous match took
    }
    if (t.rstrip)
      while (stop < n && is_white_space(s[stop])) ++stop;
    if (start_offset < start) out.push_back({-1, start_offset, start});
    out.push_back({id, start, stop});
    start_offset = stop;
  }
  if (start_offset != n) out.push_back({-1, start_offset, n});
}

void AddedVocabulary::extract_and_normalize(const std::vector<char32_t>& original, const Normalizer* normalizer,
                                            PieceList& out) const {
  out.text.clear();
  out.pieces.clear();
  out.text.shift = 0;
  const auto n = static_cast<uint32_t>(original.size());
  if (n == 0) return;
  out.text.reserve(n + n / 8);
  std::vector<Split> raw, inner;
  if (raw_.empty())
    raw.push_back({-1, 0, n});
  else
    find_splits(original.data(), n, raw_, raw_ids_, raw);
  NormalizedText piece;
  for (const Split& sp : raw) {
    if (sp.e <= sp.b) continue;
    if (sp.id >= 0) {
      const auto b = static_cast<uint32_t>(out.text.size());
      for (uint32_t k = sp.b; k < sp.e; ++k) out.text.push(original[k], static_cast<int32_t>(k), static_cast<int32_t>(k + 1));
      out.pieces.push_back({b, static_cast<uint32_t>(out.text.size()), sp.id, static_cast<int32_t>(sp.b)});
      continue;
    }
    piece.clear();
    piece.shift = static_cast<int32_t>(sp.b);
    piece.reserve(sp.e - sp.b);
    for (uint32_t k = sp.b; k < sp.e; ++k) piece.push(original[k], static_cast<int32_t>(k), static_cast<int32_t>(k + 1));
    if (normalizer) normalizer->normalize(piece);
    const auto pn = static_cast<uint32_t>(piece.size());
    if (normalized_.empty()) {
      inner.assign(1, Split{-1, 0, pn});
    } else {
      find_splits(piece.chars.data(), pn, normalized_, normalized_ids_, inner);
    }
    for (const Split& in : inner) {
      if (in.e <= in.b) continue;
      const auto b = static_cast<uint32_t>(out.text.size());
      out.text.append(piece, in.b, in.e);
      out.pieces.push_back({b, static_cast<uint32_t>(out.text.size()), in.id, piece.start[in.b]});
    }
  }
}

}  // namespace medenc::tok
