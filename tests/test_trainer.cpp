// The trainer as a library: task heads on base checkpoints, and end-to-end runs whose loss falls and whose
// saved checkpoints reproduce the in-memory model exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "medenc/result_json.h"
#include "medenc/classify.h"
#include "medenc/safetensors.h"
#include "medenc/trainer.h"
#include "task_models.h"

namespace medenc {
namespace {

using nlohmann::json;

std::vector<float> tensor(const std::string& dir, const std::string& name) {
  const Checkpoint c = Checkpoint::open_dir(dir);
  const Checkpoint::Entry* e = c.find(name);
  if (!e) return {};
  return e->file->read_f32(*e->info);
}

std::vector<float> param(const TrainableEncoder& m, const std::string& name) {
  const ParamSpec* s = m.parameters().find(name);
  if (!s) return {};
  return std::vector<float>(m.parameters().data() + s->offset, m.parameters().data() + s->offset + s->numel);
}

TEST(Trainer, ClassifierOnAnMlmCheckpointKeepsTheMlmHead) {
  const std::string base = test::make_model("ModernBertForMaskedLM", "modernbert-base");
  TaskModel tm = build_task_model(base, TaskKind::MultiLabel, {"a", "b", "c"}, false, 3, LoadOptions{});
  EXPECT_EQ(tm.model->info().head.architecture, "ModernBertForSequenceClassification");
  EXPECT_EQ(tm.initialised, (std::vector<std::string>{"classifier.weight (new labels)", "classifier.bias (new labels)"}));
  EXPECT_EQ(tm.unused, (std::vector<std::string>{"decoder.bias"}));
  for (const char* name : {"head.dense.weight", "head.norm.weight", "model.embeddings.tok_embeddings.weight",
                           "model.layers.1.attn.Wqkv.weight"}) {
    EXPECT_EQ(param(*tm.model, name), tensor(base, name)) << name;
  }
  const json config = json::parse(tm.config_json);
  EXPECT_EQ(config["problem_type"], "multi_label_classification");
  EXPECT_EQ(config["id2label"]["2"], "c");
  EXPECT_EQ(config["label2id"]["b"], 1);

  // From scratch: nothing is loaded.
  TaskModel fresh = build_task_model(base, TaskKind::Ner, bio_label_names({"X"}), true, 3, LoadOptions{});
  EXPECT_NE(param(*fresh.model, "head.dense.weight"), tensor(base, "head.dense.weight"));
  EXPECT_EQ(fresh.model->info().head.kind, HeadKind::TokenClassification);
}

TEST(Trainer, BertClassifierOnAnMlmCheckpointGetsANewPoolerAndClassifier) {
  const std::string base = test::make_model("BertForMaskedLM", "bert-base-uncased");
  TaskModel tm = build_task_model(base, TaskKind::SingleLabel, {"neg", "pos"}, false, 3, LoadOptions{});
  EXPECT_EQ(tm.initialised, (std::vector<std::string>{"bert.pooler.dense.weight", "bert.pooler.dense.bias",
                                                      "classifier.weight (new labels)",
                                                      "classifier.bias (new labels)"}));
  EXPECT_EQ(param(*tm.model, "bert.encoder.layer.1.output.dense.weight"),
            tensor(base, "bert.encoder.layer.1.output.dense.weight"));
  // A fine-tuned classifier whose labels cover the data keeps its classifier.
  const std::string cls = test::make_model("BertForSequenceClassification", "bert-base-uncased", 2,
                                           "single_label_classification");
  test::set_labels(cls, {"neg", "pos"});
  EXPECT_EQ(*checkpoint_labels(cls, TaskKind::SingleLabel), (std::vector<std::string>{"neg", "pos"}));
  TaskModel kept = build_task_model(cls, TaskKind::SingleLabel, {"neg", "pos"}, false, 3, LoadOptions{});
  EXPECT_TRUE(kept.initialised.empty());
  EXPECT_EQ(param(*kept.model, "classifier.weight"), tensor(cls, "classifier.weight"));
  EXPECT_FALSE(checkpoint_labels(cls, TaskKind::MultiLabel).has_value());
}

TrainingArguments tiny_args(const std::string& base, TaskKind task, const std::string& train_file) {
  TrainingArguments a;
  a.model_dir = base;
  a.task = task;
  a.train_file = train_file;
  a.output_dir = test::temp_dir("train_out");
  a.learning_rate = 1e-3;
  a.max_steps = 30;
  a.per_device_train_batch_size = 8;
  a.logging_steps = 5;
  a.save_steps = 15;
  a.max_length = 64;
  a.threads = 1;
  return a;
}

std::vector<double> logged_losses(const std::string& out) {
  const json state = json::parse(test::read_file(out + "/trainer_state.json"));
  std::vector<double> losses;
  for (const json& e : state["log_history"])
    if (e.contains("loss")) losses.push_back(e["loss"].get<double>());
  return losses;
}

// A regression checkpoint with a named output (models/medical-relevance's is "medical_relevance")
// warm-starts with its regressor, as Hugging Face loads any head of the same shape: at a negligible rate
// the trained folder's regressor is the checkpoint's, and the name is kept. (It used to be replaced
// by a fresh one named LABEL_0.)
TEST(Trainer, RegressionWarmStartKeepsANamedRegressor) {
  const std::string reg = test::make_model("ModernBertForSequenceClassification", "modernbert-base", 1, "regression");
  test::set_labels(reg, {"medical_relevance"});
  const std::string data = test::temp_dir("reg_data") + "/train.jsonl";
  test::write_file(data, "{\"text\": \"Chest radiograph shows no effusion.\", \"score\": 5}\n"
                         "{\"text\": \"The committee met on Tuesday.\", \"score\": 1}\n");
  TrainingArguments a = tiny_args(reg, TaskKind::Regression, data);
  a.learning_rate = 1e-30;  // far under a float ulp of these weights: the step leaves them as they are
  a.max_steps = 1;
  a.save_strategy = "no";
  a.data.score_min = 1;
  a.data.score_max = 5;
  train(a);
  const json config = json::parse(test::read_file(a.output_dir + "/config.json"));
  EXPECT_EQ(config["id2label"]["0"], "medical_relevance");
  EXPECT_EQ(tensor(a.output_dir, "classifier.weight"), tensor(reg, "classifier.weight"));
  const std::vector<float> bias = tensor(a.output_dir, "classifier.bias"), stored = tensor(reg, "classifier.bias");
  ASSERT_EQ(bias.size(), 1u);
  EXPECT_NEAR(bias[0], stored[0], 1e-20);  // a zero bias moves by about the rate itself
}

TEST(Trainer, MultiLabelEndToEndSavedModelReproducesTheInMemoryModel) {
  const std::string base = test::make_model("ModernBertForMaskedLM", "modernbert-base");
  const std::string data = test::data_path("trainer/roco_ccby_80.jsonl");
  TrainingArguments a = tiny_args(base, TaskKind::MultiLabel, data);
  a.eval_file = data;
  a.eval_strategy = "steps";
  a.max_steps = 60;
  a.eval_steps = 30;
  a.save_steps = 30;
  a.logging_steps = 10;
  TrainSummary s = train(a);
  EXPECT_EQ(s.global_step, 60);
  const std::vector<double> losses = logged_losses(a.output_dir);
  ASSERT_EQ(losses.size(), 6u);
  EXPECT_LT(losses.back(), 0.6 * losses.front());

  // The saved folder is a Hugging Face checkpoint with the data's labels, sorted.
  const json config = json::parse(test::read_file(a.output_dir + "/config.json"));
  EXPECT_EQ(config["architectures"][0], "ModernBertForSequenceClassification");
  EXPECT_EQ(config["problem_type"], "multi_label_classification");
  EXPECT_EQ(config["id2label"].size(), 8u);
  EXPECT_EQ(config["id2label"]["0"], "C0015726");
  for (const char* f : {"model.safetensors", "tokenizer.json", "trainer_state.json", "training_args.json",
                        "eval_results.json", "checkpoint-30/optimizer.safetensors", "checkpoint-60/model.safetensors"})
    EXPECT_TRUE(std::filesystem::exists(a.output_dir + "/" + f)) << f;

  // Loading it gives exactly the in-memory model's logits.
  auto loaded = load_encoder(a.output_dir);
  auto tok = Tokenizer::from_dir(a.output_dir);
  Batch batch;
  for (const std::string& t : test::clinical_sentences()) batch.add(tok->encode(t).ids);
  const ForwardOutput mem = s.model->forward(batch), disk = loaded->forward(batch);
  ASSERT_EQ(mem.logits.size(), 8u * batch.size());
  EXPECT_EQ(mem.logits, disk.logits);

  // medenc classify on the saved folder reports the in-memory model's probabilities.
  std::string out, err;
  ASSERT_EQ(test::run_cli("classify --threads 1 --model " + a.output_dir, &out, &err,
                          test::to_jsonl(test::clinical_sentences())),
            0)
      << err;
  std::istringstream lines(out);
  std::string line;
  int64_t b = 0;
  const auto& id2label = s.model->info().head.id2label;
  for (; std::getline(lines, line); ++b) {
    const json scores = json::parse(line)["scores"];
    for (size_t k = 0; k < id2label.size(); ++k)
      EXPECT_EQ(scores[id2label[k]].get<double>(), json_float((float)sigmoid(mem.logits[(size_t)b * 8 + k])))
          << b << " " << k;
  }
  EXPECT_EQ(b, batch.size());

  // The final eval is the saved model's.
  const json ev = json::parse(test::read_file(a.output_dir + "/eval_results.json"));
  EXPECT_GT(ev["label_accuracy"].get<double>(), 0.5);
  EXPECT_TRUE(ev.contains("per_label"));
}

TEST(Trainer, NerFromConllAndMlmWithAMaskingSchedule) {
  const std::string conll = test::data_path("trainer/medmentions_dev_3docs.conll");
  const std::string base = test::make_model("BertForMaskedLM", "bert-base-cased");
  TrainingArguments a = tiny_args(base, TaskKind::Ner, conll);
  a.eval_file = conll;
  TrainSummary s = train(a);
  const std::vector<double> losses = logged_losses(a.output_dir);
  EXPECT_LT(losses.back(), losses.front());
  const json config = json::parse(test::read_file(a.output_dir + "/config.json"));
  EXPECT_EQ(config["architectures"][0], "BertForTokenClassification");
  EXPECT_EQ(config["id2label"]["0"], "O");
  const json ev = json::parse(test::read_file(a.output_dir + "/eval_results.json"));
  for (const char* k : {"precision", "recall", "f1", "f1_macro", "strict_f1", "matthews", "accuracy"})
    EXPECT_TRUE(ev.contains(k)) << k;
  EXPECT_GT(ev["gold_entities"].get<int64_t>(), 100);
  // medenc ner serves the saved checkpoint as it is.
  std::string out, err;
  ASSERT_EQ(test::run_cli("ner --model " + a.output_dir, &out, &err,
                          json({{"text", "Pseudomonas aeruginosa infection in cystic fibrosis"}}).dump() + "\n"),
            0)
      << err;
  EXPECT_TRUE(json::parse(out).contains("entities")) << out;

  // MLM on the same text (plain lines), 30% -> 15% masking.
  std::string lines;
  auto d = Dataset::scan(conll, TaskKind::Ner, DataOptions{});
  for (int64_t i = 0; i < d->size(); ++i) lines += d->get(i).text + "\n";
  const std::string txt = test::temp_dir("mlm") + "/abstracts.txt";
  test::write_file(txt, lines);
  TrainingArguments m = tiny_args(base, TaskKind::Mlm, txt);
  m.mlm_probability = 0.3;
  m.mlm_probability_end = 0.15;
  m.eval_file = txt;
  train(m);
  const std::vector<double> mlm_losses = logged_losses(m.output_dir);
  EXPECT_LT(mlm_losses.back(), mlm_losses.front());
  const json mev = json::parse(test::read_file(m.output_dir + "/eval_results.json"));
  EXPECT_GT(mev["masked_tokens"].get<int64_t>(), 50);
  EXPECT_LE(mev["top1_accuracy"].get<double>(), mev["top25_accuracy"].get<double>());
  EXPECT_EQ(json::parse(test::read_file(m.output_dir + "/config.json"))["architectures"][0], "BertForMaskedLM");
}

}  // namespace
}  // namespace medenc
