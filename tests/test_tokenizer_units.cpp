// Tokenizer behaviour checked against hand-computed values: the vocab.txt fallback and the
// tokenizer_config.json rules, invalid UTF-8, the empty string, truncation windows with their
// offsets, pair truncation strategies, padding, decoding, added-token flags, and the byte-level
// regex scanner against Oniguruma running the same pattern.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "medenc/tokenizer.h"
#include "test_support.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace {

using medenc::Encoding;
using medenc::EncodeOptions;
using medenc::Tokenizer;
using nlohmann::json;
namespace fs = std::filesystem;

std::string tok_dir(const std::string& name) { return medenc::test::data_path("tokenizers/" + name); }

const Tokenizer& uncased() {
  static auto t = Tokenizer::from_tokenizer_json(tok_dir("bert-base-uncased") + "/tokenizer.json");
  return *t;
}
const Tokenizer& cased() {
  static auto t = Tokenizer::from_tokenizer_json(tok_dir("bert-base-cased") + "/tokenizer.json");
  return *t;
}
const Tokenizer& modern() {
  static auto t = Tokenizer::from_tokenizer_json(tok_dir("modernbert-base") + "/tokenizer.json");
  return *t;
}

using Offsets = std::vector<std::pair<int64_t, int64_t>>;
using Strings = std::vector<std::string>;

// A folder with the given tokenizer files copied in and tokenizer_config.json written (if given).
std::string make_dir(const std::string& tag, const std::string& from, const std::vector<std::string>& files,
                     const std::string& config) {
  const std::string dir = medenc::test::temp_dir(tag);
  for (const auto& f : files) fs::copy_file(tok_dir(from) + "/" + f, dir + "/" + f);
  if (!config.empty()) medenc::test::write_file(dir + "/tokenizer_config.json", config);
  return dir;
}

