// Evaluation over a dataset: batched inference, the loss as the training head computes it, and the
// task's metrics.
#include <chrono>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "medenc/classify.h"
#include "medenc/error.h"
#include "medenc/metrics.h"
#include "medenc/trainer.h"
#include "trainer/seeds.h"

namespace medenc {

using nlohmann::ordered_json;

namespace {

// One example waiting in the batch: where its sequences start and what it needs afterwards.
struct Pending {
  int64_t first_sequence = 0;
  float target = 0;             // regression
  int32_t label = -1;           // single-label
  std::vector<float> multi_hot; // multi-label
  ExampleEncoder::NerWindows ner;
};

class Evaluator {
 public:
  Evaluator(Encoder& model, const ExampleEncoder& encoder, const EvalSettings& s)
      : model_(model), enc_(encoder), s_(s), labels_(encoder.labels().names) {
    const int64_t L = (int64_t)labels_.size();
    if (s.task == TaskKind::Regression && L != 1)
      throw Error(fmt::format("regression evaluation needs one output, the model has {}", L));
    if (s.task == TaskKind::MultiLabel && !s.thresholds.empty() && (int64_t)s.thresholds.size() != L)
      throw Error("one threshold per label is needed");
    if (s.task == TaskKind::Mlm) {
      const auto mask = encoder.tokenizer().mask_id();
      if (!mask) throw Error("the tokenizer has no mask token");
      mask_id_ = *mask;
    }
  }

  void add(const Example& ex, int64_t index) {
    Pending p;
    p.first_sequence = batch_.size();
    if (s_.task == TaskKind::Ner) {
      p.ner = enc_.encode_ner_windows(ex);
      for (const Encoding& w : p.ner.windows) {
        EncodedExample e;
        e.ids = w.ids;
        if (enc_.with_type_ids()) e.type_ids = w.type_ids;
        add_to_batch(batch_, e, enc_.with_type_ids());
        std::vector<int32_t> labels(w.size(), -100);
        row_labels_.insert(row_labels_.end(), labels.begin(), labels.end());
      }
      // Gold labels on each word's first token (tags the model lacks cannot enter the loss).
      for (size_t w = 0; w < p.ner.first_token.size(); ++w) {
        auto [win, tok] = p.ner.first_token[w];
        if (win < 0) continue;
        const int64_t row = batch_.offsets[(size_t)(p.first_sequence + win)] + tok;
        const int32_t id = enc_.labels().find(p.ner.gold_tags[w]);
        row_labels_[(size_t)row] = id < 0 ? -100 : id;
      }
    } else {
      EncodedExample e = enc_.encode(ex);
      if (s_.task == TaskKind::Mlm) {
        std::vector<int32_t> labels;
        mask_tokens(e.ids, e.special, s_.mlm_probability, mask_id_, enc_.tokenizer().vocab_size(),
                    mix_seed(s_.seed, 0x6d6c6d, (uint64_t)index), labels);
        row_labels_.insert(row_labels_.end(), labels.begin(), labels.end());
      }
      add_to_batch(batch_, e, enc_.with_type_ids());
      p.target = e.score;
      p.label = e.label;
      p.multi_hot = std::move(e.multi_hot);
    }
    pending_.push_back(std::move(p));
    ++out_.examples;
    if (batch_.size() >= s_.batch_size || batch_.tokens() >= s_.max_batch_tokens) flush();
  }

  void flush() {
    if (pending_.empty()) return;
    ForwardOptions fo;
    fo.want_hidden = false;
    std::vector<int32_t> mlm_labels;
    if (s_.task == TaskKind::Mlm) {
      for (size_t r = 0; r < row_labels_.size(); ++r)
        if (row_labels_[r] != -100) {
          fo.mlm_rows.push_back((int64_t)r);
          mlm_labels.push_back(row_labels_[r]);
        }
    }
    out_.tokens += batch_.tokens();
    if (s_.task != TaskKind::Mlm || !fo.mlm_rows.empty()) {
      const ForwardOutput f = model_.forward(batch_, fo, *workspace_);
      collect(f, mlm_labels);
    }
    batch_ = Batch{};
    pending_.clear();
    row_labels_.clear();
  }

  EvalOutput finish(double seconds) {
    flush();
    const int64_t L = (int64_t)labels_.size();
    out_.loss = items_ ? loss_sum_ / (double)items_ : 0.0;
    out_.seconds = seconds;
    ordered_json m;
    m["loss"] = out_.loss;
    ordered_json task;
    switch (s_.task) {
      case TaskKind::Regression: task = to_json(regression_metrics(preds_, targets_, s_.regression_threshold)); break;
      case TaskKind::SingleLabel: task = to_json(single_label_metrics(pred_ids_, gold_ids_, labels_), false); break;
      case TaskKind::MultiLabel: {
        std::vector<uint8_t> on(out_.probabilities.size());
        for (size_t i = 0; i < on.size(); ++i)
          on[i] = out_.probabilities[i] > (s_.thresholds.empty() ? s_.threshold : s_.thresholds[i % (size_t)L]);
        task = to_json(multi_label_metrics(on, out_.gold, labels_), true);
        break;
      }
      case TaskKind::Ner:
        task = to_json(ner_metrics(gold_tags_, pred_tags_, false), ner_metrics(gold_tags_, pred_tags_, true));
        break;
      case TaskKind::Mlm: task = to_json(topk_); break;
    }
    for (auto& [k, v] : task.items()) m[k] = v;
    m["examples"] = out_.examples;
    m["runtime_s"] = seconds;
    m["samples_per_second"] = seconds > 0 ? (double)out_.examples / seconds : 0.0;
    out_.metrics = std::move(m);
    return std::move(out_);
  }

