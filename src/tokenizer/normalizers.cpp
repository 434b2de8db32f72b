#include "tokenizer/normalizers.h"

#include <algorithm>

#include "medenc/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "util/json_fields.h"

namespace medenc::tok {

namespace {

using nlohmann::json;
namespace jf = medenc::json_fields;

struct Decomposed {
  int ccc;
  char32_t c;
  int32_t change;
};

// Stable sort of the combining marks pending since the last starter (canonical ordering).
void sort_pending(std::vector<Decomposed>& buf, size_t& pending) {
  if (buf.size() - pending > 1)
    std::stable_sort(buf.begin() + static_cast<std::ptrdiff_t>(pending), buf.end(),
                     [](const Decomposed& a, const Decomposed& b) { return a.ccc < b.ccc; });
  pending = buf.size();
}

void decompose(const NormalizedText& t, bool compat, std::vector<Decomposed>& out) {
  out.clear();
  out.reserve(t.size() + 8);
  size_t pending = 0;
  char32_t d[32];
  for (char32_t ch : t.chars) {
    const int n = decompose_char(ch, compat, d);
    for (int i = 0; i < n; ++i) {
      const int cls = combining_class(d[i]);
      if (cls == 0) sort_pending(out, pending);
      out.push_back({cls, d[i], i == 0 ? 0 : 1});
    }
  }
  sort_pending(out, pending);
}

// Canonical composition, emitting chars in the same order and with the same change bookkeeping as
// the reference implementation (a composite carries composee.change + mark.change - 1).
void recompose(const std::vector<Decomposed>& in, std::vector<Edit>& out) {
  out.clear();
  out.reserve(in.size());
  bool have_composee = false;
  Edit composee{0, 0};
  int last_ccc = -1;  // -1: none
  std::vector<Edit> buffer;
  auto flush_buffer = [&] {
    out.insert(out.end(), buffer.begin(), buffer.end());
    buffer.clear();
  };
  for (const Decomposed& d : in) {
    const int cls = d.ccc;
    if (!have_composee) {
      if (cls != 0) {
        out.push_back({d.c, d.change});
        continue;
      }
      composee = {d.c, d.change};
      have_composee = true;
      continue;
    }
    if (last_ccc < 0) {
      if (char32_t r = compose_pair(composee.c, d.c)) {
        composee = {r, composee.change + d.change - 1};
        continue;
      }
      if (cls == 0) {
        out.push_back(composee);
        composee = {d.c, d.change};
        continue;
      }
      buffer.push_back({d.c, d.change});
      last_ccc = cls;
      continue;
    }
    if (last_ccc >= cls) {  // blocked from the composee
      if (cls == 0) {
        out.push_back(composee);
        flush_buffer();
        composee = {d.c, d.change};
        last_ccc = -1;
        continue;
      }
      buffer.push_back({d.c, d.change});
      last_ccc = cls;
      continue;
    }
    if (char32_t r = compose_pair(composee.c, d.c)) {
      composee = {r, composee.change + d.change - 1};
      continue;
    }
    buffer.push_back({d.c, d.change});
    last_ccc = cls;
  }
  if (have_composee) out.push_back(composee);
  flush_buffer();
}

// Drops the chars where keep() is false; the others keep their alignment.
template <class Keep>
void filter(NormalizedText& t, Keep&& keep) {
  size_t w = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (!keep(t.chars[i])) continue;
    t.chars[w] = t.chars[i];
    t.start[w] = t.start[i];
    t.end[w] = t.end[i];
    ++w;
  }
  t.chars.resize(w);
  t.start.resize(w);
  t.end.resize(w);
}

bool all_inert(const NormalizedText& t, bool compat, bool compose) {
  for (char32_t c : t.chars)
    if (c >= 0xA0 && !normalization_inert(c, compat, compose)) return false;
  return true;
}

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(UnicodeForm f) : form_(f) {}
  void normalize(NormalizedText& t) const override { unicode_normalize(t, form_); }

 private:
  UnicodeForm form_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(NormalizedText& t) const override { lowercase(t); }
};

class StripAccentsNormalizer : public Normalizer {
 public:
  void normalize(NormalizedText& t) const override { filter(t, [](char32_t c) { return !is_combining_mark(c); }); }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedText& t) const override {
    size_t b = 0, e = t.size();
    if (left_)
      while (b < e && is_white_space(t.chars[b])) ++b;
    if (right_)
      while (e > b && is_white_space(t.chars[e - 1])) --e;
    if (b == 0 && e == t.size()) return;
    NormalizedText out;
    out.shift = t.shift;
    out.append(t, b, e);
    std::swap(t, out);
  }

 private:
  bool left_, right_;
};

class BertNormalizer : public Normalizer {
 public:
  explicit BertNormalizer(const BertNormalizerOptions& o) : o_(o) {}
  void normalize(NormalizedText& t) const override {
    if (o_.clean_text) {
      filter(t, [](char32_t c) { return !(c == 0 || c == 0xFFFD || is_bert_control(c)); });
      for (char32_t& c : t.chars)
        if (is_bert_whitespace(c)) c = ' ';
    }
    if (o_.handle_chinese_chars) pad_chinese(t);
    if (o_.strip_accents.value_or(o_.lowercase)) {
      unicode_normalize(t, UnicodeForm::NFD);
      filter(t, [](char32_t c) { return !is_nonspacing_mark(c); });
    }
    if (o_.lowercase) lowercase(t);
  }