std::vector<std::string> fixture_texts() {
  std::vector<std::string> out;
  std::ifstream in(medenc::test::data_path("tokenizers/fixtures/bert-base-cased.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    const json c = json::parse(line);
    out.push_back(c["text"].get<std::string>());
  }
  return out;
}

void expect_same(const Encoding& a, const Encoding& b, const std::string& what) {
  EXPECT_EQ(a.ids, b.ids) << what;
  EXPECT_EQ(a.tokens, b.tokens) << what;
  EXPECT_EQ(a.offsets, b.offsets) << what;
  EXPECT_EQ(a.type_ids, b.type_ids) << what;
}

TEST(TokenizerConfig, VocabTxtAloneLowercasesByDefault) {
  const auto dir = make_dir("vocab_only", "bert-base-uncased", {"vocab.txt"}, "");
  auto t = Tokenizer::from_dir(dir);
  for (const auto& text : fixture_texts()) expect_same(t->encode(text), uncased().encode(text), text);
  EXPECT_EQ(t->encode("HELLO").ids, t->encode("hello").ids);
  EXPECT_EQ(t->cls_id(), 101);
  EXPECT_EQ(t->sep_id(), 102);
  EXPECT_EQ(t->pad_id(), 0);
  EXPECT_EQ(t->mask_id(), 103);
  EXPECT_EQ(t->unk_id(), 100);
  EXPECT_TRUE(t->has_continuing_subword_prefix());
}

TEST(TokenizerConfig, VocabTxtWithCrlfLineEnds) {
  // Python reads "\r\n" as "\n", so transformers' vocab has no "\r" either.
  const std::string dir = medenc::test::temp_dir("vocab_crlf");
  std::string vocab = medenc::test::read_file(tok_dir("bert-base-uncased") + "/vocab.txt"), crlf;
  for (char c : vocab) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  medenc::test::write_file(dir + "/vocab.txt", crlf);
  const std::string text = "Patient denies chest pain; unaffable [MASK] E11.9";
  expect_same(Tokenizer::from_dir(dir)->encode(text), uncased().encode(text), text);
  medenc::test::write_file(dir + "/vocab.txt", "[PAD]\n\xff\n");
  EXPECT_THROW(Tokenizer::from_dir(dir), medenc::Error);
}

TEST(TokenizerConfig, VocabTxtWithDoLowerCaseFalseIsCased) {
  const auto dir = make_dir("vocab_cased", "bert-base-cased", {"vocab.txt"}, R"({"do_lower_case": false, "model_max_length": 512})");
  auto t = Tokenizer::from_dir(dir);
  for (const auto& text : fixture_texts()) expect_same(t->encode(text), cased().encode(text), text);
  EXPECT_EQ(t->model_max_length(), 512);
}

TEST(TokenizerConfig, VocabTxtWithEmptyConfigLowercasesAndStripsAccents) {
  const auto dir = make_dir("vocab_empty_cfg", "bert-base-cased", {"vocab.txt"}, "{}");
  auto t = Tokenizer::from_dir(dir);
  // Lowercasing and accent stripping keep one char per char here, so the offsets agree too.
  expect_same(t->encode("Patient HELLO Café ÉCOLE"), cased().encode("patient hello cafe ecole"), "lowercased");
}

TEST(TokenizerConfig, ConfigOverridesTokenizerJsonLowercase) {
  // transformers' BertTokenizerFast: do_lower_case defaults to true even when tokenizer.json says false.
  const auto lower = make_dir("json_cfg_default", "bert-base-cased", {"tokenizer.json"}, R"({"tokenizer_class": "BertTokenizer"})");
  expect_same(Tokenizer::from_dir(lower)->encode("Patient HELLO Café"), cased().encode("patient hello cafe"), "default true");
  const auto keep = make_dir("json_cfg_false", "bert-base-cased", {"tokenizer.json"},
                             R"({"tokenizer_class": "BertTokenizerFast", "do_lower_case": false})");
  expect_same(Tokenizer::from_dir(keep)->encode("Patient HELLO Café"), cased().encode("Patient HELLO Café"), "explicit false");
  // Not a BERT tokenizer class: tokenizer.json is used as it is.
  const auto other = make_dir("json_cfg_other", "bert-base-cased", {"tokenizer.json"},
                              R"({"tokenizer_class": "PreTrainedTokenizerFast"})");
  expect_same(Tokenizer::from_dir(other)->encode("Patient HELLO"), cased().encode("Patient HELLO"), "other class");
  // An uncased tokenizer.json told do_lower_case=false stops lowercasing (and accent stripping).
  const auto upper = make_dir("json_cfg_upper", "bert-base-uncased", {"tokenizer.json"},
                              R"({"tokenizer_class": "BertTokenizer", "do_lower_case": false})");
  auto t = Tokenizer::from_dir(upper);
  EXPECT_NE(t->encode("HELLO").ids, uncased().encode("HELLO").ids);
  EXPECT_EQ(t->encode("hello").ids, uncased().encode("hello").ids);
}

TEST(TokenizerConfig, SpecialTokensAndSizes) {
  auto m = Tokenizer::from_dir(tok_dir("modernbert-base"));
  EXPECT_EQ(m->cls_id(), 50281);
  EXPECT_EQ(m->sep_id(), 50282);
  EXPECT_EQ(m->pad_id(), 50283);
  EXPECT_EQ(m->mask_id(), 50284);
  EXPECT_EQ(m->unk_id(), 50280);
  EXPECT_EQ(m->mask_token(), "[MASK]");
  EXPECT_EQ(m->vocab_size(), 50368);
  EXPECT_FALSE(m->model_max_length().has_value());  // the file says 1e30: unset
  EXPECT_FALSE(m->has_continuing_subword_prefix());
  EXPECT_EQ(m->num_special_tokens_to_add(false), 2);
  EXPECT_EQ(m->num_special_tokens_to_add(true), 3);
  EXPECT_EQ(m->token_to_id("Ġpatient"), 3110);
  EXPECT_EQ(m->id_to_token(50276), "  ");
  auto b = Tokenizer::from_dir(tok_dir("bert-base-uncased"));
  EXPECT_EQ(b->vocab_size(), 30522);
  EXPECT_EQ(b->model_max_length(), 512);
  EXPECT_EQ(b->num_special_tokens_to_add(true), 3);
}

TEST(TokenizerErrors, InvalidUtf8IsAnErrorNamingTheByte) {
  const std::pair<std::string, int> bad[] = {{"\xff", 0},          {"ab\xc3", 2},          {"ok \xc0\xaf", 3},
                                             {"x\xed\xa0\x80", 1}, {"\xf4\x90\x80\x80", 0}, {"caf\xc3\xa9 \xe2\x82", 6}};
  for (const Tokenizer* t : {&modern(), &uncased()}) {
    for (const auto& [text, at] : bad) {
      try {
        t->encode(text);
        ADD_FAILURE() << "no error for byte " << at;
      } catch (const medenc::Error& e) {
        EXPECT_EQ(std::string(e.what()), "text: invalid UTF-8 at byte " + std::to_string(at));
      }
      try {
        t->encode_pair("fine", text);
        ADD_FAILURE() << "no error for the pair";
      } catch (const medenc::Error& e) {
        EXPECT_EQ(std::string(e.what()), "text_pair: invalid UTF-8 at byte " + std::to_string(at));
      }
    }
  }
}

TEST(TokenizerErrors, BadFilesAndOptions) {
  EXPECT_THROW(Tokenizer::from_dir(medenc::test::temp_dir("empty_tok")), medenc::Error);
  const std::string dir = medenc::test::temp_dir("bad_json");
  medenc::test::write_file(dir + "/tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  try {
    Tokenizer::from_dir(dir);
    ADD_FAILURE();
  } catch (const medenc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("Unigram"), std::string::npos) << e.what();
  }
  medenc::test::write_file(dir + "/tokenizer.json", "{not json");
  EXPECT_THROW(Tokenizer::from_dir(dir), medenc::Error);
  EncodeOptions o;
  o.max_length = 1;  // less than the 2 special tokens
  EXPECT_THROW(uncased().encode("a b c", o), medenc::Error);
  o.max_length = 6;
  o.stride = 4;  // windows of 4 tokens cannot overlap by 4
  EXPECT_THROW(uncased().encode("a b c d e f g", o), medenc::Error);
}

