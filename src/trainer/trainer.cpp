// The training loop of `medenc train`: Hugging Face Trainer semantics (optimizer steps over
// gradient-accumulated micro-batches, logging/eval/save every N steps or each epoch, best model,
// early stopping, checkpoint rotation) with exact resume.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "ops/ops.h"
#include "medenc/error.h"
#include "medenc/tokenizer.h"
#include "medenc/trainer.h"
#include "trainer/checkpoints.h"
#include "trainer/progress.h"
#include "trainer/sampler.h"
#include "trainer/seeds.h"
#include "util/bom.h"
#include "util/fs.h"
#include "util/random.h"

namespace medenc {

using nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

// Arguments that decide the trajectory: a resume with other values would not continue the same run.
const char* const kTrajectoryArgs[] = {
    "model", "task", "train_file", "data_format", "text_field", "pair_field", "label_field", "entities_field",
    "label_separator", "score_min", "score_max", "label_map", "label_list", "from_scratch", "max_length",
    "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
    "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "decay_all", "warmup_steps", "warmup_ratio",
    "lr_scheduler_type", "max_grad_norm", "seed", "group_by_length", "balance_threshold", "mlm_probability",
    "mlm_probability_end"};

std::vector<std::string> read_label_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  std::vector<std::string> out;
  std::string line;
  for (bool first = true; std::getline(in, line); first = false) {
    if (first) strip_utf8_bom(line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  if (out.empty()) throw Error(path + ": no labels");
  return out;
}

// Labels in a stable order: numerically when they are all class numbers ("0", "1", ..., "10"), else
// as sorted strings.
std::vector<std::string> sorted_labels(const std::map<std::string, int64_t>& m) {
  std::vector<std::string> out;
  bool numbers = true;
  for (auto& [k, v] : m) {
    out.push_back(k);
    numbers &= !k.empty() && k.size() < 10 && k.find_first_not_of("0123456789") == std::string::npos;
  }
  if (numbers) std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) { return std::stol(a) < std::stol(b); });
  return out;
}

bool contains_all(const std::vector<std::string>& have, const std::vector<std::string>& need) {
  for (const std::string& n : need)
    if (std::find(have.begin(), have.end(), n) == have.end()) return false;
  return true;
}

std::string short_list(const std::vector<std::string>& v, size_t n = 5) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < n; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > n) s += fmt::format(" and {} more", v.size() - n);
  return s;
}

// One micro-batch as the model takes it.
struct MicroBatch {
  Batch batch;
  TrainLabels labels;
  int64_t items = 0;  // examples, or labelled tokens (NER, masked LM)
};

class Trainer {
 public:
  explicit Trainer(const TrainingArguments& a) : a_(a) {}
  TrainSummary run();

 private:
  void open_output();
  void load_data_and_model();
  void load_tokenizer();
  std::vector<std::string> load_training_data();
  void resolve_labels(const std::vector<std::string>& listed);
  void build_model();
  int64_t make_example_encoder();
  void load_eval_data();
  std::vector<int64_t> epoch_pool();
  void make_schedule_and_optimizer();
  void choose_best_metric();
  void restore_state();
  MicroBatch micro_batch(const std::vector<const EncodedExample*>& examples, int64_t step, int64_t micro);
  void train_step(int64_t step);
  void maybe_log(bool force);
  EvalSettings eval_settings() const;
  double run_eval(int64_t global_step);
  ordered_json state_json() const;
  void save(int64_t global_step);
  void finish();
  double epoch_at(int64_t global_step) const { return (double)global_step / (double)steps_per_epoch_; }
  double mlm_probability(int64_t step) const;

  const TrainingArguments& a_;
  std::string resume_dir_;
  ordered_json resume_state_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::string tokenizer_dir_;
  std::unique_ptr<Dataset> train_, eval_;
  std::vector<std::string> labels_;
  TaskModel tm_;
  std::unique_ptr<ExampleEncoder> encoder_;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<TrainingSession> session_;  // activations, gradients, optimizer state
  LrSchedule schedule_;
  std::unique_ptr<TrainProgress> progress_;
  std::string last_checkpoint_;
  void message(const std::string& text) const {
    if (a_.callbacks.on_message) a_.callbacks.on_message(text);
  }
  ordered_json balance_;
  int32_t mask_id_ = 0;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0, global_step_ = 0;

