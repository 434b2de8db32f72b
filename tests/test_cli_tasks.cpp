// The batch-job commands from the outside: one output line per input record in order, error lines
// in place, exit codes, input formats, --out, clear messages for models a command cannot serve.
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;
using test::parse_lines;
using test::regression_args;

// The model's raw score for one text, run alone.
double reference_score(const std::string& text) {
  static auto model = load_encoder(test::fixture_dir("modernbert_seqcls_regression_mean"));
  static auto tok = Tokenizer::from_dir(test::data_path("tokenizers/modernbert-base"));
  return test::forward_one(*model, tok->encode(text).ids).logits[0];
}

TEST(CliTasks, ClassifyWritesOneLinePerInputLineWithErrorsInPlace) {
  const auto& texts = test::clinical_sentences();
  std::string input;
  input += json({{"id", "a"}, {"text", texts[0]}}).dump() + "\n";
  input += "{\"id\": \"b\", \"text\": \"no closing brace\"\n";      // malformed
  input += json({{"id", "c"}, {"note", texts[1]}}).dump() + "\n";  // missing field
  input += "{\"id\": \"d\", \"text\": \"bad \xC3\x28 byte\"}\n";    // invalid UTF-8
  input += json({{"id", "e"}, {"text", texts[3]}}).dump() + "\n";
  std::string out, err;
  EXPECT_EQ(test::run_cli("classify " + regression_args(), &out, &err, input), 3) << err;
  const auto lines = parse_lines(out);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0]["id"], "a");
  EXPECT_NEAR(lines[0]["score"].get<double>(), reference_score(texts[0]), 2e-5);
  EXPECT_EQ(lines[1]["line"], 2);
  EXPECT_NE(lines[1]["error"].get<std::string>().find("malformed JSON"), std::string::npos);
  EXPECT_EQ(lines[2]["line"], 3);
  EXPECT_EQ(lines[2]["id"], "c");
  EXPECT_EQ(lines[2]["error"], "missing field \"text\"");
  EXPECT_EQ(lines[3]["line"], 4);
  EXPECT_NE(lines[3]["error"].get<std::string>().find("invalid UTF-8"), std::string::npos);
  EXPECT_EQ(lines[4]["id"], "e");
  EXPECT_NEAR(lines[4]["score"].get<double>(), reference_score(texts[3]), 2e-5);
  EXPECT_NE(err.find("3 of 5"), std::string::npos) << err;

  // --on-error fail: the lines before the bad one, then a non-zero exit naming the line.
  EXPECT_EQ(test::run_cli("classify --on-error fail " + regression_args(), &out, &err, input), 1);
  EXPECT_EQ(parse_lines(out).size(), 1u);
  EXPECT_NE(err.find("line 2"), std::string::npos) << err;

  // All good: exit 0 and nothing on stderr (it is not a terminal, so no progress line).
  EXPECT_EQ(test::run_cli("classify " + regression_args(), &out, &err, test::to_jsonl(texts)), 0);
  EXPECT_EQ(err, "");
  EXPECT_EQ(parse_lines(out).size(), texts.size());
}

