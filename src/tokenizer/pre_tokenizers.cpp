#include "tokenizer/pre_tokenizers.h"

#include "medenc/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "util/json_fields.h"

namespace medenc::tok {

namespace {

using nlohmann::json;
namespace jf = medenc::json_fields;

// Rebuilds the text piece by piece: `fn(src, piece, dst)` appends the new chars of a non-added
// piece; added pieces are copied as they are.
template <class Fn>
void rebuild(PieceList& list, Fn&& fn) {
  NormalizedText dst;
  dst.shift = list.text.shift;
  dst.reserve(list.text.size() + list.text.size() / 2 + 8);
  for (Piece& p : list.pieces) {
    const auto b = static_cast<uint32_t>(dst.size());
    if (p.added_id >= 0)
      dst.append(list.text, p.begin, p.end);
    else
      fn(list.text, p, dst);
    p.begin = b;
    p.end = static_cast<uint32_t>(dst.size());
  }
  std::swap(list.text, dst);
}

// Splits every piece on the chars where pred() holds, with the given behavior.
template <class Pred>
void split_on_chars(PieceList& list, SplitBehavior behavior, Pred&& pred) {
  std::vector<Match> matches;
  split_pieces(list, [&](const NormalizedText& t, const Piece& p, std::vector<std::pair<uint32_t, uint32_t>>& out) {
    char_matches(t.chars.data() + p.begin, p.end - p.begin, pred, matches);
    split_by_behavior(matches, behavior, p.begin, out);
  });
}

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

  void pre_tokenize(PieceList& list) const override {
    if (add_prefix_space_) {
      rebuild(list, [](const NormalizedText& t, const Piece& p, NormalizedText& dst) {
        if (p.end > p.begin && t.chars[p.begin] != ' ') dst.push(' ', t.start[p.begin], t.end[p.begin]);
        dst.append(t, p.begin, p.end);
      });
    }
    if (use_regex_) {
      std::vector<Match> matches;
      split_pieces(list, [&](const NormalizedText& t, const Piece& p, std::vector<std::pair<uint32_t, uint32_t>>& out) {
        gpt2_split(t.chars.data() + p.begin, p.end - p.begin, matches);
        split_by_behavior(matches, SplitBehavior::Isolated, p.begin, out);
      });
    }
    map_bytes(list);
  }

  // Every UTF-8 byte of a char becomes its printable char, aligned like the char.
  static void map_bytes(PieceList& list) {
    rebuild(list, [](const NormalizedText& t, const Piece& p, NormalizedText& dst) {
      for (uint32_t i = p.begin; i < p.end; ++i) {
        const char32_t c = t.chars[i];
        if (c < 0x80) {
          dst.push(byte_to_char(static_cast<uint8_t>(c)), t.start[i], t.end[i]);
          continue;
        }
        std::string bytes;
        append_utf8(bytes, c);
        for (char b : bytes) dst.push(byte_to_char(static_cast<uint8_t>(b)), t.start[i], t.end[i]);
      }
    });
  }

 private:
  bool add_prefix_space_, use_regex_;
};

class BertPreTokenizer : public PreTokenizer {
 public:
  // Whitespace split (removed) then punctuation split (isolated), fused in one pass.
  void pre_tokenize(PieceList& list) const override {
    split_pieces(list, [](const NormalizedText& t, const Piece& p, std::vector<std::pair<uint32_t, uint32_t>>& out) {
      uint32_t word = p.begin;
      for (uint32_t i = p.begin; i < p.end; ++i) {
        const char32_t c = t.chars[i];
        if (is_white_space(c)) {
          out.emplace_back(word, i);
          word = i + 1;
        } else if (is_bert_punctuation(c)) {
          out.emplace_back(word, i);
          out.emplace_back(i, i + 1);
          word = i + 1;
        }
      }
      out.emplace_back(word, p.end);
    });
  }
};

class WhitespacePreTokenizer : public PreTokenizer {
 public:
  // Runs of \w, and runs of chars that are neither \w nor \s (regex \w+|[^\w\s]+).
  void pre_tokenize(PieceList& list) const override {
    split_pieces(list, [](const NormalizedText& t, const Piece& p, std::vector<std::pair<uint32_t, uint32_t>>& out) {
      uint32_t i = p.begin;
      while (i < p.end) {
        const char32_t c = t.chars[i];
        if (is_white_space(c)) {
          ++i;
          continue;
        }
        const bool word = is_word_char(c);
        uint32_t j = i + 1;
        while (j < p.end && !is_white_space(t.chars[j]) && is_word_char(t.chars[j]) == word) ++j;
        out.emplace_back(i, j);
        i = j;
      }
    });
  }
};

class WhitespaceSplitPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(PieceList& list) const override {
    split_on_chars(list, SplitBehavior::Removed, [](char32_t c) { return is_white_space(c); });
  }
};

class PunctuationPreTokenizer : public PreTokenizer {
 public:
  explicit PunctuationPreTokenizer(SplitBehavior b) : behavior_(b) {}
  void pre_tokenize(PieceList& list) const override {
    split_on_chars(list, behavior_, [](char32_t c) { return is_bert_punctuation(c); });
  }

 private:
  SplitBehavior behavior_;
};