 private:
  static void pad_chinese(NormalizedText& t) {
    bool any = false;
    for (char32_t c : t.chars)
      if (c >= 0x3400 && is_bert_chinese_char(c)) {
        any = true;
        break;
      }
    if (!any) return;
    NormalizedText out;
    out.shift = t.shift;
    out.reserve(t.size() + 16);
    for (size_t i = 0; i < t.size(); ++i) {
      const char32_t c = t.chars[i];
      if (is_bert_chinese_char(c)) {
        out.push(' ', t.start[i], t.end[i]);
        out.push(c, t.start[i], t.end[i]);
        out.push(' ', t.start[i], t.end[i]);
      } else {
        out.push(c, t.start[i], t.end[i]);
      }
    }
    std::swap(t, out);
  }

  BertNormalizerOptions o_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::vector<char32_t> s) : prefix_(std::move(s)) {}
  void normalize(NormalizedText& t) const override {
    if (t.empty() || prefix_.empty()) return;
    // Every prepended char shares the alignment of the first char.
    NormalizedText out;
    out.shift = t.shift;
    out.reserve(t.size() + prefix_.size());
    for (char32_t c : prefix_) out.push(c, t.start[0], t.end[0]);
    out.append(t, 0, t.size());
    std::swap(t, out);
  }

 private:
  std::vector<char32_t> prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<Regex> re, std::vector<char32_t> content)
      : re_(std::move(re)), content_(std::move(content)) {}
  void normalize(NormalizedText& t) const override {
    if (t.empty()) return;
    std::string utf8;
    std::vector<uint32_t> byte_to_char;  // char index at each byte offset (plus the end)
    for (size_t i = 0; i < t.size(); ++i) {
      const size_t before = utf8.size();
      append_utf8(utf8, t.chars[i]);
      byte_to_char.insert(byte_to_char.end(), utf8.size() - before, static_cast<uint32_t>(i));
    }
    byte_to_char.push_back(static_cast<uint32_t>(t.size()));
    std::vector<std::pair<size_t, size_t>> matches;
    re_->find_all(utf8, matches);
    if (matches.empty()) return;
    NormalizedText out;
    out.shift = t.shift;
    size_t cur = 0;
    for (auto [bs, be] : matches) {
      const size_t b = byte_to_char[bs], e = byte_to_char[be];
      out.append(t, cur, b);
      // Replacement chars take the alignment of the last replaced char (or the char before an
      // empty match).
      int32_t s = t.shift, en = t.shift;
      if (e > 0) {
        s = t.start[e - 1];
        en = t.end[e - 1];
      }
      for (char32_t c : content_) out.push(c, s, en);
      cur = e;
    }
    out.append(t, cur, t.size());
    std::swap(t, out);
  }

 private:
  std::unique_ptr<Regex> re_;
  std::vector<char32_t> content_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(NormalizedText& t) const override {
    for (const auto& p : parts_) p->normalize(t);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

void unicode_normalize(NormalizedText& t, UnicodeForm form) {
  const bool compat = form == UnicodeForm::NFKC || form == UnicodeForm::NFKD;
  const bool compose = form == UnicodeForm::NFC || form == UnicodeForm::NFKC;
  // Text of chars that normalization never touches stays as it is (the usual case).
  if (all_inert(t, compat, compose)) return;
  std::vector<Decomposed> dec;
  decompose(t, compat, dec);
  std::vector<Edit> edits;
  if (compose) {
    recompose(dec, edits);
  } else {
    edits.reserve(dec.size());
    for (const Decomposed& d : dec) edits.push_back({d.c, d.change});
  }
  apply_edits(t, edits, 0);
}

void lowercase(NormalizedText& t) {
  bool simple = true;
  char32_t buf[3];
  for (char32_t& c : t.chars) {
    if (c < 0x80) {
      if (c >= 'A' && c <= 'Z') c += 32;
      continue;
    }
    if (to_lowercase(c, buf) != 1) {
      simple = false;
      continue;
    }
    c = buf[0];
  }
  if (simple) return;
  // Some char expands (U+0130): the extra chars are inserts sharing its alignment.
  NormalizedText out;
  out.shift = t.shift;
  out.reserve(t.size() + 4);
  for (size_t i = 0; i < t.size(); ++i) {
    const int n = to_lowercase(t.chars[i], buf);
    for (int k = 0; k < n; ++k) out.push(buf[k], t.start[i], t.end[i]);
  }
  std::swap(t, out);
}

std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerOptions& o) {
  return std::make_unique<BertNormalizer>(o);
}

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type")) throw Error(where + ": normalizer without a \"type\"");
  const std::string type = j["type"].get<std::string>();
  const std::string at = where + " (" + type + ")";
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UnicodeForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(jf::get_bool(j, "strip_left", true, at), jf::get_bool(j, "strip_right", true, at));
  if (type == "BertNormalizer") {
    BertNormalizerOptions o;
    o.clean_text = jf::get_bool(j, "clean_text", true, at);
    o.handle_chinese_chars = jf::get_bool(j, "handle_chinese_chars", true, at);
    if (j.contains("strip_accents") && !j["strip_accents"].is_null()) o.strip_accents = jf::get_bool(j, "strip_accents", false, at);
    o.lowercase = jf::get_bool(j, "lowercase", true, at);
    return make_bert_normalizer(o);
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(to_chars(jf::get_string(j, "prepend", "", at)));
  if (type == "Replace") {
    const std::string source = pattern_source(j.value("pattern", json()), at);
    return std::make_unique<ReplaceNormalizer>(std::make_unique<Regex>(source, at),
                                               to_chars(jf::get_string(j, "content", "", at)));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    if (!j.contains("normalizers") || !j["normalizers"].is_array()) throw Error(at + ": missing \"normalizers\" list");
    for (const json& n : j["normalizers"])
      if (auto p = make_normalizer(n, where)) parts.push_back(std::move(p));
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  throw Error(at + ": normalizer type not supported");
}

}  // namespace medenc::tok
