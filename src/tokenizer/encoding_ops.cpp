#include "tokenizer/encoding_ops.h"

#include <algorithm>

#include "medenc/error.h"

namespace medenc::tok {

void Enc::reserve(size_t n) {
  ids.reserve(n);
  type_ids.reserve(n);
  words.reserve(n);
  tokens.reserve(n);
  offsets.reserve(n);
  special_tokens_mask.reserve(n);
  attention_mask.reserve(n);
}

void Enc::push(int32_t id, std::string token, std::pair<int64_t, int64_t> offset, int32_t type_id, int32_t word,
               uint8_t special) {
  ids.push_back(id);
  tokens.push_back(std::move(token));
  offsets.push_back(offset);
  type_ids.push_back(type_id);
  words.push_back(word);
  special_tokens_mask.push_back(special);
  attention_mask.push_back(1);
}

Enc Enc::slice(size_t b, size_t e) const {
  Enc out;
  auto cut = [&](const auto& v, auto& dst) { dst.assign(v.begin() + static_cast<std::ptrdiff_t>(b), v.begin() + static_cast<std::ptrdiff_t>(e)); };
  cut(ids, out.ids);
  cut(type_ids, out.type_ids);
  cut(words, out.words);
  cut(tokens, out.tokens);
  cut(offsets, out.offsets);
  cut(special_tokens_mask, out.special_tokens_mask);
  cut(attention_mask, out.attention_mask);
  return out;
}

void merge_with(Enc& a, Enc pair, bool growing_offsets) {
  std::vector<Enc> overflowings;
  for (const Enc& self_o : a.overflowing) {
    Enc n = self_o;
    merge_with(n, pair, growing_offsets);
    overflowings.push_back(std::move(n));
    for (const Enc& other_o : pair.overflowing) {
      Enc m = self_o;
      merge_with(m, other_o, growing_offsets);
      overflowings.push_back(std::move(m));
    }
  }
  for (const Enc& other_o : pair.overflowing) {
    Enc n = a;
    merge_with(n, other_o, growing_offsets);
    overflowings.push_back(std::move(n));
  }
  const size_t base = a.size();
  for (const auto& [seq, r] : pair.ranges) a.ranges[seq] = {r.first + base, r.second + base};
  const int64_t shift = growing_offsets && !a.offsets.empty() ? a.offsets.back().second : 0;
  a.ids.insert(a.ids.end(), pair.ids.begin(), pair.ids.end());
  a.type_ids.insert(a.type_ids.end(), pair.type_ids.begin(), pair.type_ids.end());
  a.words.insert(a.words.end(), pair.words.begin(), pair.words.end());
  for (auto& t : pair.tokens) a.tokens.push_back(std::move(t));
  for (auto [s, e] : pair.offsets) a.offsets.emplace_back(s + shift, e + shift);
  a.special_tokens_mask.insert(a.special_tokens_mask.end(), pair.special_tokens_mask.begin(), pair.special_tokens_mask.end());
  a.attention_mask.insert(a.attention_mask.end(), pair.attention_mask.begin(), pair.attention_mask.end());
  a.overflowing = std::move(overflowings);
}

Enc merge_all(std::vector<Enc> encodings, bool growing_offsets) {
  Enc out;
  for (Enc& e : encodings) merge_with(out, std::move(e), growing_offsets);
  return out;
}

void truncate(Enc& e, size_t max_len, size_t stride, bool left) {
  const size_t n = e.size();
  if (max_len >= n) return;
  if (max_len == 0) {
    Enc all = std::move(e);
    e = Enc{};
    e.overflowing.push_back(std::move(all));
    return;
  }
  if (stride >= max_len)
    throw Error("truncation: stride (" + std::to_string(stride) + ") must be smaller than the tokens left for a sequence (" +
                std::to_string(max_len) + ")");
  const size_t step = max_len - stride;
  std::vector<std::pair<size_t, size_t>> parts;
  if (!left) {
    for (size_t start = 0; start < n; start += step) {
      const size_t stop = std::min(start + max_len, n);
      parts.emplace_back(start, stop);
      if (stop == n) break;
    }
  } else {
    for (size_t k = 0; k < n; k += step) {
      const size_t stop = n - k;
      const size_t start = stop > max_len ? stop - max_len : 0;
      parts.emplace_back(start, stop);
      if (start == 0) break;
    }
  }
  Enc out = e.slice(parts[0].first, parts[0].second);
  for (size_t i = 1; i < parts.size(); ++i) out.overflowing.push_back(e.slice(parts[i].first, parts[i].second));
  e = std::move(out);
}

void truncate_pair(Enc& a, Enc* b, size_t max_length, size_t stride, TruncationStrategy strategy, bool left) {
  if (max_length == 0) {
    truncate(a, 0, stride, left);
    if (b) truncate(*b, 0, stride, left);
    return;
  }
  const size_t total = a.size() + (b ? b->size() : 0);
  if (total <= max_length) return;
  const size_t to_remove = total - max_length;
  if (strategy == TruncationStrategy::LongestFirst) {
    if (!b) {
      truncate(a, total - to_remove, stride, left);
      return;
    }
    // The split follows the lengths tokenizers 0.23 sees (it stops early at max_length): when both
    // texts reach it, the second gets the odd token, whichever is longer.
    auto seen = [](const Enc& e) { return e.tokens_seen > 0 ? std::min(e.tokens_seen, e.size()) : e.size(); };
    size_t n1 = seen(a), n2 = seen(*b);
    const bool swapped = n1 > n2;
    if (swapped) std::swap(n1, n2);
    n2 = n1 > max_length ? n1 : std::max(n1, max_length - n1);
    if (n1 + n2 > max_length) {
      n1 = max_length / 2;
      n2 = n1 + max_length % 2;
    }
    if (swapped) std::swap(n1, n2);
    truncate(a, n1, stride, left);
    truncate(*b, n2, stride, left);
    return;
  }
  Enc* target = strategy == TruncationStrategy::OnlyFirst ? &a : b;
  if (!target) throw Error("truncation: only_second needs a second sequence");
  if (target->size() <= to_remove)
    throw Error("truncation: the sequence to truncate is too short to fit max_length (it has " +
                std::to_string(target->size()) + " tokens, " + std::to_string(to_remove) + " must go)");
  truncate(*target, target->size() - to_remove, stride, left);
}

Encoding finish(Enc&& e) {
  Encoding out;
  const size_t n = e.size();
  out.sequence_ids.assign(n, -1);
  if (e.ranges.empty()) {
    std::fill(out.sequence_ids.begin(), out.sequence_ids.end(), 0);
  } else {
    for (int seq = 0; seq < static_cast<int>(e.ranges.size()); ++seq) {
      auto it = e.ranges.find(seq);
      const std::pair<size_t, size_t> r = it == e.ranges.end() ? std::pair<size_t, size_t>(0, n) : it->second;
      for (size_t i = r.first; i < r.second && i < n; ++i) out.sequence_ids[i] = seq;
    }
  }
  out.ids = std::move(e.ids);
  out.type_ids = std::move(e.type_ids);
  out.word_ids = std::move(e.words);
  out.tokens = std::move(e.tokens);
  out.offsets = std::move(e.offsets);
  out.special_tokens_mask = std::move(e.special_tokens_mask);
  out.attention_mask = std::move(e.attention_mask);
  out.overflowing.reserve(e.overflowing.size());
  for (Enc& o : e.overflowing) out.overflowing.push_back(finish(std::move(o)));
  return out;
}

}  // namespace medenc::tok
