// `medenc tokenize`: one JSON line out per input line, in order, with errors in place.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/tokenizer.h"
#include "test_support.h"

namespace {

using nlohmann::json;

std::vector<json> lines_of(const std::string& out) {
  std::vector<json> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) v.push_back(json::parse(line));
  return v;
}

TEST(TokenizeCli, MalformedLineInTheMiddle) {
  const std::string model = medenc::test::data_path("tokenizers/bert-base-uncased");
  const std::string input =
      "{\"text\": \"Patient denies chest pain.\"}\n"
      "{\"text\": \"What dose?\", \"text_pair\": \"5 mg/kg\"}\n"
      "{\"text\": unquoted}\n"
      "\n"
      "{\"txt\": \"no text key\"}\n"
      "{\"text\": \"bad \xff byte\"}\n"
      "{\"text\": \"\"}\n";
  std::string out, err;
  const int rc = medenc::test::run_cli("tokenize --model " + model + " -", &out, &err, input);
  EXPECT_EQ(rc, 3) << err;
  const auto got = lines_of(out);
  ASSERT_EQ(got.size(), 6u) << out;  // the blank line is not a record

  auto tok = medenc::Tokenizer::from_dir(model);
  const medenc::Encoding e0 = tok->encode("Patient denies chest pain.");
  EXPECT_EQ(got[0]["ids"], e0.ids);
  EXPECT_EQ(got[0]["tokens"], e0.tokens);
  EXPECT_EQ(got[0]["offsets"], json::parse("[[0,0],[0,7],[8,14],[15,20],[21,25],[25,26],[0,0]]"));
  EXPECT_EQ(got[0]["type_ids"], json(std::vector<int>(7, 0)));
  EXPECT_FALSE(got[0].contains("overflowing"));
  EXPECT_EQ(got[1]["ids"], tok->encode_pair("What dose?", "5 mg/kg").ids);
  EXPECT_EQ(got[1]["type_ids"].back(), 1);
  EXPECT_EQ(got[2]["line"], 3);
  EXPECT_TRUE(got[2].contains("error"));
  EXPECT_EQ(got[3]["line"], 5);
  EXPECT_EQ(got[4]["line"], 6);
  EXPECT_EQ(got[5]["ids"], json::parse("[101, 102]"));
}

TEST(TokenizeCli, MaxLengthWritesOverflowingWindows) {
  const std::string model = medenc::test::data_path("tokenizers/bert-base-uncased");
  const std::string file = medenc::test::temp_dir("tok_cli") + "/in.jsonl";
  medenc::test::write_file(file, "{\"text\": \"a b c d e f g h\"}\n{\"text\": \"a b\"}\n");
  std::string out, err;
  ASSERT_EQ(medenc::test::run_cli("tokenize --model " + model + " --max-length 6 --stride 2 " + file, &out, &err), 0) << err;
  const auto got = lines_of(out);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["tokens"], json::parse(R"(["[CLS]","a","b","c","d","[SEP]"])"));
  ASSERT_EQ(got[0]["overflowing"].size(), 2u);
  EXPECT_EQ(got[0]["overflowing"][0]["tokens"], json::parse(R"(["[CLS]","c","d","e","f","[SEP]"])"));
  EXPECT_EQ(got[0]["overflowing"][1]["offsets"], json::parse("[[0,0],[8,9],[10,11],[12,13],[14,15],[0,0]]"));
  EXPECT_EQ(got[1]["overflowing"], json::array());
  ASSERT_EQ(medenc::test::run_cli("tokenize --model " + model + " --no-special-tokens " + file, &out, &err), 0) << err;
  EXPECT_EQ(lines_of(out)[1]["tokens"], json::parse(R"(["a","b"])"));
  EXPECT_EQ(medenc::test::run_cli("tokenize --model /nonexistent " + file, &out, &err), 1);
  EXPECT_NE(err.find("/nonexistent"), std::string::npos) << err;
}

}  // namespace