  // Logging window and totals.
  double window_loss_ = 0;
  int64_t window_steps_ = 0;
  double last_grad_norm_ = 0, last_lr_ = 0, last_loss_ = 0;
  double loss_total_ = 0;  // sum of step losses over the whole run (restored on resume)
  int64_t tokens_seen_ = 0;
  double flos_ = 0;

  ordered_json log_history_ = ordered_json::array();
  std::optional<double> best_metric_;
  std::string best_checkpoint_;
  int64_t patience_counter_ = 0;
  bool stop_ = false;
  bool greater_is_better_ = false;
  std::string best_metric_name_;
};

void Trainer::open_output() {
  fs::create_directories(a_.output_dir);
  remove_partial_checkpoints(a_.output_dir);
  resume_dir_ = a_.resume_from_checkpoint;
  const auto existing = list_checkpoints(a_.output_dir);
  if (resume_dir_.empty() && !existing.empty()) {
    if (a_.overwrite_output_dir) {
      for (const auto& [step, path] : existing) fs::remove_all(path);
    } else {
      resume_dir_ = existing.back().second;
    }
  }
  if (resume_dir_.empty()) return;
  resume_state_ = ordered_json::parse(read_text_file(join_path(resume_dir_, "trainer_state.json")));
  const ordered_json saved = ordered_json::parse(read_text_file(join_path(resume_dir_, "training_args.json")));
  const ordered_json now = a_.to_json();
  for (const char* key : kTrajectoryArgs) {
    const ordered_json before = saved.contains(key) ? saved[key] : ordered_json();
    if (before != now[key])
      throw Error(fmt::format("{}: cannot resume: {} was {} and is now {} (use --overwrite-output-dir to start over)",
                              resume_dir_, key, before.dump(), now[key].dump()));
  }
}

void Trainer::load_data_and_model() {
  load_tokenizer();
  const std::vector<std::string> listed = load_training_data();
  resolve_labels(listed);
  build_model();
  const int64_t max_length = make_example_encoder();
  load_eval_data();
  sampler_ = std::make_unique<Sampler>(*train_, epoch_pool(), *encoder_, a_.per_device_train_batch_size,
                                       a_.group_by_length, a_.seed);
  make_schedule_and_optimizer();
  choose_best_metric();
  if (!resume_dir_.empty()) restore_state();
  message(fmt::format("training: {} examples, {} batches of {} per epoch, {} optimizer steps per epoch "
                      "(accumulation {}), {} steps in all, warmup {}, max length {}",
                      sampler_->examples(), sampler_->batches_per_epoch(), a_.per_device_train_batch_size,
                      steps_per_epoch_, a_.gradient_accumulation_steps, total_steps_, schedule_.warmup_steps,
                      max_length));
}

// The checkpoint's copy on resume, else --tokenizer or the model folder.
void Trainer::load_tokenizer() {
  tokenizer_dir_ = !resume_dir_.empty() ? resume_dir_ : (a_.tokenizer_dir.empty() ? a_.model_dir : a_.tokenizer_dir);
  if (!file_exists(join_path(tokenizer_dir_, "tokenizer.json")) && !file_exists(join_path(tokenizer_dir_, "vocab.txt")))
    throw Error(fmt::format("{}: no tokenizer.json or vocab.txt (give --tokenizer DIR)", tokenizer_dir_));
  tokenizer_ = Tokenizer::from_dir(tokenizer_dir_);
}

// The training rows; returns the --label-list names (empty: none given).
std::vector<std::string> Trainer::load_training_data() {
  std::optional<LabelSpace> fixed;
  std::vector<std::string> listed;
  if (!a_.label_list_file.empty()) {
    listed = read_label_list(a_.label_list_file);
    if (a_.task == TaskKind::SingleLabel || a_.task == TaskKind::MultiLabel) fixed.emplace(listed);
  }
  train_ = Dataset::scan(a_.train_file, a_.task, a_.data, fixed ? &*fixed : nullptr);
  message(train_->report().summary());
  if (train_->size() == 0) throw Error(a_.train_file + ": no usable training rows");
  return listed;
}

