// Token-classification logits to entities, as Hugging Face's token-classification pipeline does it.
#include "medenc/ner.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "medenc/error.h"
#include "tasks/spans.h"

namespace medenc {



NerAggregation parse_ner_aggregation(const std::string& name) {
  if (name == "none") return NerAggregation::None;
  if (name == "simple") return NerAggregation::Simple;
  if (name == "first") return NerAggregation::First;
  if (name == "average") return NerAggregation::Average;
  if (name == "max") return NerAggregation::Max;
  throw Error(fmt::format("unknown aggregation '{}' (none, simple, first, average, max)", name));
}

int64_t count_codepoints(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

namespace {

// The code point at index k is U+0020 (the pipeline's heuristic looks for a plain space only).
bool is_space_at(std::string_view text, std::span<const size_t> cp, int64_t k) {
  if (k < 0 || k + 1 >= (int64_t)cp.size()) return false;
  return cp[k + 1] - cp[k] == 1 && text[cp[k]] == ' ';
}

std::string_view slice(std::string_view text, std::span<const size_t> cp, int64_t start, int64_t end) {
  const int64_t n = (int64_t)cp.size() - 1;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  return text.substr(cp[start], cp[end] - cp[start]);
}

size_t argmax(std::span<const float> v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = i;  // first of equal maxima, as numpy
  return best;
}

double nanmean(const std::vector<double>& v) {
  double sum = 0;
  int64_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) sum += x, ++n;
  return n ? sum / (double)n : std::nan("");
}

const std::string& label_of(const NerLabeling& l, size_t i) {
  static const std::string unknown = "UNKNOWN";
  return i < l.id2label.size() ? l.id2label[i] : unknown;
}

std::string decode(const NerLabeling& l, const std::vector<std::string>& words) {
  if (l.tokens_to_string) return l.tokens_to_string(words);
  std::string s;
  for (const auto& w : words) s += w;
  return s;
}

// One word (a token and the subword tokens after it) under first / average / max.
NerEntity aggregate_word(const std::vector<const NerToken*>& word, const NerLabeling& l, NerAggregation how) {
  std::vector<std::string> pieces;
  for (const NerToken* t : word) pieces.push_back(t->word);
  NerEntity e;
  e.word = decode(l, pieces);
  e.start = word.front()->start;
  e.end = word.back()->end;
  if (how == NerAggregation::Average) {
    const size_t L = word.front()->scores.size();
    std::vector<float> mean(L);
    for (size_t k = 0; k < L; ++k) {
      std::vector<double> col;
      for (const NerToken* t : word) col.push_back(t->scores[k]);
      mean[k] = (float)nanmean(col);
    }
    const size_t best = argmax(mean);
    e.label = label_of(l, best);
    e.score = mean[best];
    return e;
  }
  const NerToken* chosen = word.front();
  if (how == NerAggregation::Max) {
    float best = -1;
    for (const NerToken* t : word) {
      const float m = t->scores[argmax(t->scores)];
      if (m > best) best = m, chosen = t;  // first of equal maxima, as Python's max()
    }
  }
  const size_t best = argmax(chosen->scores);
  e.label = label_of(l, best);
  e.score = chosen->scores[best];
  return e;
}

// (bi, tag): "B-X" -> (B, X), "I-X" -> (I, X), anything else -> (I, label).
std::pair<char, std::string_view> bi_tag(std::string_view label) {
  if (label.starts_with("B-")) return {'B', label.substr(2)};
  if (label.starts_with("I-")) return {'I', label.substr(2)};
  return {'I', label};
}

NerEntity close_group(const std::vector<NerEntity>& members, const NerLabeling& l) {
  NerEntity g;
  const std::string& first = members.front().label;
  const size_t dash = first.find('-');
  g.label = dash == std::string::npos ? first : first.substr(dash + 1);
  std::vector<double> scores;
  std::vector<std::string> words;
  for (const NerEntity& m : members) scores.push_back(m.score), words.push_back(m.word);
  g.score = nanmean(scores);
  g.word = decode(l, words);
  g.start = members.front().start;
  g.end = members.back().end;
  return g;
}

std::vector<NerEntity> group_entities(const std::vector<NerEntity>& entities, const NerLabeling& l) {
  std::vector<NerEntity> groups, open;
  for (const NerEntity& e : entities) {
    if (!open.empty()) {
      const auto [bi, tag] = bi_tag(e.label);
      const auto [last_bi, last_tag] = bi_tag(open.back().label);
      if (tag == last_tag && bi != 'B') {
        open.push_back(e);
        continue;
      }
      groups.push_back(close_group(open, l));
      open.clear();
    }
    open.push_back(e);
  }
  if (!open.empty()) groups.push_back(close_group(open, l));
  return groups;
}

}  // namespace

std::vector<NerToken> ner_pre_entities(std::string_view text, std::span<const size_t> cp, const Encoding& window,
                                       std::span<const float> logits, const NerLabeling& l) {
  const size_t n = window.ids.size();
  const size_t L = l.id2label.size();
  if (L == 0 || logits.size() != n * L)
    throw Error(fmt::format("ner: {} logits for {} tokens and {} labels", logits.size(), n, L));
  std::vector<NerToken> tokens;
  for (size_t i = 0; i < n; ++i) {
    if (i < window.special_tokens_mask.size() && window.special_tokens_mask[i]) continue;
    NerToken t;
    t.index = (int64_t)i;
    t.word = i < window.tokens.size() ? window.tokens[i] : std::string();
    t.start = window.offsets[i].first;
    t.end = window.offsets[i].second;
    const std::string_view ref = slice(text, cp, t.start, t.end);
    if (l.word_aware) t.is_subword = count_codepoints(t.word) != count_codepoints(ref);
    else t.is_subword = t.start > 0 && !is_space_at(text, cp, t.start - 1) && !is_space_at(text, cp, t.start);
    if (l.unk_id && window.ids[i] == *l.unk_id) {
      t.word = std::string(ref);
      t.is_subword = false;
    }
    // Softmax in double, stored as float like the pipeline's float32 scores.
    const float* row = logits.data() + i * L;
    const float m = *std::max_element(row, row + L);
    double sum = 0;
    std::vector<double> e(L);
    for (size_t k = 0; k < L; ++k) sum += e[k] = std::exp((double)row[k] - m);
    t.scores.resize(L);
    for (size_t k = 0; k < L; ++k) t.scores[k] = (float)(e[k] / sum);
    tokens.push_back(std::move(t));
  }
  return tokens;
}

std::vector<NerEntity> ner_aggregate(const std::vector<NerToken>& tokens, const NerLabeling& l, const NerOptions& o) {
  std::vector<NerEntity> entities;
  if (o.aggregation == NerAggregation::None || o.aggregation == NerAggregation::Simple) {
    for (const NerToken& t : tokens) {
      NerEntity e;
      const size_t best = argmax(t.scores);
      e.label = label_of(l, best);
      e.score = t.scores[best];
      e.word = t.word;
      e.start = t.start;
      e.end = t.end;
      e.index = t.index;
      entities.push_back(std::move(e));
    }
  } else {
    std::vector<const NerToken*> word;
    for (const NerToken& t : tokens) {
      if (!word.empty() && !t.is_subword) {
        entities.push_back(aggregate_word(word, l, o.aggregation));
        word.clear();
      }
      word.push_back(&t);
    }
    if (!word.empty()) entities.push_back(aggregate_word(word, l, o.aggregation));
  }
  if (o.aggregation != NerAggregation::None) entities = group_entities(entities, l);
  std::erase_if(entities, [&](const NerEntity& e) {
    return std::find(o.ignore_labels.begin(), o.ignore_labels.end(), e.label) != o.ignore_labels.end();
  });
  return entities;
}

std::vector<NerEntity> merge_window_entities(std::vector<NerEntity> entities) {
  if (entities.empty()) return entities;
  std::stable_sort(entities.begin(), entities.end(),
                   [](const NerEntity& a, const NerEntity& b) { return a.start < b.start; });
  std::vector<NerEntity> merged;
  NerEntity prev = entities.front();
  for (size_t i = 1; i < entities.size(); ++i) {
    const NerEntity& cur = entities[i];
    if (prev.start <= cur.start && cur.start < prev.end) {
      const int64_t cur_len = cur.end - cur.start, prev_len = prev.end - prev.start;
      if (cur_len > prev_len || (cur_len == prev_len && cur.score > prev.score)) prev = cur;
    } else {
      merged.push_back(std::move(prev));
      prev = cur;
    }
  }
  merged.push_back(std::move(prev));
  return merged;
}

std::vector<NerEntity> ner_entities(std::string_view text, std::span<const size_t> cp, std::span<const Window> windows,
                                    const NerLabeling& l, const NerOptions& o) {
  std::vector<NerEntity> all;
  for (const Window& w : windows) {
    std::vector<NerEntity> e = ner_aggregate(ner_pre_entities(text, cp, w.enc, w.values, l), l, o);
    all.insert(all.end(), std::make_move_iterator(e.begin()), std::make_move_iterator(e.end()));
  }
  if (windows.size() > 1) all = merge_window_entities(std::move(all));
  return all;
}

std::vector<EntitySpan> entity_spans(std::string_view text, std::span<const size_t> cp,
                                     const std::vector<NerEntity>& entities) {
  const int64_t n = (int64_t)cp.size() - 1;
  std::vector<EntitySpan> spans;
  spans.reserve(entities.size());
  for (const NerEntity& e : entities) {
    const int64_t hf_start = std::clamp<int64_t>(e.start, 0, n), hf_end = std::clamp<int64_t>(e.end, hf_start, n);
    const auto [start, end] = trim_whitespace(text, cp, hf_start, hf_end);
    EntitySpan& s = spans.emplace_back();
    s.label = e.label;
    s.start = start;
    s.end = end;
    s.text = std::string(slice(text, cp, start, end));
    s.score = e.score;
    s.word = e.word;
    s.hf_start = e.start;
    s.hf_end = e.end;
    s.index = e.index;
  }
  return spans;
}

}  // namespace medenc