TEST(TokenizerEncode, EmptyString) {
  for (const Tokenizer* t : {&modern(), &uncased()}) {
    const Encoding e = t->encode("");
    EXPECT_EQ(e.ids, (std::vector<int32_t>{*t->cls_id(), *t->sep_id()}));
    EXPECT_EQ(e.offsets, (Offsets{{0, 0}, {0, 0}}));
    EXPECT_EQ(e.special_tokens_mask, (std::vector<uint8_t>{1, 1}));
    EXPECT_EQ(e.word_ids, (std::vector<int32_t>{-1, -1}));
    EXPECT_EQ(e.sequence_ids, (std::vector<int32_t>{-1, -1}));
    EXPECT_TRUE(t->encode("", {false}).ids.empty());
    const Encoding p = t->encode_pair("", "");
    EXPECT_EQ(p.ids, (std::vector<int32_t>{*t->cls_id(), *t->sep_id(), *t->sep_id()}));
  }
  const Encoding p = uncased().encode_pair("", "x");
  EXPECT_EQ(p.tokens, (Strings{"[CLS]", "[SEP]", "x", "[SEP]"}));
  EXPECT_EQ(p.type_ids, (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(p.sequence_ids, (std::vector<int32_t>{-1, -1, 1, -1}));
}

TEST(TokenizerTruncation, StrideWindowsWithOffsets) {
  // "a b c d e f g h": one token per letter at chars 0, 2, ..., 14. 6 tokens with [CLS]/[SEP]
  // leave 4 per window; stride 2 starts a window every 2 tokens.
  EncodeOptions o;
  o.max_length = 6;
  o.stride = 2;
  const Encoding e = uncased().encode("a b c d e f g h", o);
  EXPECT_EQ(e.tokens, (Strings{"[CLS]", "a", "b", "c", "d", "[SEP]"}));
  EXPECT_EQ(e.offsets, (Offsets{{0, 0}, {0, 1}, {2, 3}, {4, 5}, {6, 7}, {0, 0}}));
  EXPECT_EQ(e.sequence_ids, (std::vector<int32_t>{-1, 0, 0, 0, 0, -1}));
  ASSERT_EQ(e.overflowing.size(), 2u);
  EXPECT_EQ(e.overflowing[0].tokens, (Strings{"[CLS]", "c", "d", "e", "f", "[SEP]"}));
  EXPECT_EQ(e.overflowing[0].offsets, (Offsets{{0, 0}, {4, 5}, {6, 7}, {8, 9}, {10, 11}, {0, 0}}));
  EXPECT_EQ(e.overflowing[1].tokens, (Strings{"[CLS]", "e", "f", "g", "h", "[SEP]"}));
  EXPECT_EQ(e.overflowing[1].offsets, (Offsets{{0, 0}, {8, 9}, {10, 11}, {12, 13}, {14, 15}, {0, 0}}));
  EXPECT_EQ(e.overflowing[1].word_ids, (std::vector<int32_t>{-1, 4, 5, 6, 7, -1}));
  EXPECT_EQ(e.overflowing[1].special_tokens_mask, (std::vector<uint8_t>{1, 0, 0, 0, 0, 1}));

  o.side = medenc::TruncationSide::Left;
  const Encoding l = uncased().encode("a b c d e f g h", o);
  EXPECT_EQ(l.tokens, (Strings{"[CLS]", "e", "f", "g", "h", "[SEP]"}));
  ASSERT_EQ(l.overflowing.size(), 2u);
  EXPECT_EQ(l.overflowing[0].tokens, (Strings{"[CLS]", "c", "d", "e", "f", "[SEP]"}));
  EXPECT_EQ(l.overflowing[1].tokens, (Strings{"[CLS]", "a", "b", "c", "d", "[SEP]"}));
  EXPECT_EQ(l.overflowing[1].offsets, (Offsets{{0, 0}, {0, 1}, {2, 3}, {4, 5}, {6, 7}, {0, 0}}));
}

TEST(TokenizerTruncation, StopAtMaxLengthLikeTokenizers023) {
  // tokenizers 0.23 stops after the word that brings the count to max_length (6 here): only a..f
  // are tokenized, so one window follows.
  EncodeOptions o;
  o.max_length = 6;
  o.stride = 2;
  o.stop_at_max_length = true;
  const Encoding e = uncased().encode("a b c d e f g h", o);
  EXPECT_EQ(e.tokens, (Strings{"[CLS]", "a", "b", "c", "d", "[SEP]"}));
  ASSERT_EQ(e.overflowing.size(), 1u);
  EXPECT_EQ(e.overflowing[0].tokens, (Strings{"[CLS]", "c", "d", "e", "f", "[SEP]"}));
  // Added tokens found in the text count, but the check only follows a word the model tokenized.
  o.max_length = 3;
  o.stride = 0;
  const Encoding m = uncased().encode("a b [MASK] [MASK] [MASK] c d e", o);
  Strings all;
  for (const Encoding* w : {&m}) all.insert(all.end(), w->tokens.begin() + 1, w->tokens.end() - 1);
  for (const auto& w : m.overflowing) all.insert(all.end(), w.tokens.begin() + 1, w.tokens.end() - 1);
  EXPECT_EQ(all, (Strings{"a", "b", "[MASK]", "[MASK]", "[MASK]", "c"}));
}

TEST(TokenizerTruncation, PairStrategies) {
  EncodeOptions o;
  o.max_length = 8;  // 5 tokens after [CLS] A [SEP] B [SEP]
  const Encoding lf = uncased().encode_pair("a b c d e f", "g h i", o);
  EXPECT_EQ(lf.tokens, (Strings{"[CLS]", "a", "b", "c", "[SEP]", "g", "h", "[SEP]"}));
  EXPECT_EQ(lf.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(lf.sequence_ids, (std::vector<int32_t>{-1, 0, 0, 0, -1, 1, 1, -1}));
  ASSERT_EQ(lf.overflowing.size(), 3u);  // A's window with B, with B's window, and A with B's window
  EXPECT_EQ(lf.overflowing[0].tokens, (Strings{"[CLS]", "d", "e", "f", "[SEP]", "g", "h", "[SEP]"}));
  EXPECT_EQ(lf.overflowing[1].tokens, (Strings{"[CLS]", "d", "e", "f", "[SEP]", "i", "[SEP]"}));
  EXPECT_EQ(lf.overflowing[2].tokens, (Strings{"[CLS]", "a", "b", "c", "[SEP]", "i", "[SEP]"}));
  EXPECT_EQ(lf.overflowing[1].offsets, (Offsets{{0, 0}, {6, 7}, {8, 9}, {10, 11}, {0, 0}, {4, 5}, {0, 0}}));

  o.strategy = medenc::TruncationStrategy::OnlyFirst;
  const Encoding of = uncased().encode_pair("a b c d e f", "g h i", o);
  EXPECT_EQ(of.tokens, (Strings{"[CLS]", "a", "b", "[SEP]", "g", "h", "i", "[SEP]"}));
  ASSERT_EQ(of.overflowing.size(), 2u);
  EXPECT_EQ(of.overflowing[0].tokens, (Strings{"[CLS]", "c", "d", "[SEP]", "g", "h", "i", "[SEP]"}));
  EXPECT_EQ(of.overflowing[1].tokens, (Strings{"[CLS]", "e", "f", "[SEP]", "g", "h", "i", "[SEP]"}));

  o.strategy = medenc::TruncationStrategy::OnlySecond;
  EXPECT_THROW(uncased().encode_pair("a b c d e f", "g h i", o), medenc::Error);  // B is too short
  EXPECT_THROW(uncased().encode("a b c d e f g h i", o), medenc::Error);          // no B at all
  o.max_length = 10;
  const Encoding os = uncased().encode_pair("a b c d e f", "g h i", o);
  EXPECT_EQ(os.tokens, (Strings{"[CLS]", "a", "b", "c", "d", "e", "f", "[SEP]", "g", "[SEP]"}));
  ASSERT_EQ(os.overflowing.size(), 2u);
  EXPECT_EQ(os.overflowing[1].tokens, (Strings{"[CLS]", "a", "b", "c", "d", "e", "f", "[SEP]", "i", "[SEP]"}));
}

TEST(TokenizerPadding, RightLeftAndMultiple) {
  std::vector<Encoding> batch = {uncased().encode("a b"), uncased().encode("a b c d e")};
  uncased().pad(batch);
  EXPECT_EQ(batch[0].ids, (std::vector<int32_t>{101, 1037, 1038, 102, 0, 0, 0}));
  EXPECT_EQ(batch[0].attention_mask, (std::vector<uint8_t>{1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(batch[0].special_tokens_mask, (std::vector<uint8_t>{1, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(batch[0].tokens.back(), "[PAD]");
  EXPECT_EQ(batch[0].word_ids.back(), -1);
  EXPECT_EQ(batch[0].sequence_ids.back(), -1);
  EXPECT_EQ(batch[1].attention_mask, std::vector<uint8_t>(7, 1));
  medenc::PaddingOptions p;
  p.left = true;
  p.pad_to_multiple_of = 8;
  batch = {uncased().encode("a b")};
  uncased().pad(batch, p);
  EXPECT_EQ(batch[0].ids, (std::vector<int32_t>{0, 0, 0, 0, 101, 1037, 1038, 102}));
  EXPECT_EQ(batch[0].offsets[5], (std::pair<int64_t, int64_t>{0, 1}));
  p = {};
  p.length = 10;
  batch = {modern().encode("No acute distress")};
  modern().pad(batch, p);
  EXPECT_EQ(batch[0].ids.size(), 10u);
  EXPECT_EQ(batch[0].ids.back(), 50283);
}

TEST(TokenizerDecode, ByteLevelRoundTrip) {
  const std::string texts[] = {
      "Patient denies chest pain.\nBP 120/80  mmHg; HR 72 bpm.",
      "T 38.5\xC2\xB0" "C, SpO\xE2\x82\x82 92% on RA \xE2\x80\x94 \xE5\x8F\x91\xE7\x83\xAD \xF0\x9F\xA4\x92",
      "  leading,\ttabs\t and trailing  ",
      "",
  };
  for (const std::string& t : texts) {
    const Encoding e = modern().encode(t);
    EXPECT_EQ(modern().decode(e.ids, true, false), t);
    EXPECT_EQ(modern().decode(e.ids, false, false), "[CLS]" + t + "[SEP]");
  }
  EXPECT_EQ(modern().decode(modern().encode("Hello , world . It 's fine").ids), "Hello, world. It's fine");
  EXPECT_EQ(modern().tokens_to_string({"Hello", "\xC4\xA0world"}), "Hello world");
  EXPECT_EQ(modern().decode(std::vector<int32_t>{31630, 999999, 31647}, true, false), "Patient denies");
}

TEST(TokenizerDecode, WordPiece) {
  const Encoding e = uncased().encode("The patient's BP is 120/80, stable.");
  EXPECT_EQ(uncased().decode(e.ids, true, false), "the patient ' s bp is 120 / 80, stable.");
  EXPECT_EQ(uncased().decode(e.ids), "the patient's bp is 120 / 80, stable.");
  EXPECT_EQ(uncased().decode(e.ids, false, false), "[CLS] the patient ' s bp is 120 / 80, stable. [SEP]");
  EXPECT_EQ(uncased().tokens_to_string({"un", "##aff", "##able"}), "unaffable");
  // Round trip on text that survives lowercasing and the decoder's spacing rules.
  const std::string plain = "no acute cardiopulmonary abnormality seen on the chest radiograph";
  EXPECT_EQ(uncased().decode(uncased().encode(plain).ids), plain);
}

TEST(TokenizerEncode, AddedTokenFlags) {
  json j = json::parse(medenc::test::read_file(tok_dir("bert-base-uncased") + "/tokenizer.json"));
  for (auto& t : j["added_tokens"])
    if (t["content"] == "[MASK]") t["lstrip"] = t["rstrip"] = true;
  j["added_tokens"].push_back({{"id", 30522}, {"content", "covid"}, {"single_word", true}, {"lstrip", false},
                               {"rstrip", false}, {"normalized", true}, {"special", false}});
  const std::string dir = medenc::test::temp_dir("added_flags");
  medenc::test::write_file(dir + "/tokenizer.json", j.dump());
  auto t = Tokenizer::from_tokenizer_json(dir + "/tokenizer.json");
  // lstrip and rstrip take the spaces around [MASK] into its span.
  const Encoding m = t->encode("a [MASK] b");
  EXPECT_EQ(m.tokens, (Strings{"[CLS]", "a", " [MASK] ", "b", "[SEP]"}));
  EXPECT_EQ(m.offsets, (Offsets{{0, 0}, {0, 1}, {1, 9}, {9, 10}, {0, 0}}));
  // A normalized added token matches after lowercasing; single_word keeps it out of longer words.
  const Encoding c = t->encode("COVID covid19 precovid");
  EXPECT_EQ(c.ids[1], 30522);
  EXPECT_EQ(c.offsets[1], (std::pair<int64_t, int64_t>{0, 5}));
  for (size_t i = 2; i < c.ids.size(); ++i) EXPECT_NE(c.ids[i], 30522);
  EXPECT_EQ(t->vocab_size(), 30523);
  EXPECT_EQ(t->decode(t->encode("covid").ids), "covid");
}

TEST(TokenizerEncode, BatchMatchesSingle) {
  const std::vector<std::string> texts = fixture_texts();
  const auto batch = modern().encode_batch(texts, {}, 2);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) expect_same(batch[i], modern().encode(texts[i]), texts[i]);
  const std::vector<std::string> bad = {"fine", "bad \xff"};
  EXPECT_THROW(modern().encode_batch(bad), medenc::Error);
}

TEST(TokenizerUnicode, CodepointByteOffsets) {
  EXPECT_EQ(medenc::codepoint_byte_offsets("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), (std::vector<size_t>{0, 1, 3, 6, 10}));
  EXPECT_EQ(medenc::codepoint_byte_offsets(""), (std::vector<size_t>{0}));
}

// The hand-written byte-level scanner must split exactly like Oniguruma running the GPT-2 pattern.
TEST(TokenizerUnicode, Gpt2ScannerMatchesOniguruma) {
  using namespace medenc::tok;
  const Regex re(std::string(kGpt2Pattern), "test");
  std::mt19937 rng(42);
  const std::vector<char32_t> pool = {' ', ' ', ' ', '\t', '\n', '\r', 0xA0, 0x3000, 0x2009, '\'', '\'', 's', 't', 'r',
                                      'e', 'v', 'l', 'd', 'm', 'S', 'a', 'Z', '0', '7', '.', ',', '-', '/', '%', 0xE9,
                                      0x301, 0x4E2D, 0x1F912, 0x2460, 0xB2, 0x661, 0x200B, 0x85, 0x1C89, 0xFFFD};
  std::vector<Match> ours;
  std::vector<std::pair<size_t, size_t>> theirs;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<char32_t> s(rng() % 24);
    for (auto& c : s) c = pool[rng() % pool.size()];
    gpt2_split(s.data(), static_cast<uint32_t>(s.size()), ours);
    const std::string utf8 = to_utf8(s);
    re.find_all(utf8, theirs);
    std::vector<std::pair<size_t, size_t>> ours_bytes;
    std::vector<size_t> byte_at(s.size() + 1, 0);
    for (size_t i = 0; i < s.size(); ++i) byte_at[i + 1] = byte_at[i] + utf8_length(s[i]);
    for (const Match& m : ours) ours_bytes.emplace_back(byte_at[m.b], byte_at[m.e]);
    ASSERT_EQ(ours_bytes, theirs) << "input " << utf8;
  }
}

}  // namespace