class DigitsPreTokenizer : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
  void pre_tokenize(PieceList& list) const override {
    split_on_chars(list, individual_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous,
                   [](char32_t c) { return is_number(c); });
  }

 private:
  bool individual_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::string source, SplitBehavior behavior, bool invert, const std::string& where)
      : behavior_(behavior), invert_(invert), gpt2_(source == kGpt2Pattern) {
    if (!gpt2_) regex_ = std::make_unique<Regex>(source, where);
  }

  void pre_tokenize(PieceList& list) const override {
    std::vector<Match> matches;
    std::string utf8;
    std::vector<uint32_t> byte_to_char;
    std::vector<std::pair<size_t, size_t>> found;
    split_pieces(list, [&](const NormalizedText& t, const Piece& p, std::vector<std::pair<uint32_t, uint32_t>>& out) {
      const uint32_t n = p.end - p.begin;
      if (gpt2_) {
        gpt2_split(t.chars.data() + p.begin, n, matches);
      } else {
        utf8.clear();
        byte_to_char.clear();
        for (uint32_t i = 0; i < n; ++i) {
          const size_t before = utf8.size();
          append_utf8(utf8, t.chars[p.begin + i]);
          byte_to_char.insert(byte_to_char.end(), utf8.size() - before, i);
        }
        byte_to_char.push_back(n);
        regex_->find_all(utf8, found);
        matches.clear();
        uint32_t prev = 0;
        for (auto [bs, be] : found) {
          const uint32_t b = byte_to_char[bs], e = byte_to_char[be];
          if (prev != b) matches.push_back({prev, b, false});
          matches.push_back({b, e, true});
          prev = e;
        }
        if (prev != n || n == 0) matches.push_back({prev, n, false});
      }
      if (invert_)
        for (Match& m : matches) m.is_match = !m.is_match;
      split_by_behavior(matches, behavior_, p.begin, out);
    });
  }

 private:
  SplitBehavior behavior_;
  bool invert_;
  bool gpt2_;
  std::unique_ptr<Regex> regex_;
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  enum class Prepend { Always, First, Never };
  MetaspacePreTokenizer(char32_t replacement, Prepend prepend, bool split)
      : replacement_(replacement), prepend_(prepend), split_(split) {}

  void pre_tokenize(PieceList& list) const override {
    rebuild(list, [&](const NormalizedText& t, const Piece& p, NormalizedText& dst) {
      if (p.end == p.begin) return;
      const bool starts = t.chars[p.begin] == ' ' || t.chars[p.begin] == replacement_;
      const bool prepend = !starts && (prepend_ == Prepend::Always || (prepend_ == Prepend::First && p.shift == 0));
      if (prepend) dst.push(replacement_, t.start[p.begin], t.end[p.begin]);
      for (uint32_t i = p.begin; i < p.end; ++i)
        dst.push(t.chars[i] == ' ' ? replacement_ : t.chars[i], t.start[i], t.end[i]);
    });
    if (split_) split_on_chars(list, SplitBehavior::MergedWithNext, [this](char32_t c) { return c == replacement_; });
  }

 private:
  char32_t replacement_;
  Prepend prepend_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(PieceList& list) const override {
    for (const auto& p : parts_) p->pre_tokenize(list);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() { return std::make_unique<BertPreTokenizer>(); }

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type")) throw Error(where + ": pre_tokenizer without a \"type\"");
  const std::string type = j["type"].get<std::string>();
  const std::string at = where + " (" + type + ")";
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(jf::get_bool(j, "add_prefix_space", true, at), jf::get_bool(j, "use_regex", true, at));
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (type == "Punctuation")
    return std::make_unique<PunctuationPreTokenizer>(parse_split_behavior(jf::get_string(j, "behavior", "Isolated", at)));
  if (type == "Digits") return std::make_unique<DigitsPreTokenizer>(jf::get_bool(j, "individual_digits", false, at));
  if (type == "Split") {
    const std::string source = pattern_source(j.value("pattern", json()), at);
    return std::make_unique<SplitPreTokenizer>(source, parse_split_behavior(jf::get_string(j, "behavior", "Isolated", at)),
                                               jf::get_bool(j, "invert", false, at), at);
  }
  if (type == "Metaspace") {
    const std::vector<char32_t> rep = to_chars(jf::get_string(j, "replacement", "\xE2\x96\x81", at));
    if (rep.size() != 1) throw Error(at + ": \"replacement\" must be one char");
    auto prepend = MetaspacePreTokenizer::Prepend::Always;
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
      const std::string s = j["prepend_scheme"].get<std::string>();
      prepend = s == "first" ? MetaspacePreTokenizer::Prepend::First
                : s == "never" ? MetaspacePreTokenizer::Prepend::Never
                               : MetaspacePreTokenizer::Prepend::Always;
    } else if (!jf::get_bool(j, "add_prefix_space", true, at)) {
      prepend = MetaspacePreTokenizer::Prepend::Never;
    }
    return std::make_unique<MetaspacePreTokenizer>(rep[0], prepend, jf::get_bool(j, "split", true, at));
  }
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) throw Error(at + ": missing \"pretokenizers\" list");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const json& p : j["pretokenizers"])
      if (auto q = make_pre_tokenizer(p, where)) parts.push_back(std::move(q));
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  throw Error(at + ": pre_tokenizer type not supported");
}

}  // namespace medenc::tok
