// Inputs the fuzz targets (fuzz/) found to misbehave, kept as regression tests. Each names the
// target that found it; they matter most under scripts/test-sanitizers.sh, where undefined
// behaviour fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>

#include "medenc/error.h"
#include "medenc/modernbert.h"
#include "medenc/bert.h"
#include "medenc/text_input.h"
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

// fuzz_tokenizer_json: a vocab id given as a float beyond int (4.1e29) was converted with
// undefined behaviour; ids must be integers from 0 to 2^31 - 1, in the vocab and in templates.
TEST(FuzzRegressions, TokenizerJsonIdsMustBeIntegersInRange) {
  const std::string dir = test::temp_dir("fuzz_token_ids");
  for (const char* id : {"4.11111e+29", "1.0", "-1", "3000000000"}) {
    for (const std::string& body :
         {std::string(R"({"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": )") + id + R"(}, "unk_token": "[UNK]"}})",
          std::string(R"({"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "<s>": 1}, "unk_token": "[UNK]"}, )") +
              R"("post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}], )" +
              R"("special_tokens": {"<s>": {"id": "<s>", "ids": [)" + id + R"(], "tokens": ["<s>"]}}}})"}) {
      test::write_file(dir + "/tokenizer.json", body);
      EXPECT_THROW(Tokenizer::from_tokenizer_json(dir + "/tokenizer.json"), Error) << body;
    }
  }
}

// fuzz_tokenizer_json: a post-processor whose special token names an id that neither the model's
// vocabulary nor the added tokens hold loaded, and encode then emitted that id (an out-of-range
// embedding row for the model). Refused at load, naming the file, the token and the id.
TEST(FuzzRegressions, TokenizerJsonTemplateIdOutsideTheVocabularyIsAnError) {
  const std::string dir = test::temp_dir("fuzz_template_ids");
  const std::string path = dir + "/tokenizer.json";
  const std::string model =
      R"("model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 2, "<s>": 3}, "unk_token": "[UNK]"})";
  auto template_with = [&](const std::string& id, const std::string& added, const std::string& m = "") {
    return "{" + (m.empty() ? model : m) + ", " + added +
           R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},)"
           R"({"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [)" +
           id + R"(], "tokens": ["<s>"]}}}})";
  };
  struct Case {
    std::string body, id;
  };
  for (const Case& c : {Case{template_with("4", ""), "4"},  // one past the vocabulary
                        Case{template_with("1", ""), "1"},  // a hole inside it
                        Case{template_with("2000000000", ""), "2000000000"},
                        Case{"{" + model + R"(, "post_processor": {"type": "BertProcessing", "sep": ["<s>", 3], "cls": ["[CLS]", 9]}})", "9"},
                        Case{"{" + model + R"(, "post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"}, )"
                                 R"({"type": "RobertaProcessing", "sep": ["</s>", 17], "cls": ["<s>", 3]}]}})", "17"}}) {
    test::write_file(path, c.body);
    for (int via_dir = 0; via_dir < 2; ++via_dir) {
      try {
        if (via_dir) Tokenizer::from_dir(dir); else Tokenizer::from_tokenizer_json(path);
        ADD_FAILURE() << "loaded: " << c.body;
      } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find(path), std::string::npos) << m;
        EXPECT_NE(m.find("id " + c.id + ","), std::string::npos) << m;
        EXPECT_NE(m.find("not in the vocabulary"), std::string::npos) << m;
      }
    }
  }
  // Ids the vocabulary has load, whether the model or an added token holds them.
  test::write_file(path, template_with("3", ""));
  EXPECT_EQ(Tokenizer::from_tokenizer_json(path)->encode("a").ids, (std::vector<int32_t>{3, 2}));
  // "<s>" is not in this model's vocabulary: as an added token it takes the next id, 2.
  test::write_file(path, template_with("2", R"("added_tokens": [{"id": 2, "content": "<s>", "special": true}], )",
                                       R"("model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 1}, "unk_token": "[UNK]"})"));
  EXPECT_EQ(Tokenizer::from_tokenizer_json(path)->encode("a").ids, (std::vector<int32_t>{2, 1}));
}

// fuzz_documents: a JSON Lines record with a number beyond double's range threw nlohmann's
// out_of_range past the reader (a crash of the whole job); it is a bad record in place.
TEST(FuzzRegressions, JsonlNumberOutOfRangeIsABadRecord) {
  std::istringstream in("{\"text\": \"a\", \"n\": 1e999}\n{\"text\": \"b\"}\n");
  auto reader = make_document_reader(in, InputOptions{}, "test");
  Document d;
  ASSERT_TRUE(reader->next(d));
  EXPECT_EQ(d.line, 1);
  EXPECT_NE(d.error.find("malformed JSON"), std::string::npos) << d.error;
  ASSERT_TRUE(reader->next(d));
  EXPECT_EQ(d.error, "");
  EXPECT_EQ(d.text, "b");
}

// fuzz_config: an integer field given as a float beyond long long's range was cast (undefined
// behaviour) before the check; it is an error naming the field.
TEST(FuzzRegressions, ConfigIntegerOutOfRangeIsAnError) {
  for (const char* value : {"5.02e+85", "-1e19", "9.3e18"}) {
    const std::string text = std::string(R"({"model_type": "modernbert", "hidden_size": )") + value + "}";
    try {
      ModernBertConfig::from_json_text(text, "config.json");
      ADD_FAILURE() << value;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("\"hidden_size\" must be an integer"), std::string::npos) << e.what();
    }
    EXPECT_THROW(BertConfig::from_json_text(std::string(R"({"model_type": "bert", "hidden_size": )") + value + "}",
                                            "config.json"),
                 Error);
  }
  // An integral float in range is still accepted.
  EXPECT_EQ(ModernBertConfig::from_json_text(R"({"model_type": "modernbert", "hidden_size": 64.0, "num_attention_heads": 4, "intermediate_size": 128})",
                                             "config.json")
                .hidden_size,
            64);
}

}  // namespace
}  // namespace medenc
