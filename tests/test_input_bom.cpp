// A UTF-8 byte-order mark at the start of an input (Excel's "CSV UTF-8", Notepad, PowerShell) is
// dropped by every reader: the task commands' JSONL/text/CSV documents, the training data formats
// (JSONL, CSV, CoNLL, PubTator, text), label lists, label maps and threshold files. Without it a CSV
// header's first column would be named "\ufeffid" and a label "\ufeffneg".
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "medenc/classify.h"
#include "medenc/error.h"
#include "medenc/text_input.h"
#include "tasks/csv_parser.h"
#include "task_models.h"
#include "test_support.h"
#include "trainer/records.h"

namespace medenc {
namespace {

using nlohmann::json;
const std::string kBom = "\xEF\xBB\xBF";

std::vector<Document> read_documents(const std::string& input, InputOptions o) {
  std::istringstream in(input);
  auto reader = make_document_reader(in, o, "test");
  std::vector<Document> docs;
  Document d;
  while (reader->next(d)) docs.push_back(d);
  EXPECT_EQ(reader->bytes_read(), (int64_t)input.size());  // the mark counts as read
  return docs;
}

TEST(InputBom, DocumentReadersDropItFromTheFirstLine) {
  InputOptions o;
  auto docs = read_documents(kBom + "{\"id\": \"r1\", \"text\": \"Chest pain.\"}\n{\"text\": \"Fever.\"}\n", o);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].error, "");
  EXPECT_EQ(docs[0].id, "r1");
  EXPECT_EQ(docs[0].text, "Chest pain.");

  o.format = InputFormat::Text;
  docs = read_documents(kBom + "Chest pain.\nFever.\n", o);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "Chest pain.");
  EXPECT_EQ(docs[0].line, 1);
  // Only the first line's: a later U+FEFF is text.
  docs = read_documents("Chest pain.\n" + kBom + "Fever.\n", o);
  EXPECT_EQ(docs[1].text, kBom + "Fever.");

  // Excel's "CSV UTF-8": the id column keeps its name.
  o.format = InputFormat::Csv;
  const std::string csv = kBom + "id,text\r\nr1,Chest pain.\r\nr2,\"Fever, cough.\"\r\n";
  docs = read_documents(csv, o);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, "r1");
  EXPECT_EQ(docs[1].id, "r2");
  EXPECT_EQ(docs[1].text, "Fever, cough.");
  EXPECT_EQ(docs[1].line, 3);
  o.field = "id";
  docs = read_documents(csv, o);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "r1");
}

TEST(InputBom, CsvParserResumedMidFileKeepsTheCharacter) {
  // A parser started mid-file (a resumed training run) is not at the start of the input.
  std::istringstream in(kBom + "x,y\n");
  CsvParser resumed(in, /*at_stream_start=*/false);
  std::vector<std::string> fields;
  int64_t line = 0;
  std::string error;
  ASSERT_TRUE(resumed.next(fields, line, error));
  EXPECT_EQ(fields[0], kBom + "x");
}

std::vector<Record> read_records(const std::string& path, DataFormat format, const DataOptions& o = {}) {
  auto reader = open_record_reader(path, format, o);
  std::vector<Record> out;
  Record r;
  while (reader->next(r)) out.push_back(r);
  return out;
}

