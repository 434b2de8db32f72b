// Inputs the fuzz targets (fuzz/) found to misbehave, kept as regression tests. Each names the
// target that found it; they matter most under scripts/test-sanitizers.sh, where undefined
// behaviour fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "medenc/error.h"
#include "medenc/safetensors.h"
#include "medenc/tokenizer.h"
#include "test_support.h"

namespace medenc {
namespace {

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[(size_t)i] = (char)((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

// fuzz_safetensors: reading a tensor with zero elements passed a null destination to memcpy.
TEST(FuzzRegressions, EmptyTensorsReadAsEmpty) {
  const std::string dir = test::temp_dir("fuzz_empty_tensor");
  test::write_file(dir + "/e.safetensors",
                   safetensors_bytes(R"({"e32":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                                     R"("e16":{"dtype":"F16","shape":[2,0],"data_offsets":[0,0]},)"
                                     R"("x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                     std::string("\x00\x00\x80\x3f", 4)));
  auto f = SafetensorsFile::open(dir + "/e.safetensors");
  EXPECT_TRUE(f->read_f32(*f->find("e32")).empty());
  EXPECT_TRUE(f->read_f32(*f->find("e16")).empty());
  EXPECT_EQ(f->read_f32(*f->find("x")), std::vector<float>{1.0f});
}

// fuzz_tokenizer_json: a TemplateProcessing special token without "ids" escaped as nlohmann's
// out_of_range instead of medenc::Error; the same for a "type" that is not a string.
TEST(FuzzRegressions, TokenizerJsonWithMissingKeysIsAnError) {
  const std::string dir = test::temp_dir("fuzz_tokenizer_json");
  const std::string model =
      R"("model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "<s>": 1, "a": 2}, "unk_token": "[UNK]"})";
  const std::string template_start =
      R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},)"
      R"({"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": )";
  for (const std::string& body :
       {"{" + model + ", " + template_start + R"({"id": "<s>", "idsZZ": [1], "tokens": ["<s>"]}}}})",
        "{" + model + ", " + template_start + R"({"id": "<s>", "ids": ["one"], "tokens": ["<s>"]}}}})",
        "{" + model + R"(, "post_processor": {"type": 7}})"}) {
    test::write_file(dir + "/tokenizer.json", body);
    try {
      Tokenizer::from_tokenizer_json(dir + "/tokenizer.json");
      ADD_FAILURE() << "loaded: " << body;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir + "/tokenizer.json"), std::string::npos) << e.what();
    }
    try {
      Tokenizer::from_dir(dir);
      ADD_FAILURE() << "loaded: " << body;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
    }
  }
  // The well-formed version loads.
  test::write_file(dir + "/tokenizer.json",
                   "{" + model + ", " + template_start + R"({"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}})");
  EXPECT_EQ(Tokenizer::from_tokenizer_json(dir + "/tokenizer.json")->encode("a").ids, (std::vector<int32_t>{1, 2}));
}

}  // namespace
}  // namespace medenc
