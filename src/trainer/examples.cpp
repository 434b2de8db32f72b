// Task checks of raw records: what makes a row usable for regression, classification, NER or MLM, and
// the reason it is not.
#include "trainer/examples.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "medenc/ner.h"
#include "medenc/text_input.h"
#include "tasks/csv_parser.h"

namespace medenc {

using nlohmann::json;

namespace {

// Applies the label map; false when the label is dropped.
bool map_label(const DataOptions& o, std::string& label) {
  if (auto it = o.label_map.find(label); it != o.label_map.end()) label = it->second;
  return !label.empty() && label != "O";
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// A label value as text: strings as they are, integers in decimal (class ids given as numbers).
bool label_text(const json& v, std::string& out) {
  if (v.is_string()) out = v.get<std::string>();
  else if (v.is_number_integer()) out = std::to_string(v.get<int64_t>());
  else return false;
  return true;
}

CheckResult bad(std::string reason, std::string message) { return CheckResult{std::move(reason), std::move(message)}; }

// Regression: one finite number (a number or numeric text) inside the score range.
CheckResult check_score(const Record& r, const DataOptions& o, const std::string& label_name, Example& ex) {
  if (r.label.is_null()) return bad("missing label", fmt::format("missing \"{}\"", label_name));
  double v = NAN;
  if (r.label.is_number()) {
    v = r.label.get<double>();
  } else if (r.label.is_string()) {
    const std::string s = trim(r.label.get<std::string>());
    char* end = nullptr;
    v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') return bad("unparseable label", fmt::format("score '{}' is not a number", s));
  } else {
    return bad("unparseable label", "score is not a number");
  }
  if (!std::isfinite(v)) return bad("score out of range", "score is not finite");
  if ((o.score_min && v < *o.score_min) || (o.score_max && v > *o.score_max))
    return bad("score out of range", fmt::format("score {} is outside [{}, {}]", v,
                                                 o.score_min ? fmt::format("{}", *o.score_min) : "-inf",
                                                 o.score_max ? fmt::format("{}", *o.score_max) : "inf"));
  ex.score = v;
  return {};
}

// Single-label classification: one label (text or integer id), mapped, in the fixed label set if any.
CheckResult check_single_label(const Record& r, const DataOptions& o, const LabelSpace* fixed,
                               const std::string& label_name, Example& ex) {
  std::string label;
  if (r.label.is_null()) return bad("missing label", fmt::format("missing \"{}\"", label_name));
  if (!label_text(r.label, label)) return bad("unparseable label", "label is not a string or an integer");
  label = trim(label);
  if (label.empty()) return bad("missing label", "empty label");
  if (!map_label(o, label)) return bad("missing label", "label mapped to nothing by the label map");
  if (fixed && fixed->find(label) < 0)
    return bad("label not in the label set", fmt::format("label '{}' is not in the label set", label));
  ex.labels = {label};
  return {};
}

// Multi-label classification: a list, or a string split at the separator; labels mapped away or outside
// the fixed set are dropped (counted), duplicates kept once.
CheckResult check_multi_label(const Record& r, const DataOptions& o, const LabelSpace* fixed,
                              const std::string& label_name, Example& ex, int64_t* labels_dropped) {
  if (r.label.is_null()) return bad("missing label", fmt::format("missing \"{}\"", label_name));
  std::vector<std::string> raw;
  if (r.label.is_array()) {
    for (const json& v : r.label) {
      std::string s;
      if (!label_text(v, s)) return bad("unparseable label", "labels must be strings");
      raw.push_back(trim(s));
    }
  } else if (r.label.is_string()) {
    const std::string s = r.label.get<std::string>();
    const std::string& sep = o.label_separator;
    size_t at = 0;
    for (;;) {
      const size_t next = sep == " " ? s.find_first_of(" \t", at) : s.find(sep, at);
      raw.push_back(trim(s.substr(at, next == std::string::npos ? std::string::npos : next - at)));
      if (next == std::string::npos) break;
      at = next + (sep == " " ? 1 : sep.size());
    }
  } else {
    return bad("unparseable label", "labels must be a list or a string");
  }
  for (std::string& l : raw) {
    if (l.empty()) continue;
    if (!map_label(o, l) || (fixed && fixed->find(l) < 0)) {
      ++*labels_dropped;
      continue;
    }
    if (std::find(ex.labels.begin(), ex.labels.end(), l) == ex.labels.end()) ex.labels.push_back(l);
  }
  return {};
}

// NER: spans inside the text (and matching their mention text when given), one kept type each,
// without overlaps.
CheckResult check_entities(const Record& r, const DataOptions& o, Example& ex, int64_t* entities_dropped) {
  if (!r.has_entities) return bad("missing label", fmt::format("missing \"{}\"", o.entities_field));
  const int64_t length = count_codepoints(ex.text);
  std::vector<TextSpan> spans;
  const std::vector<size_t> cp = r.mention_texts.empty() ? std::vector<size_t>{} : codepoint_byte_offsets(ex.text);
  for (size_t i = 0; i < r.entities.size(); ++i) {
    TextSpan e = r.entities[i];
    if (e.start < 0 || e.end > length || e.start >= e.end)
      return bad("span outside the text", fmt::format("entity [{}, {}) '{}' is outside the text (length {})",
                                                      e.start, e.end, e.label, length));
    if (i < r.mention_texts.size()) {
      const std::string slice = ex.text.substr(cp[(size_t)e.start], cp[(size_t)e.end] - cp[(size_t)e.start]);
      if (slice != r.mention_texts[i])
        return bad("span outside the text", fmt::format("entity [{}, {}) reads '{}' in the text, not '{}'",
                                                        e.start, e.end, slice, r.mention_texts[i]));
    }
    // Several types ("T116,T123"): the first that the label map keeps.
    bool kept = false;
    size_t at = 0;
    for (;;) {
      const size_t comma = e.label.find(',', at);
      std::string type = trim(e.label.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      if (map_label(o, type)) {
        e.label = type;
        kept = true;
        break;
      }
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    if (!kept) {
      ++*entities_dropped;
      continue;
    }
    spans.push_back(e);
  }
  // Non-overlapping, in text order: of two overlapping entities the earlier (then longer) stays.
  std::stable_sort(spans.begin(), spans.end(), [](const TextSpan& a, const TextSpan& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  for (const TextSpan& e : spans) {
    if (!ex.entities.empty() && e.start < ex.entities.back().end) {
      ++*entities_dropped;
      continue;
    }
    ex.entities.push_back(e);
  }
  ex.words = r.words;
  return {};
}

}  // namespace

CheckResult check_record(const Record& r, TaskKind task, const DataOptions& o, const LabelSpace* fixed, Example& ex,
                         int64_t* labels_dropped, int64_t* entities_dropped) {
  if (!r.error.empty()) return bad(r.error_reason, r.error);
  if (!r.has_text) return bad("missing text", fmt::format("missing field \"{}\"", o.text_field));
  for (const std::string* s : {&r.text, r.text_pair ? &*r.text_pair : nullptr}) {
    if (!s) continue;
    const size_t at = find_invalid_utf8(*s);
    if (at != std::string::npos) return bad("invalid UTF-8", fmt::format("invalid UTF-8 at byte {}", at));
  }
  ex = Example{};
  ex.line = r.line;
  ex.text = r.text;
  ex.text_pair = r.text_pair;
  const std::string label_name = o.label_field.empty() ? "label\", \"labels\" or \"score" : o.label_field;
  switch (task) {
    case TaskKind::Mlm:
      if (trim(ex.text).empty()) return bad("empty text", "empty text");
      return {};
    case TaskKind::Regression: return check_score(r, o, label_name, ex);
    case TaskKind::SingleLabel: return check_single_label(r, o, fixed, label_name, ex);
    case TaskKind::MultiLabel: return check_multi_label(r, o, fixed, label_name, ex, labels_dropped);
    case TaskKind::Ner: return check_entities(r, o, ex, entities_dropped);
  }
  return bad("unparseable", "unknown task");
}

}  // namespace medenc