// The label set: from the data (or the list), or the base checkpoint's when they cover the data's.
void Trainer::resolve_labels(const std::vector<std::string>& listed) {
  switch (a_.task) {
    case TaskKind::Regression: {
      // A regression checkpoint keeps its one output's name, and with it its regressor (Hugging Face
      // loads a head whose shape matches whatever it is called).
      labels_ = {"LABEL_0"};
      if (!a_.from_scratch)
        if (auto base = checkpoint_labels(a_.model_dir, a_.task); base && base->size() == 1) labels_ = *base;
      break;
    }
    case TaskKind::Mlm: labels_ = {}; break;
    case TaskKind::SingleLabel:
    case TaskKind::MultiLabel:
    case TaskKind::Ner: {
      std::vector<std::string> from_data = !listed.empty() ? listed : sorted_labels(train_->label_counts());
      if (a_.task == TaskKind::Ner) from_data = bio_label_names(from_data);
      labels_ = from_data;
      // Keep the base checkpoint's labels (and classifier) when they cover the data's.
      if (!a_.from_scratch && listed.empty())
        if (auto base = checkpoint_labels(a_.model_dir, a_.task); base && contains_all(*base, from_data)) labels_ = *base;
      break;
    }
  }
}

// The checkpoint being resumed, or the task head on the base model.
void Trainer::build_model() {
  LoadOptions lo;
  if (!resume_dir_.empty()) {
    tm_.model = load_trainable(resume_dir_, lo);
    tm_.config_json = read_text_file(join_path(resume_dir_, "config.json"));
    const HeadConfig& head = tm_.model->info().head;
    if (a_.task != TaskKind::Mlm && a_.task != TaskKind::Regression) labels_ = head.id2label;
  } else {
    tm_ = build_task_model(a_.model_dir, a_.task, labels_, a_.from_scratch, a_.seed, lo);
    const std::string arch = tm_.model->info().head.architecture;
    const size_t n = tm_.model->parameters().total();
    std::string msg = a_.from_scratch
                          ? fmt::format("model: {} from scratch (random init, seed {}), {} parameters", arch, a_.seed, n)
                          : fmt::format("model: {} from {}, {} parameters; newly initialised: {}", arch, a_.model_dir, n,
                                        tm_.initialised.empty() ? "none" : short_list(tm_.initialised));
    if (!a_.from_scratch && !tm_.unused.empty()) msg += "; unused stored tensors: " + short_list(tm_.unused);
    message(msg);
  }
}

// Examples as the model takes them; returns the maximum length in tokens.
int64_t Trainer::make_example_encoder() {
  const ModelInfo& info = tm_.model->info();
  int64_t max_length = a_.max_length;
  if (max_length == 0) max_length = std::min<int64_t>(512, info.max_positions);
  if (max_length > info.max_positions)
    throw Error(fmt::format("--max-length {} is more than the model's {} positions", max_length, info.max_positions));
  encoder_ = std::make_unique<ExampleEncoder>(*tokenizer_, a_.task, LabelSpace(labels_), max_length,
                                              info.type_vocab_size > 0);
  if (tokenizer_->vocab_size() > info.vocab_size)
    throw Error(fmt::format("the tokenizer in {} has {} ids, the model only {}: they do not belong together",
                            tokenizer_dir_, tokenizer_->vocab_size(), info.vocab_size));
  if (a_.task == TaskKind::Mlm) {
    const auto mask = tokenizer_->mask_id();
    if (!mask) throw Error(tokenizer_dir_ + ": the tokenizer has no mask token");
    mask_id_ = *mask;
  }
  return max_length;
}