TEST(CliTasks, CsvAndPlainTextInputs) {
  const std::string dir = test::temp_dir("csv");
  // A report with a quoted comma, quoted line breaks and escaped quotes.
  test::write_file(dir + "/reports.csv",
                   "uid,findings\r\n"
                   "r1,\"Heart size normal, lungs clear.\"\r\n"
                   "r2,\"FINDINGS:\nNo \"\"acute\"\" process.\nIMPRESSION: negative.\"\r\n"
                   "r3,No effusion.\r\n");
  std::string out, err;
  ASSERT_EQ(test::run_cli("classify " + regression_args() + " --format csv --field findings --id-field uid " + dir +
                              "/reports.csv",
                          &out, &err),
            0)
      << err;
  auto lines = parse_lines(out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["id"], "r2");
  EXPECT_NEAR(lines[1]["score"].get<double>(),
              reference_score("FINDINGS:\nNo \"acute\" process.\nIMPRESSION: negative."), 2e-5);
  EXPECT_EQ(lines[2]["id"], "r3");

  EXPECT_EQ(test::run_cli("classify " + regression_args() + " --format csv " + dir + "/reports.csv", &out, &err), 1);
  EXPECT_NE(err.find("no column \"text\""), std::string::npos) << err;

  ASSERT_EQ(test::run_cli("classify " + regression_args() + " --format text -", &out, &err,
                          "Chest pain.\n\nNo acute distress.\n"),
            0);
  lines = parse_lines(out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NEAR(lines[1]["score"].get<double>(), reference_score(""), 2e-5);
  EXPECT_NEAR(lines[2]["score"].get<double>(), reference_score("No acute distress."), 2e-5);
}

TEST(CliTasks, OutFileIsWrittenWhole) {
  const std::string dir = test::temp_dir("out");
  std::string out, err;
  ASSERT_EQ(test::run_cli("classify " + regression_args() + " --out " + dir + "/scores.jsonl", &out, &err,
                          test::to_jsonl(test::clinical_sentences())),
            0)
      << err;
  EXPECT_EQ(out, "");
  EXPECT_EQ(parse_lines(test::read_file(dir + "/scores.jsonl")).size(), test::clinical_sentences().size());
  EXPECT_FALSE(std::filesystem::exists(dir + "/scores.jsonl.tmp"));
}

TEST(CliTasks, UsageErrorsAndModelsACommandCannotServe) {
  std::string out, err;
  const std::string mlm = "--model " + test::fixture_dir("modernbert_mlm") + " --tokenizer " +
                          test::data_path("tokenizers/modernbert-base");
  EXPECT_EQ(test::run_cli("classify " + mlm, &out, &err, "{\"text\": \"x\"}\n"), 1);
  EXPECT_NE(err.find("ModernBertForMaskedLM"), std::string::npos) << err;
  EXPECT_NE(err.find("medenc fill-mask"), std::string::npos) << err;
  EXPECT_EQ(test::run_cli("ner " + mlm, &out, &err, "{\"text\": \"x\"}\n"), 1);
  EXPECT_NE(err.find("token-classification"), std::string::npos) << err;

  EXPECT_EQ(test::run_cli("ner --aggregation longest " + mlm, &out, &err), 2);
  EXPECT_EQ(test::run_cli("fill-mask --stride 16 " + mlm, &out, &err), 2);
  EXPECT_EQ(test::run_cli("classify --max-length 9000 " + regression_args(), &out, &err), 2);
  EXPECT_NE(err.find("8192"), std::string::npos) << err;
  EXPECT_EQ(test::run_cli("classify --max-length 64 --stride 62 " + regression_args(), &out, &err), 2);

  // A model folder without tokenizer files asks for --tokenizer.
  EXPECT_EQ(test::run_cli("embed --model " + test::fixture_dir("modernbert_mlm"), &out, &err, "{\"text\": \"x\"}\n"),
            1);
  EXPECT_NE(err.find("--tokenizer"), std::string::npos) << err;
  // A tokenizer with more ids than the model's vocabulary does not belong to it.
  EXPECT_EQ(test::run_cli("embed --model " + test::fixture_dir("modernbert_tokcls9_smallvocab") + " --tokenizer " +
                              test::data_path("tokenizers/modernbert-base"),
                          &out, &err, "{\"text\": \"x\"}\n"),
            1);
  EXPECT_NE(err.find("do not belong together"), std::string::npos) << err;
}

TEST(CliTasks, NerEmbedFillMaskRunEndToEnd) {
  const std::string ner_dir = test::make_model("BertForTokenClassification", "bert-base-uncased", 5);
  test::set_labels(ner_dir, {"O", "B-Disorder", "I-Disorder", "B-Chemical", "I-Chemical"});
  std::string long_text;
  for (int r = 0; r < 30; ++r) long_text += test::clinical_sentences()[0] + " ";
  const std::string input = test::to_jsonl({test::clinical_sentences()[4], long_text});
  std::string out, err;
  for (const char* agg : {"none", "simple", "first", "average", "max"}) {
    ASSERT_EQ(test::run_cli("ner --model " + ner_dir + " --stride 64 --aggregation " + agg, &out, &err, input), 0)
        << agg << ": " << err;
    const auto lines = parse_lines(out);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_GE(lines[1]["windows"].get<int>(), 2);
    const std::vector<std::string> texts{test::clinical_sentences()[4], long_text};
    for (size_t i = 0; i < 2; ++i)
      for (const auto& e : lines[i]["entities"]) {
        EXPECT_EQ(e["text"], test::cp_slice(texts[i], e["start"], e["end"])) << agg;
        EXPECT_EQ(e.contains("index"), std::string(agg) == "none");
      }
  }

  ASSERT_EQ(test::run_cli("embed --pooling cls --normalize --model " + ner_dir, &out, &err, input), 0) << err;
  auto lines = parse_lines(out);
  ASSERT_EQ(lines.size(), 2u);
  double norm = 0;
  for (const auto& v : lines[0]["embedding"]) norm += v.get<double>() * v.get<double>();
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_EQ(lines[1]["truncated"], true);  // 512 positions

  const std::string mlm = test::make_model("BertForMaskedLM", "bert-base-uncased");
  ASSERT_EQ(test::run_cli("fill-mask --top-k 3 --model " + mlm, &out, &err,
                          "{\"text\": \"Chest x-ray shows no [MASK].\"}\n{\"text\": \"Nothing to fill.\"}\n"),
            3)
      << err;
  lines = parse_lines(out);
  ASSERT_EQ(lines.size(), 2u);
  ASSERT_EQ(lines[0]["masks"].size(), 1u);
  EXPECT_EQ(lines[0]["masks"][0]["predictions"].size(), 3u);
  EXPECT_EQ(lines[0]["masks"][0]["start"], 21);
  EXPECT_EQ(lines[0]["masks"][0]["end"], 27);
  EXPECT_EQ(lines[1]["line"], 2);
}

}  // namespace
}  // namespace medenc
