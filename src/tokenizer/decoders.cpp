#include "tokenizer/decoders.h"

#include "medenc/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "util/json_fields.h"

namespace medenc::tok {

namespace {

using nlohmann::json;
namespace jf = medenc::json_fields;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const std::vector<char32_t> chars = to_chars(t);
      std::string mapped;
      bool ok = true;
      for (char32_t c : chars) {
        const int b = char_to_byte(c);
        if (b < 0) {
          ok = false;
          break;
        }
        mapped.push_back(static_cast<char>(b));
      }
      bytes += ok ? mapped : t;  // a token with a char outside the table keeps its own bytes
    }
    return {utf8_lossy(bytes)};
  }
};

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0)
          t.erase(0, prefix_.size());
        else
          t.insert(t.begin(), ' ');
      }
      if (cleanup_) t = cleanup(std::move(t));
    }
    return tokens;
  }
  // The WordPiece decoder's own cleanup (transformers' list plus " do not" -> " don't").
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> rules[] = {
        {" .", "."},    {" ?", "?"},      {" !", "!"},          {" ,", ","},    {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (auto [from, to] : rules) replace_all(s, from, to);
    return s;
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool prepend) : replacement_(replacement), prepend_(prepend) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (char32_t c : to_chars(tokens[i])) {
        if (c != replacement_)
          append_utf8(out, c);
        else if (!(i == 0 && prepend_))
          out.push_back(' ');
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool prepend_;
};

class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    return tokens;
  }

 private:
  std::string suffix_;
};

class ByteFallbackDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (invalid_utf8_at(pending) == std::string_view::npos) {
        out.push_back(pending);
      } else {
        for (size_t k = 0; k < pending_count; ++k) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
      pending_count = 0;
    };
    for (std::string& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        try {
          size_t used = 0;
          const int v = std::stoi(t.substr(3, 2), &used, 16);
          if (used == 2) byte = v;
        } catch (...) {
        }
      }
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }
};

class FuseDecoder : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {all};
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& t : tokens) {
      const std::vector<char32_t> chars = to_chars(t);
      size_t b = 0, e = chars.size();
      for (size_t i = 0; i < start_ && i < chars.size() && chars[i] == content_; ++i) b = i + 1;
      for (size_t i = 0; i < stop_ && i < chars.size() && chars[chars.size() - 1 - i] == content_; ++i) e = chars.size() - 1 - i;
      t = b < e ? to_utf8(chars.data() + b, e - b) : std::string();
    }
    return tokens;
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<Regex> re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::pair<size_t, size_t>> found;
    for (std::string& t : tokens) {
      re_->find_all(t, found);
      if (found.empty()) continue;
      std::string out;
      size_t prev = 0;
      for (auto [b, e] : found) {
        out.append(t, prev, b - prev);
        out += content_;
        prev = e;
      }
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
    return tokens;
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& p : parts_) tokens = p->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

char32_t single_char(const std::string& s, const std::string& where, const char* what) {
  const std::vector<char32_t> c = to_chars(s);
  if (c.size() != 1) throw Error(where + ": \"" + what + "\" must be one char");
  return c[0];
}

}  // namespace

std::string Decoder::decode(std::vector<std::string> tokens) const {
  std::string out;
  for (const std::string& t : decode_chain(std::move(tokens))) out += t;
  return out;
}

std::unique_ptr<Decoder> make_wordpiece_decoder(const std::string& prefix, bool cleanup) {
  return std::make_unique<WordPieceDecoder>(prefix, cleanup);
}

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type")) throw Error(where + ": decoder without a \"type\"");
  const std::string type = j["type"].get<std::string>();
  const std::string at = where + " (" + type + ")";
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "WordPiece")
    return make_wordpiece_decoder(jf::get_string(j, "prefix", "##", at), jf::get_bool(j, "cleanup", true, at));
  if (type == "Metaspace") {
    bool prepend = true;
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string())
      prepend = j["prepend_scheme"].get<std::string>() != "never";
    else
      prepend = jf::get_bool(j, "add_prefix_space", true, at);
    return std::make_unique<MetaspaceDecoder>(single_char(jf::get_string(j, "replacement", "\xE2\x96\x81", at), at, "replacement"), prepend);
  }
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(jf::get_string(j, "suffix", "</w>", at));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(single_char(jf::get_string(j, "content", " ", at), at, "content"),
                                          static_cast<size_t>(jf::get_int(j, "start", 0, at)),
                                          static_cast<size_t>(jf::get_int(j, "stop", 0, at)));
  if (type == "Replace") {
    const std::string source = pattern_source(j.value("pattern", json()), at);
    return std::make_unique<ReplaceDecoder>(std::make_unique<Regex>(source, at), jf::get_string(j, "content", "", at));
  }
  if (type == "Sequence") {
    if (!j.contains("decoders") || !j["decoders"].is_array()) throw Error(at + ": missing \"decoders\" list");
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const json& d : j["decoders"])
      if (auto q = make_decoder(d, where)) parts.push_back(std::move(q));
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  throw Error(at + ": decoder type not supported");
}

std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> rules[] = {{" .", "."},    {" ?", "?"},    {" !", "!"},
                                                              {" ,", ","},    {" ' ", "'"},   {" n't", "n't"},
                                                              {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"},
                                                              {" 're", "'re"}};
  for (auto [from, to] : rules) replace_all(s, from, to);
  return s;
}

}  // namespace medenc::tok