TEST(InputBom, TrainingDataReadersDropIt) {
  const std::string dir = test::temp_dir("bom_records");
  test::write_file(dir + "/a.jsonl", kBom + "{\"text\": \"Chest pain.\", \"label\": \"pos\"}\n{\"text\": \"Rain.\", \"label\": \"neg\"}\n");
  auto r = read_records(dir + "/a.jsonl", DataFormat::Jsonl);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].error, "");
  EXPECT_EQ(r[0].text, "Chest pain.");
  EXPECT_EQ(r[0].label, "pos");

  // Byte offsets (used to re-read records) still count the mark: seeking to the second record's
  // offset reads it again.
  {
    auto reader = open_record_reader(dir + "/a.jsonl", DataFormat::Jsonl, {});
    Record first, second;
    ASSERT_TRUE(reader->next(first));
    const int64_t offset = reader->position();
    EXPECT_EQ(offset, (int64_t)(kBom.size() + std::string("{\"text\": \"Chest pain.\", \"label\": \"pos\"}\n").size()));
    reader->seek(offset, 2);
    ASSERT_TRUE(reader->next(second));
    EXPECT_EQ(second.text, "Rain.");
    EXPECT_EQ(second.line, 2);
  }

  test::write_file(dir + "/a.csv", kBom + "text,label\r\nChest pain.,pos\r\n");
  r = read_records(dir + "/a.csv", DataFormat::Csv);  // no column "text" without the fix: throws
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].text, "Chest pain.");
  EXPECT_EQ(r[0].label, "pos");  // found as the default "label" column
  EXPECT_EQ(r[0].line, 2);

  test::write_file(dir + "/a.conll", kBom + "Chest\tB-SYMPTOM\npain\tI-SYMPTOM\n.\tO\n");
  r = read_records(dir + "/a.conll", DataFormat::Conll);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error, "");
  EXPECT_EQ(r[0].text, "Chest pain .");
  ASSERT_EQ(r[0].entities.size(), 1u);
  EXPECT_EQ(r[0].entities[0].start, 0);  // not shifted by a code point
  EXPECT_EQ(r[0].entities[0].end, 10);

  test::write_file(dir + "/a.pubtator", kBom + "123|t|Chest pain\n123|a|with fever.\n123\t0\t5\tChest\tT184\n");
  r = read_records(dir + "/a.pubtator", DataFormat::Pubtator);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].error, "");
  EXPECT_EQ(r[0].text, "Chest pain with fever.");
  ASSERT_EQ(r[0].entities.size(), 1u);

  test::write_file(dir + "/a.txt", kBom + "Chest pain.\n");
  r = read_records(dir + "/a.txt", DataFormat::Text);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].text, "Chest pain.");
}

TEST(InputBom, ThresholdFile) {
  const std::string dir = test::temp_dir("bom_thresholds");
  HeadConfig h;
  h.num_labels = 2;
  h.id2label = {"neg", "pos"};
  h.problem_type = ProblemType::MultiLabel;
  test::write_file(dir + "/t.json", kBom + "{\"pos\": 0.9}");
  EXPECT_EQ(read_label_thresholds(dir + "/t.json", h, 0.5), (std::vector<double>{0.5, 0.9}));
}

TEST(InputBom, ClassifyCsvSavedByExcelKeepsItsIdColumn) {
  const std::string dir = test::temp_dir("bom_cli");
  test::write_file(dir + "/notes.csv", kBom + "id,text\r\nr1,Chest pain.\r\nr2,No acute distress.\r\n");
  const std::string model = "--model " + test::fixture_dir("modernbert_seqcls_regression_mean") + " --tokenizer " +
                            test::data_path("tokenizers/modernbert-base");
  std::string out, err;
  ASSERT_EQ(test::run_cli("classify " + model + " --format csv --field text " + dir + "/notes.csv", &out, &err), 0)
      << err;
  std::istringstream lines(out);
  std::string line;
  std::vector<json> rows;
  while (std::getline(lines, line)) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["id"], "r1");
  EXPECT_EQ(rows[1]["id"], "r2");
  EXPECT_EQ(test::run_cli("classify " + model + " --format csv --field id " + dir + "/notes.csv", &out, &err), 0)
      << err;
}

TEST(InputBom, TrainReadsLabelListAndLabelMapWithIt) {
  const std::string base = test::make_model("ModernBertForMaskedLM", "modernbert-base");
  const std::string dir = test::temp_dir("bom_train");
  test::write_file(dir + "/train.jsonl", kBom +
                                             "{\"text\": \"chest pain\", \"label\": \"positive\"}\n"
                                             "{\"text\": \"rain\", \"label\": \"negative\"}\n"
                                             "{\"text\": \"fever\", \"label\": \"positive\"}\n"
                                             "{\"text\": \"market\", \"label\": \"negative\"}\n");
  test::write_file(dir + "/labels.txt", kBom + "neg\r\npos\r\n");
  test::write_file(dir + "/map.tsv", kBom + "negative\tneg\npositive\tpos\n");
  std::string out, err;
  ASSERT_EQ(test::run_cli("train --model " + base + " --task single-label --train " + dir + "/train.jsonl --label-list " +
                              dir + "/labels.txt --label-map " + dir + "/map.tsv --max-steps 1 --threads 1 --out " +
                              dir + "/o",
                          &out, &err),
            0)
      << err;
  const json config = json::parse(test::read_file(dir + "/o/config.json"));
  EXPECT_EQ(config["id2label"], (json{{"0", "neg"}, {"1", "pos"}}));
  const json state = json::parse(test::read_file(dir + "/o/trainer_state.json"));
  EXPECT_EQ(state["medenc"]["train_data"]["bad_rows"], 0);
}

}  // namespace
}  // namespace medenc