// Evaluation rows with labels the model cannot predict are reported (NER types are kept: missed).
void Trainer::load_eval_data() {
  if (a_.eval_file.empty()) return;
  std::optional<LabelSpace> eval_labels;
  if (a_.task == TaskKind::SingleLabel || a_.task == TaskKind::MultiLabel) eval_labels.emplace(labels_);
  eval_ = Dataset::scan(a_.eval_file, a_.task, a_.data, eval_labels ? &*eval_labels : nullptr);
  message(eval_->report().summary());
  if (eval_->size() == 0) throw Error(a_.eval_file + ": no usable evaluation rows");
}

// Which examples an epoch covers: all, or a balanced subset around the score threshold.
std::vector<int64_t> Trainer::epoch_pool() {
  std::vector<int64_t> pool;
  if (a_.balance_threshold) {
    std::vector<int64_t> low, high;
    for (int64_t i = 0; i < train_->size(); ++i) (train_->score(i) <= *a_.balance_threshold ? low : high).push_back(i);
    const size_t keep = std::min(low.size(), high.size());
    if (keep == 0)
      throw Error(fmt::format("--balance-threshold {}: {} rows at or below, {} above; both sides need rows",
                              *a_.balance_threshold, low.size(), high.size()));
    Rng rng(mix_seed(a_.seed, 0x62616cull));
    for (auto* side : {&low, &high}) {
      for (size_t i = side->size(); i > 1; --i) std::swap((*side)[i - 1], (*side)[rng.below(i)]);
      pool.insert(pool.end(), side->begin(), side->begin() + (ptrdiff_t)keep);
    }
    std::sort(pool.begin(), pool.end());
    balance_ = {{"threshold", *a_.balance_threshold}, {"low_available", low.size()}, {"high_available", high.size()},
                {"kept_per_side", keep}};
    message(fmt::format("balanced sampling: {} rows <= {:g} and {} > {:g} available, {} of each kept", low.size(),
                        *a_.balance_threshold, high.size(), *a_.balance_threshold, keep));
  } else {
    pool.resize((size_t)train_->size());
    for (size_t i = 0; i < pool.size(); ++i) pool[i] = (int64_t)i;
  }
  return pool;
}

// Steps, schedule, optimizer.
void Trainer::make_schedule_and_optimizer() {
  const int64_t batches = sampler_->batches_per_epoch();
  steps_per_epoch_ = (batches + a_.gradient_accumulation_steps - 1) / a_.gradient_accumulation_steps;
  total_steps_ = a_.max_steps > 0 ? a_.max_steps : (int64_t)std::ceil(a_.num_train_epochs * (double)steps_per_epoch_);
  schedule_.kind = parse_schedule(a_.lr_scheduler_type);
  schedule_.base_lr = a_.learning_rate;
  schedule_.total_steps = total_steps_;
  schedule_.warmup_steps = a_.warmup_steps > 0 ? a_.warmup_steps : warmup_steps_from_ratio(total_steps_, a_.warmup_ratio);
  AdamWOptions ao;
  ao.beta1 = a_.adam_beta1;
  ao.beta2 = a_.adam_beta2;
  ao.eps = a_.adam_epsilon;
  ao.weight_decay = a_.weight_decay;
  ao.decay_all = a_.decay_all;
  session_ = std::make_unique<TrainingSession>(*tm_.model, ao);
}

// The metric that picks the best checkpoint and its direction.
void Trainer::choose_best_metric() {
  best_metric_name_ = a_.metric_for_best_model.empty() ? "loss" : a_.metric_for_best_model;
  if (best_metric_name_.rfind("eval_", 0) == 0) best_metric_name_ = best_metric_name_.substr(5);
  // Default: lower is better for losses and errors, higher for everything else.
  const bool error_metric = best_metric_name_.ends_with("loss") || best_metric_name_ == "mse" ||
                            best_metric_name_ == "rmse" || best_metric_name_ == "mae";
  greater_is_better_ = a_.greater_is_better.value_or(!error_metric);
}

