#include "tokenizer/post_processors.h"
#include "tokenizer/models.h"

#include <map>

#include "medenc/error.h"
#include "tokenizer/unicode.h"
#include "util/json_fields.h"

namespace medenc::tok {

namespace {

using nlohmann::json;
namespace jf = medenc::json_fields;

// ByteLevel offset trimming: leading/trailing spaces ("Ġ" or whitespace) of a token leave its span.
void trim_offsets(Enc& e, bool add_prefix_space) {
  for (size_t i = 0; i < e.size(); ++i) {
    const std::vector<char32_t> chars = to_chars(e.tokens[i]);
    auto is_space = [](char32_t c) { return c == 0x120 || is_white_space(c); };
    size_t leading = 0, trailing = 0;
    while (leading < chars.size() && is_space(chars[leading])) ++leading;
    while (trailing < chars.size() && is_space(chars[chars.size() - 1 - trailing])) ++trailing;
    if (leading == 0 && trailing == 0) continue;
    auto& [s, en] = e.offsets[i];
    if (leading > 0) {
      const bool is_first = i == 0 || s == 0;
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      s = std::min<int64_t>(s + static_cast<int64_t>(leading), en);
    }
    if (trailing > 0 && en >= static_cast<int64_t>(trailing)) en = std::max<int64_t>(en - static_cast<int64_t>(trailing), s);
  }
}

void trim_all(std::vector<Enc>& encodings, bool add_prefix_space) {
  for (Enc& e : encodings) {
    trim_offsets(e, add_prefix_space);
    for (Enc& o : e.overflowing) trim_offsets(o, add_prefix_space);
  }
}

struct SpecialToken {
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
};

struct TemplatePiece {
  bool is_sequence;
  int sequence;         // 0 (A) or 1 (B)
  std::string special;  // special token key
  int32_t type_id;
};

class TemplateProcessing : public PostProcessor {
 public:
  TemplateProcessing(std::vector<TemplatePiece> single, std::vector<TemplatePiece> pair,
                     std::map<std::string, SpecialToken> specials, const std::string& where)
      : single_(std::move(single)), pair_(std::move(pair)), specials_(std::move(specials)) {
    for (const auto* t : {&single_, &pair_})
      for (const TemplatePiece& p : *t)
        if (!p.is_sequence && !specials_.count(p.special))
          throw Error(where + ": template uses special token \"" + p.special + "\" that is not in special_tokens");
  }

  std::vector<std::pair<std::string, int32_t>> inserted_tokens() const override {
    std::vector<std::pair<std::string, int32_t>> out;
    for (const auto* t : {&single_, &pair_})
      for (const TemplatePiece& p : *t)
        if (!p.is_sequence) {
          const SpecialToken& s = specials_.at(p.special);
          for (size_t i = 0; i < s.ids.size(); ++i) out.emplace_back(s.tokens[i], s.ids[i]);
        }
    return out;
  }

  size_t added_tokens(bool pair) const override {
    size_t n = 0;
    for (const TemplatePiece& p : pair ? pair_ : single_)
      if (!p.is_sequence) n += specials_.at(p.special).ids.size();
    return n;
  }

  // One encoding per template piece (the caller merges them, which also combines the overflowing
  // windows): sequences get the template type id (their windows keep their own), special tokens
  // are new encodings.
  std::vector<Enc> process_encodings(std::vector<Enc> encodings, bool add_special_tokens) const override {
    const std::vector<TemplatePiece>& tpl = encodings.size() == 2 ? pair_ : single_;
    std::vector<Enc> out;
    for (const TemplatePiece& p : tpl) {
      if (p.is_sequence) {
        if (static_cast<size_t>(p.sequence) >= encodings.size()) throw Error("post-processor: the template expects a pair of sequences");
        Enc e = encodings[p.sequence];
        std::fill(e.type_ids.begin(), e.type_ids.end(), p.type_id);
        e.set_sequence_id(p.sequence);
        out.push_back(std::move(e));
      } else if (add_special_tokens) {
        const SpecialToken& t = specials_.at(p.special);
        Enc e;
        for (size_t i = 0; i < t.ids.size(); ++i) e.push(t.ids[i], t.tokens[i], {0, 0}, p.type_id, -1, 1);
        out.push_back(std::move(e));
      }
    }
    return out;
  }

