// Prints, for every code point, what medenc's normalizers and pre-tokenizers make of small probe
// strings around it; unicode_probe.js prints the same with Hugging Face's library. unicode_diff.sh
// compares them and writes the flip tables of src/tokenizer/unicode_tables.cpp. Not part of the build.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/unicode.h"
#include "tokenizer/unicode_tables.h"

using namespace medenc::tok;
using nlohmann::json;

static std::string normalize(const Normalizer& n, const std::u32string& s) {
  NormalizedText t;
  for (size_t i = 0; i < s.size(); ++i) t.push(s[i], static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  n.normalize(t);
  return to_utf8(t.chars);
}

static json pieces(const PreTokenizer& p, const std::u32string& s, bool byte_level = false) {
  PieceList l;
  for (size_t i = 0; i < s.size(); ++i) l.text.push(s[i], static_cast<int32_t>(i), static_cast<int32_t>(i + 1));
  if (!s.empty()) l.pieces.push_back({0, static_cast<uint32_t>(s.size()), -1, 0});
  p.pre_tokenize(l);
  json out = json::array();
  for (const Piece& q : l.pieces) {
    if (!byte_level) {
      out.push_back(to_utf8(l.text.chars.data() + q.begin, q.end - q.begin));
      continue;
    }
    std::string bytes;  // ByteLevel pieces hold one char per byte: map them back to text
    for (uint32_t i = q.begin; i < q.end; ++i) bytes.push_back(static_cast<char>(char_to_byte(l.text.chars[i])));
    out.push_back(bytes);
  }
  return out;
}

int main() {
  auto clean = make_normalizer(json::parse(R"({"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":false,"strip_accents":false,"lowercase":false})"), "p");
  auto strip = make_normalizer(json::parse(R"({"type":"BertNormalizer","clean_text":false,"handle_chinese_chars":false,"strip_accents":true,"lowercase":false})"), "p");
  auto lower = make_normalizer(json::parse(R"({"type":"Lowercase"})"), "p");
  auto nfc = make_normalizer(json::parse(R"({"type":"NFC"})"), "p");
  auto nfd = make_normalizer(json::parse(R"({"type":"NFD"})"), "p");
  auto nfkc = make_normalizer(json::parse(R"({"type":"NFKC"})"), "p");
  auto nfkd = make_normalizer(json::parse(R"({"type":"NFKD"})"), "p");
  auto accents = make_normalizer(json::parse(R"({"type":"StripAccents"})"), "p");
  auto bert = make_pre_tokenizer(json::parse(R"({"type":"BertPreTokenizer"})"), "p");
  auto bytelevel = make_pre_tokenizer(json::parse(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})"), "p");
  auto ws = make_pre_tokenizer(json::parse(R"({"type":"Whitespace"})"), "p");
  auto emit = [&](char32_t c) {
    json j = json::array();
    j.push_back(static_cast<uint32_t>(c));
    j.push_back(normalize(*clean, {U'a', c, U'b'}));
    j.push_back(normalize(*strip, {U'a', c}));
    j.push_back(normalize(*lower, {c}));
    j.push_back(normalize(*nfc, {U'a', c}));
    j.push_back(normalize(*nfd, {c}));
    j.push_back(normalize(*nfkc, {c}));
    j.push_back(normalize(*nfkd, {c}));
    j.push_back(normalize(*accents, {U'a', c}));
    j.push_back(pieces(*bert, {U'a', c, U'b'}));
    j.push_back(pieces(*bytelevel, {U'a', c}, true));
    j.push_back(pieces(*bytelevel, {U'1', c}, true));
    j.push_back(pieces(*bytelevel, {c, c, U'a'}, true));
    j.push_back(pieces(*ws, {U'a', c, U'b'}));
    j.push_back(normalize(*nfd, {U'a', c, 0x334}));  // a combining class > 1 lets U+0334 move before c
    j.push_back(normalize(*nfd, {U'a', 0x301, c}));  // a combining class < 230 moves c before U+0301
    // The flip tables already applied above, so unicode_diff.py can compute the tables afresh.
    json flags = json::array();
    const std::pair<const char*, const CodeTable*> tables[] = {
        {"control", &kBertControlFlips}, {"nonspacing", &kNonspacingMarkFlips}, {"combining", &kCombiningMarkFlips},
        {"punct", &kBertPunctuationFlips}, {"letter", &kLetterFlips}, {"number", &kNumberFlips}, {"space", &kSpaceFlips},
        {"word", &kWordCharFlips}, {"no_compat", &kNoCompatFlips}, {"no_canonical", &kNoCanonicalFlips},
        {"zero_ccc", &kZeroCombiningClassFlips}};
    for (auto [name, t] : tables)
      if (in_table(*t, c)) flags.push_back(name);
    j.push_back(flags);
    j.push_back(to_utf8(std::vector<char32_t>{static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)))}));
    std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  };
  for (char32_t c = 0; c < 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    if (c >= 0x40000 && c < 0xE0000) continue;  // unassigned planes
    if (c >= 0xF0000 && (c & 0xFFF) != 0 && (c & 0xFFFF) < 0xFFFD) continue;  // private use: a sample
    emit(c);
  }
}