// Optimizer state, step, history and totals of the checkpoint being resumed.
void Trainer::restore_state() {
  load_optimizer_state(resume_dir_, session_->optimizer(), tm_.model->parameters().total());
  const ordered_json& s = resume_state_;
  global_step_ = s.at("global_step").get<int64_t>();
  if (session_->optimizer().steps() != global_step_)
    throw Error(fmt::format("{}: optimizer step {} does not match global step {}", resume_dir_,
                            session_->optimizer().steps(),
                            global_step_));
  log_history_ = s.at("log_history");
  if (!s.at("best_metric").is_null()) best_metric_ = s.at("best_metric").get<double>();
  if (!s.at("best_model_checkpoint").is_null()) best_checkpoint_ = s.at("best_model_checkpoint").get<std::string>();
  const ordered_json& m = s.at("medenc");
  patience_counter_ = m.at("early_stopping_patience_counter").get<int64_t>();
  loss_total_ = m.at("loss_total").get<double>();
  window_loss_ = m.at("log_window").at("loss").get<double>();
  window_steps_ = m.at("log_window").at("steps").get<int64_t>();
  tokens_seen_ = s.at("num_input_tokens_seen").get<int64_t>();
  flos_ = s.at("total_flos").get<double>();
  stop_ = m.at("stopped_early").get<bool>();
  message(fmt::format("resuming from {} (step {} of {})", resume_dir_, global_step_, total_steps_));
}

double Trainer::mlm_probability(int64_t step) const {
  if (!a_.mlm_probability_end) return a_.mlm_probability;
  const double f = total_steps_ > 1 ? (double)step / (double)(total_steps_ - 1) : 0.0;
  return a_.mlm_probability + (*a_.mlm_probability_end - a_.mlm_probability) * f;
}

MicroBatch Trainer::micro_batch(const std::vector<const EncodedExample*>& examples, int64_t step, int64_t micro) {
  MicroBatch mb;
  const bool types = encoder_->with_type_ids();
  for (size_t i = 0; i < examples.size(); ++i) {
    const EncodedExample& ex = *examples[i];
    switch (a_.task) {
      case TaskKind::Regression: mb.labels.values.push_back(ex.score); break;
      case TaskKind::SingleLabel: mb.labels.classes.push_back(ex.label); break;
      case TaskKind::MultiLabel:
        mb.labels.values.insert(mb.labels.values.end(), ex.multi_hot.begin(), ex.multi_hot.end());
        break;
      case TaskKind::Ner:
        mb.labels.classes.insert(mb.labels.classes.end(), ex.token_labels.begin(), ex.token_labels.end());
        for (int32_t l : ex.token_labels) mb.items += l != -100;
        break;
      case TaskKind::Mlm: {
        EncodedExample masked = ex;
        std::vector<int32_t> labels;
        mask_tokens(masked.ids, masked.special, mlm_probability(step), mask_id_, tokenizer_->vocab_size(),
                    mix_seed(a_.seed, 0x6d61736bull, (uint64_t)step, (uint64_t)micro, (uint64_t)i), labels);
        mb.labels.classes.insert(mb.labels.classes.end(), labels.begin(), labels.end());
        for (int32_t l : labels) mb.items += l != -100;
        add_to_batch(mb.batch, masked, types);
        continue;
      }
    }
    add_to_batch(mb.batch, ex, types);
  }
  if (a_.task != TaskKind::Ner && a_.task != TaskKind::Mlm) mb.items = (int64_t)examples.size();
  return mb;
}