  std::optional<std::string> cls_token() const override { return edge_special(true); }
  std::optional<std::string> sep_token() const override { return edge_special(false); }

 private:
  std::optional<std::string> edge_special(bool first) const {
    if (single_.empty()) return std::nullopt;
    const TemplatePiece& p = first ? single_.front() : single_.back();
    if (p.is_sequence) return std::nullopt;
    const SpecialToken& s = specials_.at(p.special);
    return s.tokens.size() == 1 ? std::optional<std::string>(s.tokens[0]) : std::nullopt;
  }

  std::vector<TemplatePiece> single_, pair_;
  std::map<std::string, SpecialToken> specials_;
};

// [CLS] A [SEP] (B [SEP]) with the classic BERT / RoBERTa shapes.
class ClsSepProcessing : public PostProcessor {
 public:
  ClsSepProcessing(std::string cls, int32_t cls_id, std::string sep, int32_t sep_id, bool roberta, bool trim,
                   bool add_prefix_space)
      : cls_(std::move(cls)), sep_(std::move(sep)), cls_id_(cls_id), sep_id_(sep_id), roberta_(roberta), trim_(trim),
        add_prefix_space_(add_prefix_space) {}

  size_t added_tokens(bool pair) const override { return pair ? (roberta_ ? 4 : 3) : 2; }

  std::vector<Enc> process_encodings(std::vector<Enc> encodings, bool add_special_tokens) const override {
    if (roberta_ && trim_) trim_all(encodings, add_prefix_space_);
    if (!add_special_tokens) return encodings;
    for (size_t i = 0; i < encodings.size(); ++i) {
      for (Enc& o : encodings[i].overflowing) o = wrap(std::move(o), i);
      std::vector<Enc> over = std::move(encodings[i].overflowing);
      encodings[i] = wrap(std::move(encodings[i]), i);
      encodings[i].overflowing = std::move(over);
    }
    return encodings;
  }

  std::optional<std::string> cls_token() const override { return cls_; }
  std::optional<std::string> sep_token() const override { return sep_; }
  std::vector<std::pair<std::string, int32_t>> inserted_tokens() const override {
    return {{cls_, cls_id_}, {sep_, sep_id_}};
  }

 private:
  Enc wrap(Enc e, size_t index) const {
    Enc out;
    out.reserve(e.size() + 2);
    const bool first = index == 0;
    const int32_t edge_type = first || roberta_ ? 0 : 1;
    if (first)
      out.push(cls_id_, cls_, {0, 0}, 0, -1, 1);
    else if (roberta_)
      out.push(sep_id_, sep_, {0, 0}, 0, -1, 1);
    const size_t start = out.size();
    for (size_t i = 0; i < e.size(); ++i)
      out.push(e.ids[i], std::move(e.tokens[i]), e.offsets[i], roberta_ && !first ? 0 : e.type_ids[i], e.words[i], 0);
    out.ranges[first ? 0 : 1] = {start, out.size()};
    out.push(sep_id_, sep_, {0, 0}, edge_type, -1, 1);
    return out;
  }

  std::string cls_, sep_;
  int32_t cls_id_, sep_id_;
  bool roberta_, trim_, add_prefix_space_;
};

class ByteLevelProcessing : public PostProcessor {
 public:
  ByteLevelProcessing(bool trim, bool add_prefix_space) : trim_(trim), add_prefix_space_(add_prefix_space) {}
  size_t added_tokens(bool) const override { return 0; }
  std::vector<Enc> process_encodings(std::vector<Enc> encodings, bool) const override {
    if (trim_) trim_all(encodings, add_prefix_space_);
    for (size_t i = 0; i < encodings.size(); ++i) encodings[i].set_sequence_id(static_cast<int>(i));
    return encodings;
  }

