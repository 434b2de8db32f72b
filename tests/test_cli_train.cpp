// `medenc train` and `medenc eval` from the outside: exact resume after SIGKILL, the seed recipes as
// one command each, bad-row reports, usage errors, and thresholds tuned by eval that classify reads.
#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "task_models.h"
#include "util/random.h"

namespace medenc {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Hand-written short notes with a relevance-like score in [1, 5].
std::string scored_notes(int n, uint64_t seed) {
  const std::vector<std::string> medical{"chest pain", "fever", "cough", "ct scan", "mri", "heart", "lung", "liver",
                                         "kidney", "biopsy", "tumour", "fracture"};
  const std::vector<std::string> other{"senate", "budget", "football", "rain", "market", "museum", "train",
                                       "garden", "music", "election"};
  Rng rng(seed);
  std::string out;
  for (int i = 0; i < n; ++i) {
    const bool med = rng.uniform() < 0.5;
    const auto& words = med ? medical : other;
    std::string text;
    const int len = 2 + (int)rng.below(20);
    for (int k = 0; k < len; ++k) text += (k ? " " : "") + words[rng.below(words.size())];
    out += json({{"text", text}, {"score", med ? 3.0 + 2.0 * rng.uniform() : 1.0 + rng.uniform()}}).dump() + "\n";
  }
  return out;
}

// Spawns `medenc ARGS` (stdout/stderr to /dev/null) and returns its pid. With sigint_pending the
// child starts with SIGINT blocked and already sent: it stays pending until medenc installs its
// handler (which unblocks it), so the signal reaches the running job whatever the timing.
pid_t spawn(const std::vector<std::string>& args, bool sigint_pending = false) {
  sigset_t block, saved;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  if (sigint_pending) pthread_sigmask(SIG_BLOCK, &block, &saved);  // inherited by the child at fork
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string exe = MEDENC_CLI_PATH;
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    freopen("/dev/null", "w", stdout);
    freopen("/dev/null", "w", stderr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  if (sigint_pending) {
    kill(pid, SIGINT);
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  }
  return pid;
}

std::vector<std::string> split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

TEST(CliTrain, KilledRunResumesToTheSameWeights) {
  const std::string base = test::make_model("ModernBertForMaskedLM", "modernbert-base");
  const std::string dir = test::temp_dir("resume");
  // 32 steps of 4 x 2 examples cross three epoch boundaries of the 80 notes (the sampler's state).
  test::write_file(dir + "/train.jsonl", scored_notes(80, 5));
  const std::string args = "train --model " + base + " --task regression --train " + dir +
                           "/train.jsonl --learning-rate 1e-3 --max-steps 32 --per-device-train-batch-size 4 "
                           "--gradient-accumulation-steps 2 --save-steps 8 --logging-steps 2 --threads 1 "
                           "--group-by-length --warmup-ratio 0.1 --weight-decay 0.01 --lr-scheduler-type cosine";
  std::string out, err;
  ASSERT_EQ(test::run_cli(args + " --out " + dir + "/full", &out, &err), 0) << err;

  // Kill a second run with SIGKILL once it has written its second checkpoint (16 of its 32 steps).
  const pid_t pid = spawn(split(args + " --out " + dir + "/part"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (!fs::exists(dir + "/part/checkpoint-16") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  ASSERT_FALSE(fs::exists(dir + "/part/model.safetensors"));
  // A checkpoint the kill interrupted would be a tmp- folder; leave one behind to be cleaned up.
  fs::create_directories(dir + "/part/tmp-checkpoint-990");
  test::write_file(dir + "/part/tmp-checkpoint-990/model.safetensors", "half");

  ASSERT_EQ(test::run_cli(args + " --out " + dir + "/part", &out, &err), 0) << err;
  EXPECT_NE(err.find("resuming from"), std::string::npos) << err;
  EXPECT_TRUE(json::parse(out)["resumed"].get<bool>());
  EXPECT_FALSE(fs::exists(dir + "/part/tmp-checkpoint-990"));
  EXPECT_EQ(test::read_file(dir + "/full/model.safetensors"), test::read_file(dir + "/part/model.safetensors"));
  const json a = json::parse(test::read_file(dir + "/full/trainer_state.json"));
  const json b = json::parse(test::read_file(dir + "/part/trainer_state.json"));
  ASSERT_EQ(a["log_history"].size(), b["log_history"].size());
  for (size_t i = 0; i + 1 < a["log_history"].size(); ++i) {  // the last entry holds run times
    EXPECT_EQ(a["log_history"][i]["loss"], b["log_history"][i]["loss"]) << i;
    EXPECT_EQ(a["log_history"][i]["grad_norm"], b["log_history"][i]["grad_norm"]) << i;
  }
  EXPECT_EQ(a["log_history"].back()["train_loss"], b["log_history"].back()["train_loss"]);

  // Ctrl-C (SIGINT) stops a third run at its next optimizer step with a checkpoint there (not a save
  // step), exit code 130 and no final model; the same command resumes from it to the same weights as
  // the uninterrupted run. The signal is sent before the run starts and held pending until medenc's
  // handler is in place, so the run stops at its first step, every time.
  const pid_t pid2 = spawn(split(args + " --out " + dir + "/stopped"), true);
  int status2 = 0;
  waitpid(pid2, &status2, 0);
  ASSERT_TRUE(WIFEXITED(status2)) << "SIGINT killed the run instead of stopping it";
  ASSERT_EQ(WEXITSTATUS(status2), 130);
  EXPECT_TRUE(fs::exists(dir + "/stopped/checkpoint-1/model.safetensors"));
  ASSERT_FALSE(fs::exists(dir + "/stopped/model.safetensors"));
  ASSERT_EQ(test::run_cli(args + " --out " + dir + "/stopped", &out, &err), 0) << err;
  EXPECT_NE(err.find("resuming from"), std::string::npos) << err;
  EXPECT_NE(err.find("checkpoint-1 (step 1 of"), std::string::npos) << err;
  EXPECT_EQ(test::read_file(dir + "/full/model.safetensors"), test::read_file(dir + "/stopped/model.safetensors"));

  // Resuming with another learning rate is refused.
  std::string other = args;
  other.replace(other.find("--learning-rate 1e-3"), 20, "--learning-rate 2e-3");
  EXPECT_EQ(test::run_cli(other + " --out " + dir + "/part", &out, &err), 1);
  EXPECT_NE(err.find("learning_rate"), std::string::npos) << err;
}

// The five seed recipes, each one command (the test adds --max-steps 2 and tiny data).
TEST(CliTrain, SeedRecipesRunAsOneCommand) {
  const std::string dir = test::temp_dir("recipes");
  const std::string modernbert = test::make_model("ModernBertForMaskedLM", "modernbert-base");
  const std::string gatortron = test::make_model("MegatronBertModel", "bert-base-uncased");
  test::write_file(dir + "/scores.jsonl", scored_notes(60, 9));
  std::string text;
  for (const std::string& s : test::clinical_sentences())
    if (!s.empty()) text += s + "\n";
  test::write_file(dir + "/notes.txt", text);
  const std::string roco = test::data_path("trainer/roco_ccby_80.jsonl");
  const std::string conll = test::data_path("trainer/medmentions_dev_3docs.conll");
  const std::vector<std::pair<std::string, std::string>> recipes{
      {"safety",
       "--model " + modernbert + " --task regression --train " + dir + "/scores.jsonl --label-field score "
       "--score-min 1 --score-max 5 --balance-threshold 2 --learning-rate 2e-5 --num-train-epochs 5 "
       "--per-device-train-batch-size 20 --gradient-accumulation-steps 8 --weight-decay 0.01 --fp16 --max-length 4096"},
      {"relevance",
       "--model " + modernbert + " --task regression --train " + dir + "/scores.jsonl --learning-rate 2e-5 "
       "--num-train-epochs 3 --per-device-train-batch-size 16 --gradient-accumulation-steps 1 --weight-decay 0.01 "
       "--fp16 --max-length 4096"},
      {"clinical-modernbert-mlm",
       "--model " + modernbert + " --task mlm --train " + dir + "/notes.txt --mlm-probability 0.3 "
       "--mlm-probability-end 0.15 --per-device-train-batch-size 128 --max-length 8192"},
      {"medmentions-ner",
       "--model " + gatortron + " --task ner --train " + conll + " --per-device-train-batch-size 6 "
       "--num-train-epochs 6 --learning-rate 5e-5 --weight-decay 0.01"},
      {"roco-cui",
       "--model " + modernbert + " --task multi-label --train " + roco + " --eval " + roco +
       " --num-train-epochs 20 --eval-strategy epoch --save-strategy epoch --save-total-limit 3 "
       "--load-best-model-at-end --metric-for-best-model f1 --greater-is-better true --logging-steps 100"},
  };
  for (const auto& [name, args] : recipes) {
    std::string out, err;
    const std::string o = dir + "/" + name;
    EXPECT_EQ(test::run_cli("train " + args + " --max-steps 2 --threads 1 --out " + o, &out, &err), 0)
        << name << ": " << err;
    EXPECT_EQ(json::parse(out)["global_step"], 2) << name;
    EXPECT_TRUE(fs::exists(o + "/model.safetensors")) << name;
    const json args_json = json::parse(test::read_file(o + "/training_args.json"));
    EXPECT_EQ(args_json["max_steps"], 2) << name;
  }
  const json safety = json::parse(test::read_file(dir + "/safety/trainer_state.json"));
  const json bal = safety["medenc"]["balanced_sampling"];
  EXPECT_EQ(bal["threshold"], 2.0);
  EXPECT_EQ(bal["kept_per_side"], std::min(bal["low_available"], bal["high_available"]));
  EXPECT_EQ(json::parse(test::read_file(dir + "/medmentions-ner/config.json"))["architectures"][0],
            "MegatronBertForTokenClassification");
}

TEST(CliTrain, BadRowsAreReportedAndUsageErrorsExitWithTwo) {
  const std::string base = test::make_model("ModernBertForMaskedLM", "modernbert-base");
  const std::string dir = test::temp_dir("bad");
  std::string data = scored_notes(20, 3);
  data += "{\"text\": \"no score\"}\n{\"text\": \"too high\", \"score\": 11}\nnot json\n";
  test::write_file(dir + "/train.jsonl", data);
  std::string out, err;
  const std::string common = "train --model " + base + " --train " + dir +
                             "/train.jsonl --score-min 1 --score-max 5 --max-steps 2 --threads 1 --out " + dir + "/o";
  ASSERT_EQ(test::run_cli(common + " --task regression", &out, &err), 0) << err;
  EXPECT_NE(err.find("23 records, 20 used, 3 bad rows skipped (1 missing label, 1 score out of range, 1 unparseable)"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("train.jsonl:22: score 11 is outside [1, 5]"), std::string::npos) << err;
  const json state = json::parse(test::read_file(dir + "/o/trainer_state.json"));
  EXPECT_EQ(state["medenc"]["train_data"]["bad_rows"], 3);
  EXPECT_EQ(state["medenc"]["train_data"]["bad_by_reason"]["unparseable"], 1);

  EXPECT_EQ(test::run_cli(common + "2 --task regression --load-best-model-at-end", &out, &err), 2);
  EXPECT_NE(err.find("--load-best-model-at-end needs an --eval-strategy"), std::string::npos) << err;
  EXPECT_EQ(test::run_cli(common + "3 --task single-label --balance-threshold 2", &out, &err), 2);
  EXPECT_NE(err.find("--balance-threshold applies to regression only"), std::string::npos) << err;
}

TEST(CliTrain, EvalTunesThresholdsThatClassifyReads) {
  const std::string base = test::make_model("ModernBertForMaskedLM", "modernbert-base");
  const std::string dir = test::temp_dir("eval");
  const std::string roco = test::data_path("trainer/roco_ccby_80.jsonl");
  std::string out, err;
  ASSERT_EQ(test::run_cli("train --model " + base + " --task multi-label --train " + roco +
                              " --learning-rate 1e-3 --max-steps 20 --threads 1 --out " + dir + "/m",
                          &out, &err),
            0)
      << err;
  ASSERT_EQ(test::run_cli("eval --model " + dir + "/m --data " + roco + " --tune-thresholds " + dir + "/th.json --out " +
                              dir + "/metrics.json --threads 1",
                          &out, &err),
            0)
      << err;
  const json m = json::parse(test::read_file(dir + "/metrics.json"));
  EXPECT_EQ(m["task"], "multi-label");
  for (const char* k : {"loss", "f1", "f1_macro", "precision_micro", "exact_match", "hamming_loss", "label_accuracy"})
    EXPECT_TRUE(m["metrics"].contains(k)) << k;
  const json th = json::parse(test::read_file(dir + "/th.json"));
  EXPECT_EQ(th.size(), 8u);
  EXPECT_GE(m["metrics_with_tuned_thresholds"]["f1"].get<double>(), m["metrics"]["f1"].get<double>());

  // eval with the tuned thresholds reproduces the tuned metrics; classify accepts the same file.
  ASSERT_EQ(test::run_cli("eval --model " + dir + "/m --data " + roco + " --thresholds " + dir + "/th.json --threads 1",
                          &out, &err),
            0)
      << err;
  EXPECT_EQ(json::parse(out)["metrics"]["f1"], m["metrics_with_tuned_thresholds"]["f1"]);
  ASSERT_EQ(test::run_cli("classify --model " + dir + "/m --thresholds " + dir + "/th.json " + roco, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("\"labels\""), std::string::npos);

  // The task must match the model's head.
  EXPECT_EQ(test::run_cli("eval --model " + dir + "/m --task ner --data " + roco, &out, &err), 1);
  EXPECT_NE(err.find("multi-label model"), std::string::npos) << err;
}

}  // namespace
}  // namespace medenc