void Trainer::train_step(int64_t step) {
  const auto t0 = std::chrono::steady_clock::now();
  TrainableEncoder& model = *tm_.model;
  const int64_t epoch = step / steps_per_epoch_;
  const int64_t first = (step % steps_per_epoch_) * a_.gradient_accumulation_steps;
  const int64_t last = std::min(first + a_.gradient_accumulation_steps, sampler_->batches_per_epoch());
  std::vector<MicroBatch> micro;
  int64_t items = 0, tokens = 0;
  for (int64_t j = first; j < last; ++j) {
    micro.push_back(micro_batch(sampler_->batch(epoch, j), step, j - first));
    items += micro.back().items;
    tokens += micro.back().batch.tokens();
  }
  // The step's loss is the mean over all its items (examples, or labelled tokens), as the Trainer
  // computes it with num_items_in_batch: each micro-batch's mean loss weighs items_i / items.
  TrainingSession& session = *session_;
  session.zero_grad();
  double loss = 0;
  for (size_t m = 0; m < micro.size(); ++m) {
    if (micro[m].items == 0) continue;
    TrainOptions to;
    to.dropout = true;
    to.seed = mix_seed(a_.seed, 0x64726f70ull, (uint64_t)step, (uint64_t)m);
    const TrainOutput out = session.forward_train(micro[m].batch, micro[m].labels, to);
    const double w = (double)micro[m].items / (double)items;
    session.backward((float)w);
    loss += out.loss * w;
    flos_ += model.train_step_flops(micro[m].batch);
  }
  last_grad_norm_ = clip_grad_norm(session.gradients(), a_.max_grad_norm);
  last_lr_ = schedule_.lr(step);
  session.step(last_lr_);  // AdamW, then the model's derived weights
  last_loss_ = loss;
  window_loss_ += loss;
  ++window_steps_;
  loss_total_ += loss;
  tokens_seen_ += tokens;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress_->step(step + 1, epoch_at(step + 1), loss, last_lr_, tokens, seconds);
}

void Trainer::maybe_log(bool force) {
  if (window_steps_ == 0 || (!force && global_step_ % a_.logging_steps != 0)) return;
  ordered_json e;
  e["loss"] = window_loss_ / (double)window_steps_;
  e["grad_norm"] = last_grad_norm_;
  e["learning_rate"] = last_lr_;
  e["epoch"] = epoch_at(global_step_);
  e["step"] = global_step_;
  e["tokens_per_second"] = progress_->tokens_per_second();
  log_history_.push_back(e);
  if (a_.callbacks.on_log) a_.callbacks.on_log(e);
  progress_->line(fmt::format("step {}/{}  epoch {:.2f}  loss {:.4f}  grad_norm {:.3g}  lr {:.3g}  {:.0f} tokens/s  "
                              "elapsed {}  ETA {}",
                              global_step_, total_steps_, epoch_at(global_step_), e["loss"].get<double>(),
                              last_grad_norm_, last_lr_, progress_->tokens_per_second(), progress_->elapsed(),
                              progress_->eta(global_step_)));
  window_loss_ = 0;
  window_steps_ = 0;
}

EvalSettings Trainer::eval_settings() const {
  EvalSettings s;
  s.task = a_.task;
  s.batch_size = a_.per_device_eval_batch_size;
  s.threshold = a_.eval_threshold;
  s.regression_threshold = a_.regression_threshold;
  s.mlm_probability = a_.mlm_probability_end.value_or(a_.mlm_probability);
  s.seed = a_.seed;
  s.on_progress = a_.callbacks.on_eval_progress;
  return s;
}

double Trainer::run_eval(int64_t global_step) {
  EvalOutput ev = evaluate(*tm_.model, *encoder_, *eval_, eval_settings());
  ordered_json e;
  std::string line = fmt::format("eval at step {}:", global_step);
  for (auto& [k, v] : ev.metrics.items()) {
    if (!v.is_number()) continue;
    e["eval_" + k] = v;
    static const std::set<std::string> quiet{"examples", "count", "samples_per_second", "runtime_s", "threshold",
                                             "positives", "sequences", "words", "masked_tokens", "gold_entities",
                                             "predicted_entities", "correct_entities"};
    if (!quiet.count(k)) line += fmt::format(" {} {:.4g}", k, v.get<double>());
  }
  e["epoch"] = epoch_at(global_step);
  e["step"] = global_step;
  log_history_.push_back(e);
  if (a_.callbacks.on_evaluate) a_.callbacks.on_evaluate(e);
  progress_->line(line);
  return metric_value(ev.metrics, best_metric_name_);
}