 private:
  bool trim_, add_prefix_space_;
};

class SequenceProcessing : public PostProcessor {
 public:
  explicit SequenceProcessing(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  size_t added_tokens(bool pair) const override {
    size_t n = 0;
    for (const auto& p : parts_) n += p->added_tokens(pair);
    return n;
  }
  std::vector<Enc> process_encodings(std::vector<Enc> encodings, bool add_special_tokens) const override {
    for (const auto& p : parts_) encodings = p->process_encodings(std::move(encodings), add_special_tokens);
    return encodings;
  }
  std::vector<std::pair<std::string, int32_t>> inserted_tokens() const override {
    std::vector<std::pair<std::string, int32_t>> out;
    for (const auto& p : parts_)
      for (auto& t : p->inserted_tokens()) out.push_back(std::move(t));
    return out;
  }
  std::optional<std::string> cls_token() const override {
    for (const auto& p : parts_)
      if (auto t = p->cls_token()) return t;
    return std::nullopt;
  }
  std::optional<std::string> sep_token() const override {
    for (const auto& p : parts_)
      if (auto t = p->sep_token()) return t;
    return std::nullopt;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// "$A:0", "[CLS]:0", "$B", "$1" ... (the string form of a template piece).
TemplatePiece parse_piece_string(const std::string& s, const std::string& where) {
  std::string name = s;
  int32_t type_id = 0;
  if (const size_t colon = s.rfind(':'); colon != std::string::npos && colon > 0) {
    name = s.substr(0, colon);
    try {
      type_id = std::stoi(s.substr(colon + 1));
    } catch (...) {
      throw Error(where + ": bad template piece \"" + s + "\"");
    }
  }
  if (!name.empty() && name[0] == '$') {
    const std::string id = name.substr(1);
    if (id.empty() || id == "A" || id == "a") return {true, 0, "", type_id};
    if (id == "B" || id == "b") return {true, 1, "", type_id};
    if (std::all_of(id.begin(), id.end(), ::isdigit) && s.find(':') == std::string::npos) return {true, 0, "", std::stoi(id)};
    throw Error(where + ": bad template piece \"" + s + "\"");
  }
  return {false, 0, name, type_id};
}

std::vector<TemplatePiece> parse_template(const json& t, const std::string& where) {
  std::vector<TemplatePiece> out;
  if (t.is_string()) {
    std::string s = t.get<std::string>(), word;
    for (size_t i = 0; i <= s.size(); ++i) {
      if (i == s.size() || s[i] == ' ') {
        if (!word.empty()) out.push_back(parse_piece_string(word, where));
        word.clear();
      } else {
        word.push_back(s[i]);
      }
    }
    return out;
  }
  if (!t.is_array()) throw Error(where + ": template must be a list");
  for (const json& p : t) {
    if (p.is_string()) {
      out.push_back(parse_piece_string(p.get<std::string>(), where));
    } else if (p.contains("Sequence")) {
      const json& q = p["Sequence"];
      const std::string id = jf::get_string(q, "id", "A", where);
      out.push_back({true, id == "B" ? 1 : 0, "", static_cast<int32_t>(jf::get_int(q, "type_id", 0, where))});
    } else if (p.contains("SpecialToken")) {
      const json& q = p["SpecialToken"];
      out.push_back({false, 0, jf::get_string(q, "id", "", where), static_cast<int32_t>(jf::get_int(q, "type_id", 0, where))});
    } else {
      throw Error(where + ": template piece is neither Sequence nor SpecialToken");
    }
  }
  return out;
}

std::pair<std::string, int32_t> token_pair(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_array() || j[key].size() != 2) throw Error(where + ": \"" + key + "\" must be [token, id]");
  return {j[key][0].get<std::string>(), json_token_id(j[key][1], where + ": the id of \"" + key + "\"")};
}

}  // namespace

Enc post_process(const PostProcessor* p, Enc a, std::optional<Enc> b, bool add_special_tokens) {
  if (!p) {
    if (!b) return a;
    a.set_sequence_id(0);
    b->set_sequence_id(1);
    merge_with(a, std::move(*b), false);
    return a;
  }
  std::vector<Enc> encodings;
  encodings.push_back(std::move(a));
  if (b) encodings.push_back(std::move(*b));
  for (size_t i = 0; i < encodings.size(); ++i) {
    encodings[i].set_sequence_id(static_cast<int>(i));
    for (Enc& o : encodings[i].overflowing) o.set_sequence_id(static_cast<int>(i));
  }
  return merge_all(p->process_encodings(std::move(encodings), add_special_tokens), false);
}

std::unique_ptr<PostProcessor> make_bert_template(const std::string& cls, int32_t cls_id, const std::string& sep,
                                                  int32_t sep_id) {
  std::map<std::string, SpecialToken> specials;
  specials[cls] = {{cls_id}, {cls}};
  specials[sep] = {{sep_id}, {sep}};
  std::vector<TemplatePiece> single = {{false, 0, cls, 0}, {true, 0, "", 0}, {false, 0, sep, 0}};
  std::vector<TemplatePiece> pair = single;
  pair.push_back({true, 1, "", 1});
  pair.push_back({false, 0, sep, 1});
  return std::make_unique<TemplateProcessing>(single, pair, specials, "BERT template");
}

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type")) throw Error(where + ": post_processor without a \"type\"");
  const std::string type = j["type"].get<std::string>();
  const std::string at = where + " (" + type + ")";
  if (type == "TemplateProcessing") {
    std::map<std::string, SpecialToken> specials;
    if (j.contains("special_tokens") && j["special_tokens"].is_object()) {
      for (auto it = j["special_tokens"].begin(); it != j["special_tokens"].end(); ++it) {
        SpecialToken t;
        const json& ids = it.value().at("ids");
        if (!ids.is_array()) throw Error(at + ": special token \"" + it.key() + "\" has no \"ids\" list");
        for (const json& id : ids) t.ids.push_back(json_token_id(id, at + ": an id of special token \"" + it.key() + "\""));
        t.tokens = it.value().at("tokens").get<std::vector<std::string>>();
        if (t.ids.size() != t.tokens.size()) throw Error(at + ": special token \"" + it.key() + "\" has ids and tokens of different lengths");
        specials[jf::get_string(it.value(), "id", it.key(), at)] = std::move(t);
      }
    }
    if (!j.contains("single")) throw Error(at + ": missing \"single\" template");
    auto single = parse_template(j["single"], at);
    auto pair = j.contains("pair") ? parse_template(j["pair"], at) : single;
    return std::make_unique<TemplateProcessing>(std::move(single), std::move(pair), std::move(specials), at);
  }
  if (type == "BertProcessing") {
    auto [sep, sep_id] = token_pair(j, "sep", at);
    auto [cls, cls_id] = token_pair(j, "cls", at);
    return std::make_unique<ClsSepProcessing>(cls, cls_id, sep, sep_id, false, false, false);
  }
  if (type == "RobertaProcessing") {
    auto [sep, sep_id] = token_pair(j, "sep", at);
    auto [cls, cls_id] = token_pair(j, "cls", at);
    return std::make_unique<ClsSepProcessing>(cls, cls_id, sep, sep_id, true, jf::get_bool(j, "trim_offsets", true, at),
                                              jf::get_bool(j, "add_prefix_space", true, at));
  }
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelProcessing>(jf::get_bool(j, "trim_offsets", true, at), jf::get_bool(j, "add_prefix_space", true, at));
  if (type == "Sequence") {
    if (!j.contains("processors") || !j["processors"].is_array()) throw Error(at + ": missing \"processors\" list");
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (const json& p : j["processors"])
      if (auto q = make_post_processor(p, where)) parts.push_back(std::move(q));
    return std::make_unique<SequenceProcessing>(std::move(parts));
  }
  throw Error(at + ": post_processor type not supported");
}

}  // namespace medenc::tok