 private:
  void collect(const ForwardOutput& f, const std::vector<int32_t>& mlm_labels) {
    const int64_t C = f.logits_cols;
    const float* logits = f.logits.data();
    switch (s_.task) {
      case TaskKind::Regression:
      case TaskKind::SingleLabel:
      case TaskKind::MultiLabel: {
        const int64_t B = (int64_t)pending_.size();
        if (s_.task == TaskKind::Regression) {
          std::vector<float> targets;
          for (const Pending& p : pending_) targets.push_back(p.target);
          loss_sum_ += mse_loss({logits, (size_t)B}, targets, nullptr) * (double)B;
          for (int64_t b = 0; b < B; ++b) {
            preds_.push_back(logits[b]);
            targets_.push_back(targets[(size_t)b]);
          }
        } else if (s_.task == TaskKind::SingleLabel) {
          std::vector<int32_t> labels;
          for (const Pending& p : pending_) labels.push_back(p.label);
          loss_sum_ += cross_entropy_loss(logits, B, C, labels, nullptr) * (double)B;
          for (int64_t b = 0; b < B; ++b) {
            const float* row = logits + b * C;
            pred_ids_.push_back((int32_t)(std::max_element(row, row + C) - row));
            gold_ids_.push_back(labels[(size_t)b]);
          }
        } else {
          std::vector<float> targets;
          for (const Pending& p : pending_) targets.insert(targets.end(), p.multi_hot.begin(), p.multi_hot.end());
          loss_sum_ += bce_with_logits_loss({logits, (size_t)(B * C)}, targets, nullptr) * (double)B;
          for (int64_t i = 0; i < B * C; ++i) {
            out_.probabilities.push_back(sigmoid(logits[i]));
            out_.gold.push_back(targets[(size_t)i] > 0.5f);
          }
        }
        items_ += B;
        break;
      }
      case TaskKind::Ner: {
        int64_t labelled = 0;
        for (int32_t l : row_labels_) labelled += l != -100;
        if (labelled) {
          loss_sum_ += cross_entropy_loss(logits, batch_.tokens(), C, row_labels_, nullptr) * (double)labelled;
          items_ += labelled;
        }
        for (const Pending& p : pending_) {
          std::vector<std::string> predicted;
          for (auto [win, tok] : p.ner.first_token) {
            if (win < 0) {
              predicted.push_back("O");
              continue;
            }
            const float* row = logits + (batch_.offsets[(size_t)(p.first_sequence + win)] + tok) * C;
            predicted.push_back(labels_[(size_t)(std::max_element(row, row + C) - row)]);
          }
          pred_tags_.push_back(std::move(predicted));
          gold_tags_.push_back(p.ner.gold_tags);
        }
        break;
      }
      case TaskKind::Mlm: {
        const int64_t R = (int64_t)mlm_labels.size();
        loss_sum_ += cross_entropy_loss(logits, R, C, mlm_labels, nullptr) * (double)R;
        items_ += R;
        for (int64_t r = 0; r < R; ++r) topk_.add({logits + r * C, (size_t)C}, mlm_labels[(size_t)r]);
        break;
      }
    }
  }

  Encoder& model_;
  std::unique_ptr<EncoderWorkspace> workspace_ = model_.make_workspace();
  const ExampleEncoder& enc_;
  const EvalSettings& s_;
  std::vector<std::string> labels_;
  int32_t mask_id_ = 0;
  Batch batch_;
  std::vector<Pending> pending_;
  std::vector<int32_t> row_labels_;
  double loss_sum_ = 0;
  int64_t items_ = 0;
  EvalOutput out_;
  std::vector<double> preds_, targets_;
  std::vector<int32_t> pred_ids_, gold_ids_;
  std::vector<std::vector<std::string>> gold_tags_, pred_tags_;
  TopKAccuracy topk_;
};

}  // namespace

EvalOutput evaluate(Encoder& model, const ExampleEncoder& encoder, const Dataset& data, const EvalSettings& settings) {
  const auto t0 = std::chrono::steady_clock::now();
  Evaluator ev(model, encoder, settings);
  for (int64_t i = 0; i < data.size(); ++i) {
    ev.add(data.get(i), i);
    if (settings.on_progress) settings.on_progress(i + 1, data.size());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ev.finish(seconds);
}

double metric_value(const ordered_json& metrics, const std::string& name) {
  const std::string key = name.rfind("eval_", 0) == 0 ? name.substr(5) : name;
  auto it = metrics.find(key);
  if (it == metrics.end() || !it->is_number()) {
    std::string known;
    for (auto& [k, v] : metrics.items())
      if (v.is_number()) known += (known.empty() ? "" : ", ") + k;
    throw Error(fmt::format("no metric '{}' for this task (metrics: {})", name, known));
  }
  return it->get<double>();
}

}  // namespace medenc