ordered_json Trainer::state_json() const {
  ordered_json s;
  s["best_metric"] = best_metric_ ? ordered_json(*best_metric_) : ordered_json();
  s["best_model_checkpoint"] = best_checkpoint_.empty() ? ordered_json() : ordered_json(best_checkpoint_);
  s["epoch"] = epoch_at(global_step_);
  s["eval_steps"] = a_.eval_steps > 0 ? a_.eval_steps : a_.logging_steps;
  s["global_step"] = global_step_;
  s["is_hyper_param_search"] = false;
  s["is_local_process_zero"] = true;
  s["is_world_process_zero"] = true;
  s["log_history"] = log_history_;
  s["logging_steps"] = a_.logging_steps;
  s["max_steps"] = total_steps_;
  s["num_input_tokens_seen"] = tokens_seen_;
  s["num_train_epochs"] = (int64_t)std::ceil((double)total_steps_ / (double)steps_per_epoch_);
  s["save_steps"] = a_.save_steps;
  s["stateful_callbacks"] = {
      {"EarlyStoppingCallback",
       {{"args", {{"early_stopping_patience", a_.early_stopping_patience}, {"early_stopping_threshold", 0.0}}},
        {"attributes", {{"early_stopping_patience_counter", patience_counter_}}}}}};
  s["total_flos"] = flos_;
  s["train_batch_size"] = a_.per_device_train_batch_size;
  s["trial_name"] = nullptr;
  s["trial_params"] = nullptr;
  ordered_json m;
  m["data_position"] = {{"epoch", global_step_ / steps_per_epoch_},
                        {"batch", (global_step_ % steps_per_epoch_) * a_.gradient_accumulation_steps}};
  m["rng"] = "counter-based: shuffling from (seed, epoch), dropout and masking from (seed, step, micro-batch)";
  m["seed"] = a_.seed;
  m["loss_total"] = loss_total_;
  m["log_window"] = {{"loss", window_loss_}, {"steps", window_steps_}};
  m["early_stopping_patience_counter"] = patience_counter_;
  m["stopped_early"] = stop_;
  m["steps_per_epoch"] = steps_per_epoch_;
  m["labels"] = labels_;
  m["train_data"] = train_->report().to_json();
  m["train_data"]["truncated_first_epoch"] = sampler_->truncated();
  if (eval_) m["eval_data"] = eval_->report().to_json();
  if (!balance_.is_null()) m["balanced_sampling"] = balance_;
  if (!tm_.initialised.empty()) m["initialised"] = tm_.initialised;
  s["medenc"] = m;
  return s;
}

void Trainer::save(int64_t global_step) {
  const std::string path = write_checkpoint(a_.output_dir, global_step, tm_.model->parameters(), tm_.config_json,
                                            tokenizer_dir_, session_->optimizer(), state_json(), a_.to_json());
  rotate_checkpoints(a_.output_dir, a_.save_total_limit, a_.load_best_model_at_end ? best_checkpoint_ : "");
  last_checkpoint_ = path;
  progress_->line(fmt::format("saved {}", path));
  if (a_.callbacks.on_save) a_.callbacks.on_save(path);
}

void Trainer::finish() {
  const double seconds = progress_->seconds();
  ordered_json e;
  e["train_runtime"] = seconds;
  e["train_samples_per_second"] =
      seconds > 0 ? (double)(global_step_ * a_.per_device_train_batch_size * a_.gradient_accumulation_steps) / seconds
                  : 0.0;
  e["train_steps_per_second"] = seconds > 0 ? (double)global_step_ / seconds : 0.0;
  e["train_tokens_per_second"] = progress_->tokens_per_second();
  e["total_flos"] = flos_;
  e["train_loss"] = global_step_ ? loss_total_ / (double)global_step_ : 0.0;
  e["epoch"] = epoch_at(global_step_);
  e["step"] = global_step_;
  log_history_.push_back(e);
  if (a_.load_best_model_at_end && !best_checkpoint_.empty()) {
    load_weights(best_checkpoint_, tm_.model->parameters());
    tm_.model->parameters_changed();
    progress_->line(fmt::format("loaded the best model ({} {} = {:.6g}) from {}", "eval", best_metric_name_,
                                *best_metric_, best_checkpoint_));
  }
  write_model_files(a_.output_dir, tm_.model->parameters(), tm_.config_json, tokenizer_dir_);
  write_file_atomic(join_path(a_.output_dir, "training_args.json"), a_.to_json().dump(2) + "\n");
  if (eval_) {
    EvalOutput ev = evaluate(*tm_.model, *encoder_, *eval_, eval_settings());
    write_file_atomic(join_path(a_.output_dir, "eval_results.json"), ev.metrics.dump(2) + "\n");
  }
  write_file_atomic(join_path(a_.output_dir, "trainer_state.json"), state_json().dump(2) + "\n");
}

