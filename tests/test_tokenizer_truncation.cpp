// Pair truncation against Hugging Face `tokenizers` 0.23 probed over a grid
// (tests/data/tokenizers/fixtures/truncation_probe.jsonl.gz, written by bench/tokenizer/truncation_probe.js
// with the official Node binding): 0..12 words a side, max_length 3..12, longest_first left and right,
// strides 0-2, only_first/only_second, words of several tokens, for bert-base-uncased and
// modernbert-base.
//
// With stop_at_max_length (tokenizers 0.23's early stop) every case must come out exactly: the main
// encoding, every overflowing window and the cases the library refuses. By default medenc tokenizes
// the whole text; the main encoding must still be the library's (the pair split is made from the
// lengths 0.23 sees), and where neither text reaches max_length the windows must be too.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "medenc/error.h"
#include "medenc/tokenizer.h"
#include "test_support.h"

namespace {

using nlohmann::json;

const medenc::Tokenizer& tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<medenc::Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) t = medenc::Tokenizer::from_tokenizer_json(medenc::test::data_path("tokenizers/" + name + "/tokenizer.json"));
  return *t;
}

json as_json(const medenc::Encoding& e, bool with_overflowing) {
  json j = {{"ids", e.ids}, {"type_ids", e.type_ids}};
  if (with_overflowing && !e.overflowing.empty()) {
    json o = json::array();
    for (const auto& w : e.overflowing) o.push_back(as_json(w, true));
    j["overflowing"] = o;
  }
  return j;
}

std::vector<json> read_probe() {
  const std::string path = medenc::test::data_path("tokenizers/fixtures/truncation_probe.jsonl.gz");
  gzFile in = gzopen(path.c_str(), "rb");
  EXPECT_NE(in, nullptr) << path;
  std::vector<json> out;
  if (!in) return out;
  std::string text;
  char buf[1 << 16];
  for (int n; (n = gzread(in, buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  gzclose(in);
  for (size_t b = 0, e; b < text.size(); b = e + 1) {
    e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    if (e > b) out.push_back(json::parse(text.substr(b, e - b)));
  }
  return out;
}

const std::vector<json>& probe_cases() {
  static const std::vector<json> cases = read_probe();
  return cases;
}

medenc::EncodeOptions options_of(const json& c, bool stop) {
  medenc::EncodeOptions o;
  o.max_length = c["max_length"];
  o.stride = c["stride"];
  const std::string s = c["strategy"];
  o.strategy = s == "only_first"    ? medenc::TruncationStrategy::OnlyFirst
               : s == "only_second" ? medenc::TruncationStrategy::OnlySecond
                                    : medenc::TruncationStrategy::LongestFirst;
  o.side = c["side"] == "left" ? medenc::TruncationSide::Left : medenc::TruncationSide::Right;
  o.stop_at_max_length = stop;
  return o;
}

// "" or what differs; `whole` compares the overflowing windows too.
std::string run_case(const json& c, bool stop, bool whole) {
  const auto& tok = tokenizer(c["tokenizer"]);
  const medenc::EncodeOptions o = options_of(c, stop);
  json expected = {{"ids", c.value("ids", json())}, {"type_ids", c.value("type_ids", json())}};
  if (whole && c.contains("overflowing")) expected["overflowing"] = c["overflowing"];
  try {
    const medenc::Encoding e = tok.encode_pair(c["text"].get<std::string>(), c["text_pair"].get<std::string>(), o);
    if (c.contains("error")) return "expected an error, got " + as_json(e, false).dump();
    const json ours = as_json(e, whole);
    return ours == expected ? "" : "ours " + ours.dump() + "\n expected " + expected.dump();
  } catch (const medenc::Error& err) {
    if (c.contains("error")) return "";
    return std::string("unexpected error: ") + err.what();
  }
}

std::string describe(const json& c) {
  return std::string(c["tokenizer"]) + " \"" + std::string(c["text"]) + "\" / \"" + std::string(c["text_pair"]) +
         "\" max_length " + c["max_length"].dump() + " stride " + c["stride"].dump() + " " +
         std::string(c["strategy"]) + " " + std::string(c["side"]);
}

size_t longest_text_tokens(const json& c) {
  const auto& tok = tokenizer(c["tokenizer"]);
  const size_t a = tok.encode(c["text"].get<std::string>(), {.add_special_tokens = false}).ids.size();
  const size_t b = tok.encode(c["text_pair"].get<std::string>(), {.add_special_tokens = false}).ids.size();
  return std::max(a, b);
}

TEST(TokenizerTruncationProbe, StopAtMaxLengthMatchesTokenizers023Exactly) {
  const auto& cases = probe_cases();
  ASSERT_GT(cases.size(), 19000u);
  size_t failed = 0, errors = 0;
  for (const json& c : cases) {
    errors += c.contains("error");
    const std::string diff = run_case(c, true, true);
    if (!diff.empty() && ++failed <= 20) ADD_FAILURE() << describe(c) << ": " << diff;
  }
  EXPECT_EQ(failed, 0u) << "of " << cases.size();
  EXPECT_GT(errors, 0u);  // the grid reaches the strides a share cannot hold
}

TEST(TokenizerTruncationProbe, DefaultKeepsTheMainEncodingOfTokenizers023) {
  const auto& cases = probe_cases();
  size_t failed = 0, whole = 0;
  for (const json& c : cases) {
    // Where no text reaches max_length, 0.23 tokenizes it all as well: the windows must agree too.
    const bool same_text = longest_text_tokens(c) < c["max_length"].get<size_t>();
    whole += same_text;
    const std::string diff = run_case(c, false, same_text);
    if (!diff.empty() && ++failed <= 20) ADD_FAILURE() << describe(c) << ": " << diff;
  }
  EXPECT_EQ(failed, 0u) << "of " << cases.size();
  EXPECT_GT(whole, 1000u);
}

// The example, written out: both texts pass their share of 5 tokens, and 0.23 gives the
// odd token to the second, because it sees both as max_length (8) long.
TEST(TokenizerTruncationProbe, BothLongerThanTheirShare) {
  medenc::EncodeOptions o;
  o.max_length = 8;
  const auto e = tokenizer("bert-base-uncased").encode_pair("a b c d e f g h i j k l", "a b c d e f g h i j", o);
  EXPECT_EQ(e.tokens, (std::vector<std::string>{"[CLS]", "a", "b", "[SEP]", "a", "b", "c", "[SEP]"}));
}

}  // namespace
