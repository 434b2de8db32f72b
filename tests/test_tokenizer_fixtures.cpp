// Every case of the Hugging Face tokenizer fixtures (tests/data/tokenizers/fixtures, made with the
// official `tokenizers` library) must come out exactly: ids, tokens, offsets, type ids, special
// tokens mask, word ids and sequence ids, untruncated and truncated to 16 tokens.
//
// MEDENC_TOKENIZER_FIXTURES=/path/to/fixtures runs the same checks on another fixture folder (the
// full set in ../shared/data/tokenizers/fixtures); the tokenizers are always the bundled ones.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "medenc/tokenizer.h"
#include "test_support.h"

namespace {

using nlohmann::json;

std::string fixture_folder() {
  const char* env = std::getenv("MEDENC_TOKENIZER_FIXTURES");
  return env && *env ? std::string(env) : medenc::test::data_path("tokenizers/fixtures");
}

std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

const medenc::Tokenizer& tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<medenc::Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) t = medenc::Tokenizer::from_tokenizer_json(medenc::test::data_path("tokenizers/" + name + "/tokenizer.json"));
  return *t;
}

json optional_ids(const std::vector<int32_t>& v) {
  json a = json::array();
  for (int32_t x : v) a.push_back(x < 0 ? json(nullptr) : json(x));
  return a;
}

json offsets_json(const medenc::Encoding& e) {
  json a = json::array();
  for (auto [s, t] : e.offsets) a.push_back({s, t});
  return a;
}

medenc::Encoding encode(const medenc::Tokenizer& tok, const json& c, const medenc::EncodeOptions& o) {
  const std::string text = c["text"].get<std::string>();
  if (c.contains("text_pair")) return tok.encode_pair(text, c["text_pair"].get<std::string>(), o);
  return tok.encode(text, o);
}

// Compares every field the fixture has; returns "" or what differs.
std::string compare(const medenc::Encoding& e, const json& c) {
  std::string diff;
  auto check = [&](const char* key, const json& ours) {
    if (c.contains(key) && c[key] != ours) diff += std::string(" ") + key + ": ours " + ours.dump() + " expected " + c[key].dump();
  };
  check("ids", e.ids);
  check("tokens", e.tokens);
  check("offsets", offsets_json(e));
  check("type_ids", e.type_ids);
  check("special_tokens_mask", e.special_tokens_mask);
  check("attention_mask", e.attention_mask);
  check("word_ids", optional_ids(e.word_ids));
  check("sequence_ids", optional_ids(e.sequence_ids));
  return diff;
}

class TokenizerFixtures : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerFixtures, UntruncatedExact) {
  const auto cases = read_jsonl(fixture_folder() + "/" + GetParam() + ".jsonl");
  ASSERT_FALSE(cases.empty());
  const auto& tok = tokenizer(GetParam());
  int passed = 0;
  for (const json& c : cases) {
    const std::string diff = compare(encode(tok, c, {}), c);
    EXPECT_EQ(diff, "") << "case " << c["id"] << " (" << c["source"] << ")";
    passed += diff.empty();
  }
  std::printf("[ fixtures ] %s: %d/%zu exact\n", GetParam().c_str(), passed, cases.size());
}

// tokenizers 0.23 (which made the fixtures) stops tokenizing at max_length: with
// stop_at_max_length the main encoding and the number of overflowing windows match it exactly.
TEST_P(TokenizerFixtures, Truncated16LikeTokenizers023) {
  const auto cases = read_jsonl(fixture_folder() + "/" + GetParam() + ".trunc16.jsonl");
  ASSERT_FALSE(cases.empty());
  const auto& tok = tokenizer(GetParam());
  medenc::EncodeOptions o;
  o.max_length = 16;
  o.stop_at_max_length = true;
  int passed = 0;
  for (const json& c : cases) {
    ASSERT_EQ(c["max_length"], 16);
    ASSERT_EQ(c["truncation"], "longest_first");
    const medenc::Encoding e = encode(tok, c, o);
    std::string diff = compare(e, c);
    if (e.overflowing.size() != c["num_overflowing"].get<size_t>())
      diff += " num_overflowing: ours " + std::to_string(e.overflowing.size()) + " expected " + c["num_overflowing"].dump();
    EXPECT_EQ(diff, "") << "case " << c["id"] << " (" << c["source"] << ")";
    passed += diff.empty();
  }
  std::printf("[ fixtures ] %s.trunc16: %d/%zu exact\n", GetParam().c_str(), passed, cases.size());
}

// Default truncation tokenizes the whole text (tokenizers 0.21, as transformers 4.48 uses): for a
// single text the main window is the same, and all windows put back together give exactly the
// untruncated encoding (ids and offsets). (Pairs: test_tokenizer_truncation.cpp.)
TEST_P(TokenizerFixtures, Truncated16WindowsCoverTheText) {
  const auto full = read_jsonl(fixture_folder() + "/" + GetParam() + ".jsonl");
  const auto trunc = read_jsonl(fixture_folder() + "/" + GetParam() + ".trunc16.jsonl");
  ASSERT_EQ(full.size(), trunc.size());
  const auto& tok = tokenizer(GetParam());
  medenc::EncodeOptions o;
  o.max_length = 16;
  for (size_t i = 0; i < full.size(); ++i) {
    if (full[i].contains("text_pair")) continue;
    const medenc::Encoding e = encode(tok, trunc[i], o);
    EXPECT_EQ(compare(e, trunc[i]), "") << "case " << trunc[i]["id"];
    std::vector<int32_t> ids;
    json offsets = json::array();
    auto take = [&](const medenc::Encoding& w) {
      for (size_t k = 0; k < w.size(); ++k) {
        if (w.special_tokens_mask[k]) continue;
        ids.push_back(w.ids[k]);
        offsets.push_back({w.offsets[k].first, w.offsets[k].second});
      }
    };
    take(e);
    for (const auto& w : e.overflowing) {
      EXPECT_LE(w.size(), 16u);
      EXPECT_TRUE(w.overflowing.empty());
      take(w);
    }
    std::vector<int32_t> expected_ids;
    json expected_offsets = json::array();
    for (size_t k = 0; k < full[i]["ids"].size(); ++k) {
      if (full[i]["special_tokens_mask"][k] == 1) continue;
      expected_ids.push_back(full[i]["ids"][k]);
      expected_offsets.push_back(full[i]["offsets"][k]);
    }
    EXPECT_EQ(ids, expected_ids) << "case " << full[i]["id"];
    EXPECT_EQ(offsets, expected_offsets) << "case " << full[i]["id"];
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, TokenizerFixtures,
                         ::testing::Values("modernbert-base", "bert-base-uncased", "bert-base-cased"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
