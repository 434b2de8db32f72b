// Entity-level NER scores as seqeval computes them, and the multiclass Matthews correlation.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "medenc/error.h"
#include "medenc/metrics.h"

namespace medenc {

namespace {

// Prefix character and type of a tag the way seqeval splits it: "B-T038" -> ('B', "T038"), "O" -> ('O', "_").
std::pair<char, std::string> split_tag(const std::string& tag) {
  if (tag.empty()) return {'O', "_"};
  const std::string_view rest = std::string_view(tag).substr(1);
  const size_t dash = rest.find('-');
  const std::string_view type = dash == std::string_view::npos ? rest : rest.substr(dash + 1);
  return {tag[0], type.empty() ? std::string("_") : std::string(type)};
}

bool end_of_chunk(char prev, char tag, const std::string& prev_type, const std::string& type) {
  if (prev == 'E' || prev == 'S') return true;
  if (prev == 'B' && (tag == 'B' || tag == 'S' || tag == 'O')) return true;
  if (prev == 'I' && (tag == 'B' || tag == 'S' || tag == 'O')) return true;
  return prev != 'O' && prev != '.' && prev_type != type;
}

bool start_of_chunk(char prev, char tag, const std::string& prev_type, const std::string& type) {
  if (tag == 'B' || tag == 'S') return true;
  if ((prev == 'E' || prev == 'S' || prev == 'O') && (tag == 'E' || tag == 'I')) return true;
  return tag != 'O' && tag != '.' && prev_type != type;
}

std::vector<std::string> flatten(const std::vector<std::vector<std::string>>& sequences) {
  std::vector<std::string> flat;
  for (const auto& s : sequences) {
    flat.insert(flat.end(), s.begin(), s.end());
    flat.push_back("O");
  }
  return flat;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

}  // namespace

std::vector<TaggedEntity> seqeval_entities(const std::vector<std::vector<std::string>>& sequences) {
  std::vector<std::string> flat = flatten(sequences);
  flat.push_back("O");
  std::vector<TaggedEntity> out;
  char prev = 'O';
  std::string prev_type;
  int64_t begin = 0;
  for (size_t i = 0; i < flat.size(); ++i) {
    auto [tag, type] = split_tag(flat[i]);
    if (end_of_chunk(prev, tag, prev_type, type)) out.push_back({prev_type, begin, (int64_t)i});
    if (start_of_chunk(prev, tag, prev_type, type)) begin = (int64_t)i;
    prev = tag;
    prev_type = type;
  }
  return out;
}

std::vector<TaggedEntity> iob2_strict_entities(const std::vector<std::vector<std::string>>& sequences) {
  std::vector<std::string> flat = flatten(sequences);  // ends with the "O" sentinel
  std::vector<TaggedEntity> out;
  for (size_t i = 0; i < flat.size();) {
    auto [tag, type] = split_tag(flat[i]);
    if (tag != 'B') {
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (end < flat.size()) {
      auto [t2, type2] = split_tag(flat[end]);
      if (t2 != 'I' || type2 != type) break;
      ++end;
    }
    out.push_back({type, (int64_t)i, (int64_t)end});
    i = end;
  }
  return out;
}

double matthews_corrcoef(std::span<const int32_t> gold, std::span<const int32_t> predicted) {
  if (gold.size() != predicted.size()) throw Error("matthews_corrcoef: sizes differ");
  std::unordered_map<int32_t, int64_t> t, p;
  int64_t correct = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    ++t[gold[i]];
    ++p[predicted[i]];
    correct += gold[i] == predicted[i];
  }
  const double s = (double)gold.size(), c = (double)correct;
  double pt = 0, pp = 0, tt = 0;
  for (auto& [k, v] : t) {
    tt += (double)v * (double)v;
    auto it = p.find(k);
    if (it != p.end()) pt += (double)v * (double)it->second;
  }
  for (auto& [k, v] : p) pp += (double)v * (double)v;
  const double cov_ytyp = c * s - pt, cov_ypyp = s * s - pp, cov_ytyt = s * s - tt;
  if (cov_ypyp * cov_ytyt == 0) return 0.0;
  return cov_ytyp / std::sqrt(cov_ytyt * cov_ypyp);
}

NerMetrics ner_metrics(const std::vector<std::vector<std::string>>& gold,
                       const std::vector<std::vector<std::string>>& predicted, bool strict) {
  if (gold.size() != predicted.size()) throw Error("ner_metrics: sequence counts differ");
  NerMetrics m;
  m.sequences = (int64_t)gold.size();
  // Word level.
  std::map<std::string, int32_t> tag_ids;
  std::vector<int32_t> g_ids, p_ids;
  int64_t right = 0;
  for (size_t s = 0; s < gold.size(); ++s) {
    if (gold[s].size() != predicted[s].size()) throw Error("ner_metrics: sequence lengths differ");
    for (size_t i = 0; i < gold[s].size(); ++i) {
      auto id = [&](const std::string& tag) { return tag_ids.emplace(tag, (int32_t)tag_ids.size()).first->second; };
      g_ids.push_back(id(gold[s][i]));
      p_ids.push_back(id(predicted[s][i]));
      right += gold[s][i] == predicted[s][i];
    }
  }
  m.words = (int64_t)g_ids.size();
  m.accuracy = ratio((double)right, (double)m.words);
  m.matthews = matthews_corrcoef(g_ids, p_ids);

  // Entity level: sets of (type, begin, end).
  const auto g = strict ? iob2_strict_entities(gold) : seqeval_entities(gold);
  const auto p = strict ? iob2_strict_entities(predicted) : seqeval_entities(predicted);
  using Key = std::tuple<std::string, int64_t, int64_t>;
  std::set<Key> gs, ps;
  for (auto& e : g) gs.insert({e.type, e.begin, e.end});
  for (auto& e : p) ps.insert({e.type, e.begin, e.end});
  std::map<std::string, std::array<int64_t, 3>> per;  // type -> gold, predicted, correct
  for (auto& k : gs) ++per[std::get<0>(k)][0];
  for (auto& k : ps) {
    ++per[std::get<0>(k)][1];
    if (gs.count(k)) ++per[std::get<0>(k)][2];
  }
  for (auto& [type, c] : per) {
    LabelReport r;
    r.label = type;
    r.precision = ratio((double)c[2], (double)c[1]);
    r.recall = ratio((double)c[2], (double)c[0]);
    r.f1 = ratio(2.0 * r.precision * r.recall, r.precision + r.recall);
    r.support = c[0];
    r.predicted = c[1];
    m.per_type.push_back(r);
    m.precision_macro += r.precision;
    m.recall_macro += r.recall;
    m.f1_macro += r.f1;
    m.gold_entities += c[0];
    m.predicted_entities += c[1];
    m.correct_entities += c[2];
  }
  if (!per.empty()) {
    m.precision_macro /= (double)per.size();
    m.recall_macro /= (double)per.size();
    m.f1_macro /= (double)per.size();
  }
  m.precision = ratio((double)m.correct_entities, (double)m.predicted_entities);
  m.recall = ratio((double)m.correct_entities, (double)m.gold_entities);
  m.f1 = ratio(2.0 * m.precision * m.recall, m.precision + m.recall);
  return m;
}

}  // namespace medenc