TrainSummary Trainer::run() {
  open_output();
  load_data_and_model();
  progress_ = std::make_unique<TrainProgress>(a_.callbacks, total_steps_, global_step_);
  const int64_t eval_every = a_.eval_steps > 0 ? a_.eval_steps : a_.logging_steps;
  while (global_step_ < total_steps_ && !stop_) {
    train_step(global_step_);
    ++global_step_;
    maybe_log(false);
    const bool epoch_end = global_step_ % steps_per_epoch_ == 0 || global_step_ == total_steps_;
    const bool do_eval = eval_ && ((a_.eval_strategy == "steps" && global_step_ % eval_every == 0) ||
                                   (a_.eval_strategy == "epoch" && epoch_end));
    const bool do_save = (a_.save_strategy == "steps" && global_step_ % a_.save_steps == 0) ||
                         (a_.save_strategy == "epoch" && epoch_end);
    if (do_eval) {
      const double v = run_eval(global_step_);
      const bool better = !best_metric_ || (greater_is_better_ ? v > *best_metric_ : v < *best_metric_);
      if (better) {
        best_metric_ = v;
        patience_counter_ = 0;
        if (do_save) best_checkpoint_ = join_path(a_.output_dir, fmt::format("checkpoint-{}", global_step_));
      } else {
        ++patience_counter_;
        if (a_.early_stopping_patience > 0 && patience_counter_ >= a_.early_stopping_patience) {
          stop_ = true;
          progress_->line(fmt::format("early stopping: eval {} has not improved for {} evaluations",
                                      best_metric_name_, patience_counter_));
        }
      }
    }
    if (do_save) save(global_step_);
    if (a_.callbacks.should_stop && global_step_ < total_steps_ && !stop_ && a_.callbacks.should_stop()) {
      // Stopped from outside: leave a checkpoint the same command resumes from, and no final model.
      if (!do_save) save(global_step_);
      progress_->line(fmt::format("stopped at step {} of {}; the same command resumes from {}", global_step_,
                                  total_steps_, last_checkpoint_));
      TrainSummary out;
      out.stopped = true;
      out.global_step = global_step_;
      out.last_checkpoint = last_checkpoint_;
      out.seconds = progress_->seconds();
      out.resumed = !resume_dir_.empty();
      return out;
    }
  }
  maybe_log(true);
  finish();
  TrainSummary out;
  out.last_checkpoint = last_checkpoint_;
  out.global_step = global_step_;
  out.train_loss = global_step_ ? loss_total_ / (double)global_step_ : 0.0;
  out.seconds = progress_->seconds();
  out.resumed = !resume_dir_.empty();
  out.best_model_checkpoint = best_checkpoint_;
  out.model = std::move(tm_.model);
  return out;
}

}  // namespace

TrainSummary train(const TrainingArguments& args) {
  args.validate();
  const ops::ThreadScope threads(args.threads);
  Trainer t(args);
  return t.run();
}

nlohmann::ordered_json summary_json(const std::string& output_dir, const TrainSummary& s) {
  nlohmann::ordered_json j;
  j["output_dir"] = output_dir;
  j["global_step"] = s.global_step;
  j["train_loss"] = s.train_loss;
  j["train_runtime"] = s.seconds;
  j["resumed"] = s.resumed;
  j["stopped"] = s.stopped;
  if (!s.last_checkpoint.empty()) j["last_checkpoint"] = s.last_checkpoint;
  if (!s.best_model_checkpoint.empty()) j["best_model_checkpoint"] = s.best_model_checkpoint;
  return j;
}

}  // namespace medenc
