// medenc bench: inference (and with --train, training-step) throughput against the machine's own
// GEMM ceiling, measured in one run.
//
// For each case (32x128, 8x512, 1x4096, 1x8192, and a variable-length batch of real clinical texts
// when a tokenizer and texts are available) it reports real tokens/s (median of --reps runs after a
// warm-up), FLOPs per token, achieved GFLOP/s and the fraction of the ceiling, and the peak resident
// memory of the case. The ceiling is oneDNN's best multi-threaded GEMM of the same precision on the
// model's own linear-layer shapes at the same token count, measured in this process after each of
// the case's runs; the fraction is the median of the per-run fractions. The inference cases of all
// dtypes are timed in alternation, so that the targets' ratios between cases compare runs made under
// the same conditions. A summary checks the project's speed targets against the numbers of this run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.h>

#include "bench/bench_support.h"
#include "cli/bench_end_to_end.h"
#include "bench/int8_gate.h"
#include "cli/command.h"
#include "ops/cpu/isa_dispatch.h"
#include "ops/ops.h"
#include "medenc/error.h"
#include "medenc/session.h"
#include "medenc/hub.h"
#include "medenc/model.h"
#include "medenc/train.h"
#include "util/random.h"

namespace {

using medenc::Batch;
using nlohmann::json;
namespace bench = medenc::bench;

struct Options {
  std::string model;
  std::vector<std::string> dtypes{"f32"};
  int threads = 0;
  int reps = 5;  // medians of 5: a slow phase of this VM must hit 3 runs of a case to move it
  bool json_out = false;
  std::string tokenizer = "tests/data/tokenizers/modernbert-base";
  std::string texts_dir = "../shared/data";
  std::vector<std::string> cases{"32x128", "8x512", "1x4096", "1x8192", "clinical"};
  bool train = false;
  std::vector<std::string> train_cases{"8x512"};
  bool deterministic = true;
  bool profile = false;
  int sessions = 0;  // > 0: only the memory of that many concurrent sessions against one
  bool end_to_end = false;  // only medenc classify against the bare forward (bench_end_to_end.cpp)
  medenc::bench::Int8GateOptions gate;  // the int8 accuracy gate (with --dtype int8)
};

// "BxL" -> (B, L); false when the text is not two positive numbers.
bool parse_case(const std::string& name, int64_t& batch, int64_t& len) {
  return std::sscanf(name.c_str(), "%ldx%ld", &batch, &len) == 2 && batch > 0 && len > 0;
}

// Per-op wall time of the timed repetitions (ops::OpTimer), per run, with its share of the case.
json op_profile(const std::map<std::string, medenc::ops::OpTime>& by_op, int reps, double seconds_per_run,
                bool verbose) {
  std::vector<medenc::ops::OpTime> sums;
  for (const auto& [op, sum] : by_op) sums.push_back(sum);
  std::sort(sums.begin(), sums.end(), [](const auto& x, const auto& y) { return x.seconds > y.seconds; });
  json out = json::array();
  double covered = 0.0;
  for (const medenc::ops::OpTime& t : sums) {
    const double s = t.seconds / reps;
    covered += s;
    out.push_back({{"op", t.op}, {"seconds", s}, {"calls", t.calls / reps}, {"share", s / seconds_per_run}});
  }
  out.push_back({{"op", "outside ops"}, {"seconds", seconds_per_run - covered}, {"calls", 0},
                 {"share", (seconds_per_run - covered) / seconds_per_run}});
  if (verbose)
    for (const json& o : out)
      std::fprintf(stderr, "      %-30s %8.3f s  %5.1f%%  %6ld calls\n", o["op"].get<std::string>().c_str(),
                   (double)o["seconds"], 100.0 * (double)o["share"], (long)o["calls"]);
  return out;
}

Batch random_batch(int64_t batch, int64_t len, int64_t vocab, uint64_t seed) {
  medenc::Rng rng(seed);
  Batch b;
  for (int64_t i = 0; i < batch; ++i) {
    std::vector<int32_t> ids((size_t)len);
    for (auto& id : ids) id = (int32_t)rng.below((uint64_t)std::min<int64_t>(vocab, 50000));
    b.add(ids);
  }
  return b;
}

// The timed runs of one case. Each run is followed by one pass of the ceiling probe: the fraction of
// the ceiling is the median over runs of the run's GFLOP/s over the ceiling measured right after it,
// so the machine's drift cancels out. Op times are summed per case (cases are timed in alternation).
struct TimedRuns {
  std::vector<double> seconds, ceilings, fractions;
  std::map<std::string, medenc::ops::OpTime> profile;

  // One run (run_once returns its seconds), its op profile when asked, and the ceiling after it.
  void time_once(const std::function<double()>& run_once, double flops, bench::GemmCeilingProbe& probe,
                 bool with_profile) {
    medenc::ops::take_op_profile();
    medenc::ops::set_op_profiling(with_profile);
    const double s = run_once();
    medenc::ops::set_op_profiling(false);
    for (const medenc::ops::OpTime& t : medenc::ops::take_op_profile()) {
      medenc::ops::OpTime& sum = profile[t.op];
      sum.op = t.op;
      sum.seconds += t.seconds;
      sum.calls += t.calls;
    }
    const double c = probe.measure_gflops();
    seconds.push_back(s);
    ceilings.push_back(c);
    fractions.push_back(flops / s / 1e9 / c);
  }
  double mean_seconds() const {
    double sum = 0.0;
    for (double x : seconds) sum += x;
    return sum / (double)seconds.size();
  }
  double peak_ceiling() const { return *std::max_element(ceilings.begin(), ceilings.end()); }
  json profile_report(bool verbose) const {
    return op_profile(profile, (int)seconds.size(), mean_seconds(), verbose);
  }
};

// One inference case of one dtype. The cases are timed in alternation (see run()), so the state
// of each lives here between its runs.
struct InferenceCase {
  std::string dtype, name;
  medenc::Encoder* model = nullptr;
  Batch batch;
  bench::GemmCeilingProbe* probe = nullptr;
  double flops = 0.0, peak_rss_mb = 0.0;
  TimedRuns runs;
  // One workspace per case, kept between runs as a Session keeps its own: a fresh one per run would
  // time its allocation and page faults (about 8% of an fp32 8x512 pass), not the model.
  mutable std::unique_ptr<medenc::EncoderWorkspace> workspace;

  void run_once() const {
    medenc::ForwardOptions opts;
    opts.want_hidden = false;
    opts.want_logits = true;
    if (!workspace) workspace = model->make_workspace();
    model->forward(batch, opts, *workspace);
  }

  void time_once(bool with_profile) {
    runs.time_once([&] { return bench::time_seconds([&] { run_once(); }); }, flops, *probe, with_profile);
  }

  json report(bool with_profile, bool verbose) const {
    const double tokens = (double)batch.tokens();
    const double t = bench::median(runs.seconds);
    const double ceiling = bench::median(runs.ceilings);
    const double fraction = bench::median(runs.fractions);
    json j = {{"case", name},
              {"sequences", batch.size()},
              {"tokens", batch.tokens()},
              {"seconds", t},
              {"tokens_per_s", tokens / t},
              {"gflop_per_token", flops / tokens / 1e9},
              {"achieved_gflops", flops / t / 1e9},
              {"ceiling_gflops", ceiling},
              {"ceiling_peak_gflops", runs.peak_ceiling()},
              {"fraction_of_ceiling", fraction},
              {"peak_rss_mb", peak_rss_mb}};
    if (verbose)
      std::fprintf(stderr,
                   "  %-10s %8.0f tok/s  %6.3f GFLOP/tok  %6.1f GFLOP/s  ceiling %6.1f (peak run %6.1f)  (%4.0f%%)  "
                   "peak RSS %6.0f MB\n",
                   name.c_str(), tokens / t, flops / tokens / 1e9, flops / t / 1e9, ceiling, runs.peak_ceiling(),
                   100.0 * fraction, peak_rss_mb);
    if (with_profile) j["profile"] = runs.profile_report(verbose);
    return j;
  }
};

// Full training steps (forward with saved activations, backward, AdamW) in fp32 on a random batch,
// counting 3x the forward FLOPs against the fp32 ceiling.
json run_train_case(const Options& o, const std::string& name, bool verbose) {
  int64_t b = 0, len = 0;
  if (!parse_case(name, b, len))
    throw medenc::Error(fmt::format("bad training case '{}' (expected BxL, e.g. 8x512)", name));
  medenc::LoadOptions lo;
  bench::reset_peak_rss();
  auto model = medenc::load_trainable(o.model, lo);
  medenc::AdamWOptions ao;
  ao.weight_decay = 0.01;
  medenc::AdamW optimizer(model->parameters(), ao);
  const auto shapes = bench::model_gemm_shapes(*model);
  const Batch batch = random_batch(b, len, model->info().vocab_size, 1234);
  const medenc::TrainLabels labels = medenc::synthetic_labels(*model, batch, 5);
  medenc::TrainOptions to;
  to.dropout = false;
  medenc::timed_train_step(*model, optimizer, batch, labels, 1e-5, to);  // warm-up: allocations
  const double peak = bench::peak_rss_mb();  // before the probe's buffers exist
  const double flops = model->train_step_flops(batch);
  bench::GemmCeilingProbe probe(shapes, batch.tokens(), false);
  std::vector<double> fwd, bwd, opt;
  TimedRuns runs;
  for (int r = 0; r < o.reps; ++r)
    runs.time_once(
        [&] {
          const medenc::TrainStepTimes t = medenc::timed_train_step(*model, optimizer, batch, labels, 1e-5, to);
          fwd.push_back(t.forward_s);
          bwd.push_back(t.backward_s);
          opt.push_back(t.optimizer_s);
          return t.total_s();
        },
        flops, probe, o.profile);
  const double seconds = bench::median(runs.seconds);
  const double ceiling = bench::median(runs.ceilings);
  const double fraction = bench::median(runs.fractions);
  json j = {{"case", name},
            {"tokens", batch.tokens()},
            {"step_seconds", seconds},
            {"forward_seconds", bench::median(fwd)},
            {"backward_seconds", bench::median(bwd)},
            {"optimizer_seconds", bench::median(opt)},
            {"tokens_per_s", (double)batch.tokens() / seconds},
            {"gflop_per_token", flops / (double)batch.tokens() / 1e9},
            {"achieved_gflops", flops / seconds / 1e9},
            {"ceiling_gflops", ceiling},
            {"ceiling_peak_gflops", runs.peak_ceiling()},
            {"fraction_of_ceiling", fraction},
            {"activation_mb", (double)model->activation_bytes(batch) / (1 << 20)},
            {"peak_rss_mb", peak}};
  if (verbose)
    std::fprintf(stderr,
                 "  train %-6s %6.0f tok/s  step %.2f s (forward %.2f, backward %.2f, AdamW %.2f)  %.1f GFLOP/s  "
                 "ceiling %.1f  (%3.0f%%)  activations %.0f MB  peak %.0f MB\n",
                 name.c_str(), (double)batch.tokens() / seconds, seconds, bench::median(fwd), bench::median(bwd),
                 bench::median(opt), flops / seconds / 1e9, ceiling, 100.0 * fraction,
                 (double)model->activation_bytes(batch) / (1 << 20), peak);
  if (o.profile) j["profile"] = runs.profile_report(verbose);
  return j;
}

const json* find_case(const json& report, const std::string& dtype, const std::string& name) {
  for (const json& run : report["runs"])
    if (run["dtype"] == dtype)
      for (const json& c : run["cases"])
        if (c["case"] == name) return &c;
  return nullptr;
}

// The share of case `c`'s time spent in op `op` (with --profile; 0 without). The linear layers'
// share includes the epilogues their GEMM tiles run (the QKV split into attention's panels, GeGLU).
double op_share(const json& c, const std::string& op) {
  if (c.contains("profile"))
    for (const json& o : c["profile"])
      if (o["op"] == op) return o["share"];
  return 0.0;
}
double linear_share(const json& c) { return op_share(c, "linear"); }

// The speed targets, each computed from this run's numbers (skipped when its cases were not run).
// With --profile, ratios between fp32 cases also carry their value measured against each case's own
// linear-layer time: every case runs the same linear tiles at the same FLOPs per token, so the ratio
// of their linear shares is the ratio of their costs per token, with the machine's drift between the
// cases' runs cancelled (the plain ratio compares runs made up to minutes apart).
json check_targets(const json& report) {
  json out = json::array();
  auto add = [&](const std::string& what, double value, double limit, bool at_least, const std::string& unit) {
    out.push_back({{"target", what}, {"value", value}, {"limit", limit}, {"unit", unit},
                   {"met", at_least ? value >= limit : value <= limit}});
  };
  const json* f512 = find_case(report, "f32", "8x512");
  const json* b512 = find_case(report, "bf16", "8x512");
  const json* f8k = find_case(report, "f32", "1x8192");
  const json* fclin = find_case(report, "f32", "clinical");
  if (f512) add("fp32 8x512: fraction of the fp32 GEMM ceiling", (*f512)["fraction_of_ceiling"], 0.70, true, "");
  if (f512 && b512)
    add("bf16 8x512 throughput / fp32 8x512", (double)(*b512)["tokens_per_s"] / (double)(*f512)["tokens_per_s"], 1.6,
        true, "x");
  if (b512 && linear_share(*b512) > 0)
    add("bf16 8x512: share of the pass in the linear layers", linear_share(*b512), 0.85, true, "");
  if (const json* b8k = find_case(report, "bf16", "1x8192")) {
    add("bf16 1x8192: fraction of the bf16 GEMM ceiling", (*b8k)["fraction_of_ceiling"], 0.75, true, "");
    if (linear_share(*b8k) > 0)
      add("bf16 1x8192: global attention's share of the pass", op_share(*b8k, "attention (global)"), 0.40, false, "");
  }
  const json* i512 = find_case(report, "int8", "8x512");
  if (i512 && b512)
    add("int8 8x512 throughput / bf16 8x512", (double)(*i512)["tokens_per_s"] / (double)(*b512)["tokens_per_s"], 1.5,
        true, "x");
  if (report.contains("int8_gate") && report["int8_gate"]["relevance"].contains("mean_abs_score_diff")) {
    const json& r = report["int8_gate"]["relevance"];
    add("int8 relevance scores: mean |int8 - fp32|", r["mean_abs_score_diff"], 0.05, false, "");
    add("int8 relevance ROC-AUC: |int8 - fp32|", r["roc_auc_diff"], 0.002, false, "");
  }
  for (const json& run : report["runs"])
    if (run.contains("determinism"))
      add(fmt::format("{} determinism (threads, batch): identical bits", run["dtype"].get<std::string>()),
          run["determinism"]["same_bits_with_one_thread"].get<bool>() &&
                  run["determinism"]["same_bits_alone_as_in_batch"].get<bool>()
              ? 1.0
              : 0.0,
          1.0, true, "");
  if (f512 && f8k) {
    add("fp32 1x8192 time per token / 8x512", (double)(*f512)["tokens_per_s"] / (double)(*f8k)["tokens_per_s"], 2.0,
        false, "x");
    if (linear_share(*f512) > 0 && linear_share(*f8k) > 0)
      out.back()["per_linear_time"] = linear_share(*f512) / linear_share(*f8k);
  }
  if (f512 && fclin) {
    add("fp32 clinical batch throughput / 8x512", (double)(*fclin)["tokens_per_s"] / (double)(*f512)["tokens_per_s"],
        0.9, true, "x");
    if (linear_share(*f512) > 0 && linear_share(*fclin) > 0)
      out.back()["per_linear_time"] = linear_share(*fclin) / linear_share(*f512);
  }
  for (const json& run : report["runs"]) {
    if (run["dtype"] != "f32") continue;
    add("fp32 load time", run["load_seconds"], 1.0, false, "s");
    if (f8k) add("fp32 1x8192 peak memory above the weights", (double)(*f8k)["peak_rss_mb"] - (double)run["weights_mb"],
                 1024.0, false, "MB");
  }
  if (const json* t = report.contains("train") ? &report["train"] : nullptr)
    for (const json& c : *t)
      if (c["case"] == "8x512") add("training step 8x512: fraction of the fp32 GEMM ceiling", c["fraction_of_ceiling"],
                                    0.50, true, "");
  return out;
}

// The int8 accuracy gate's table (bench/int8_gate.h).
void print_int8_gate(const json& gate) {
  std::fprintf(stderr, "int8 accuracy gate (int8 against fp32, both run now):\n");
  for (const auto& [name, f] : gate["fixtures"].items()) {
    // A number, or "-" where the fixture has none (a base model has no logits; some fixtures no HF logits).
    auto num = [&](const char* key, const char* format) {
      if (!f.contains(key) || !f[key].is_number() || std::isnan((double)f[key])) return std::string("-");
      return fmt::format(fmt::runtime(format), (double)f[key]);
    };
    std::fprintf(stderr, "  fixture %-36s logits max |int8 - fp32| %s (vs HF fp32 %s; logits up to %s)  hidden %s\n",
                 name.c_str(), num("logits_vs_fp32", "{:.4f}").c_str(), num("logits_vs_hf_fp32", "{:.4f}").c_str(),
                 num("logits_max_abs", "{:.2f}").c_str(), num("hidden_vs_fp32", "{:.4f}").c_str());
  }
  const json& r = gate["relevance"];
  if (r.contains("skipped")) {
    std::fprintf(stderr, "  relevance model: skipped (%s)\n", r["skipped"].get<std::string>().c_str());
    return;
  }
  std::fprintf(stderr, "  %s on %s (%ld texts): mean |int8 - fp32| score %.4f (max %.4f); ROC-AUC fp32 %.4f, int8 %.4f\n",
               r["model"].get<std::string>().c_str(), r["texts"].get<std::string>().c_str(), (long)r["count"],
               (double)r["mean_abs_score_diff"], (double)r["max_abs_score_diff"], (double)r["roc_auc_f32"],
               (double)r["roc_auc_int8"]);
}

// Peak resident memory above the process before the model, with one session and then with `n`
// sessions over the same loaded model, each running a BxL batch at once (ModelInfo's vocabulary).
json run_sessions_case(const Options& o, int n, const std::string& case_name) {
  int64_t b = 0, len = 0;
  if (!parse_case(case_name, b, len)) throw medenc::Error(fmt::format("bad case '{}' (expected BxL)", case_name));
  const double rss_base = bench::current_rss_mb();
  medenc::ModelOptions mo;
  mo.tokenizer = o.tokenizer;
  const std::shared_ptr<const medenc::Model> model = medenc::Model::load(o.model, mo);
  const double rss_model = bench::current_rss_mb() - rss_base;
  const medenc::Batch batch = random_batch(b, len, model->info().vocab_size, 1234);
  const int total_threads = o.threads > 0 ? o.threads : medenc::ops::max_threads();
  auto peak_with = [&](int sessions) {
    bench::reset_peak_rss();
    std::vector<std::thread> threads;
    for (int s = 0; s < sessions; ++s)
      threads.emplace_back([&] {
        medenc::Session session(model, medenc::SessionOptions{std::max(1, total_threads / sessions)});
        medenc::ForwardOptions fo;
        fo.want_hidden = false;
        session.forward(batch, fo);
      });
    for (auto& t : threads) t.join();
    return bench::peak_rss_mb() - rss_base;
  };
  const double one = peak_with(1);
  const double many = peak_with(n);
  return {{"case", case_name}, {"model_mb", rss_model}, {"peak_one_session_mb", one},
          {"sessions", n},     {"peak_sessions_mb", many}, {"ratio", many / one}};
}

int run(const Options& o) {
  const medenc::ops::ThreadScope threads(o.threads);
  if (o.sessions > 0) {
    const json r = run_sessions_case(o, o.sessions, o.cases.empty() ? "8x512" : o.cases[0]);
    if (o.json_out) std::printf("%s\n", r.dump(2).c_str());
    else
      std::printf("model %s, %s: loaded %.0f MB; peak with 1 session %.0f MB, with %d sessions %.0f MB (%.2fx; target "
                  "< 1.5x)\n",
                  o.model.c_str(), r["case"].get<std::string>().c_str(), r["model_mb"].get<double>(),
                  r["peak_one_session_mb"].get<double>(), o.sessions, r["peak_sessions_mb"].get<double>(),
                  r["ratio"].get<double>());
    return medenc::cli::kOk;
  }
  if (o.end_to_end) {
    const json r = medenc::cli::run_end_to_end({o.model, o.tokenizer, o.texts_dir, o.dtypes, o.threads, o.reps},
                                               !o.json_out);
    if (o.json_out) std::printf("%s\n", r.dump(2).c_str());
    return medenc::cli::kOk;
  }
  json report = json::object();
  report["model"] = o.model;
  report["threads"] = o.threads > 0 ? o.threads : medenc::ops::max_threads();
  report["cpu_kernels"] = medenc::ops::cpu::active_isa_level();  // ISA level of the hand-written kernels
  report["runs"] = json::array();
  const bool inference = !(o.cases.size() == 1 && o.cases[0] == "none");
  // Phase 1, one dtype after the other: load the model, build the batches, and run each case once
  // (warm-up) for its peak resident memory. The models stay loaded; the peak counts the process
  // without the other dtypes' models (rss_base is what the process holds before any model).
  const double rss_base = bench::current_rss_mb();
  std::vector<std::unique_ptr<medenc::Encoder>> models;
  std::vector<InferenceCase> cases;
  for (const std::string& dtype : inference ? o.dtypes : std::vector<std::string>{}) {
    medenc::LoadOptions lo;
    lo.bf16 = dtype == "bf16";
    lo.int8 = dtype == "int8";
    const double rss_before = bench::current_rss_mb();
    std::unique_ptr<medenc::Encoder> model;
    const double load_s = bench::time_seconds([&] { model = medenc::load_encoder(o.model, lo); });
    const double weights_mb = bench::model_weight_mb(*model);
    json run = {{"dtype", dtype},
                {"load_seconds", load_s},
                {"weights_mb", weights_mb},
                {"rss_after_load_mb", bench::current_rss_mb() - rss_before},
                {"bf16_native", dtype == "bf16" ? medenc::ops::native_bf16(medenc::ops::Context{}) : false},
                {"cases", json::array()}};
    const int64_t vocab = model->info().vocab_size;
    for (const std::string& c : o.cases) {
      InferenceCase ic;
      ic.dtype = dtype;
      ic.name = c;
      ic.model = model.get();
      if (c == "clinical") {
        // Left out, and said once, where the texts or the tokenizer are missing (a clone without ../shared).
        const bool say = dtype == o.dtypes.front();
        if (o.tokenizer.empty()) {
          if (say) std::fprintf(stderr, "case 'clinical' left out: no --tokenizer\n");
          continue;
        }
        std::string what;
        ic.batch = bench::clinical_batch(medenc::resolve_model(o.tokenizer), o.texts_dir, model->info().max_positions, &what);
        if (ic.batch.size() == 0) {
          if (say)
            std::fprintf(stderr, "case 'clinical' left out: no clinical texts under %s (--texts)\n", o.texts_dir.c_str());
          continue;
        }
        run["clinical_batch"] = what;
      } else {
        int64_t b = 0, len = 0;
        if (!parse_case(c, b, len))
          throw medenc::Error(fmt::format("bad case '{}' (expected BxL, e.g. 8x512, or 'clinical')", c));
        if (model->info().max_positions > 0 && len > model->info().max_positions) continue;
        ic.batch = random_batch(b, len, vocab, 1234);
      }
      ic.flops = model->forward_flops(ic.batch);
      bench::reset_peak_rss();
      ic.run_once();  // warm-up: allocations, caches
      ic.peak_rss_mb = bench::peak_rss_mb() - (rss_before - rss_base);
      cases.push_back(std::move(ic));
    }
    report["runs"].push_back(run);
    models.push_back(std::move(model));
  }
  // Phase 2: the timed runs in alternation (rep 1 of every case, then rep 2, ...), each followed by
  // its ceiling probe, so that cases compared by the targets (bf16 vs fp32, 1x8192 vs 8x512, the
  // clinical batch vs 8x512) see the machine in the same state: this VM's speed drifts by +-20%
  // within minutes. One probe per (rows, precision), made after every peak was read.
  std::map<std::pair<int64_t, std::string>, std::unique_ptr<bench::GemmCeilingProbe>> probes;
  for (InferenceCase& ic : cases) {
    const bool bf16 = ic.dtype == "bf16", int8 = ic.dtype == "int8";
    const int64_t rows = std::min<int64_t>(ic.batch.tokens(), 8192);
    auto& probe = probes[{rows, ic.dtype}];
    if (!probe)
      probe = std::make_unique<bench::GemmCeilingProbe>(bench::model_gemm_shapes(*ic.model), rows, bf16, int8);
    ic.probe = probe.get();
  }
  for (int r = 0; r < o.reps; ++r)
    for (InferenceCase& ic : cases) ic.time_once(o.profile);
  // Phase 3: the report, per dtype.
  for (json& run : report["runs"]) {
    const std::string dtype = run["dtype"];
    if (!o.json_out) {
      std::fprintf(stderr, "%s  %s: load %.2f s, weights %.0f MB%s\n", o.model.c_str(), dtype.c_str(),
                   (double)run["load_seconds"], (double)run["weights_mb"],
                   dtype == "bf16" && !medenc::ops::native_bf16(medenc::ops::Context{})
                       ? " (bf16 emulated: this CPU has no native bf16 GEMM)"
                       : "");
    }
    for (const InferenceCase& ic : cases) {
      if (ic.dtype != dtype) continue;
      if (ic.name == "clinical" && !o.json_out)
        std::fprintf(stderr, "  clinical batch: %s\n", run["clinical_batch"].get<std::string>().c_str());
      run["cases"].push_back(ic.report(o.profile, !o.json_out));
    }
  }
  // Determinism, checked on every dtype's model: a few sequences of the first case (cut to at most
  // 256 tokens each), with all threads, one thread, and each sequence alone.
  for (size_t d = 0; d < models.size(); ++d) {
    json& run = report["runs"][d];
    const InferenceCase* first = nullptr;
    for (const InferenceCase& ic : cases)
      if (ic.dtype == run["dtype"] && (!first || ic.name == "clinical")) first = &ic;
    if (!first) continue;
    Batch probe_batch;
    for (int64_t s = 0; s < std::min<int64_t>(first->batch.size(), 6); ++s) {
      const int64_t t0 = first->batch.offsets[(size_t)s];
      const int64_t n = std::min<int64_t>(first->batch.length(s), 256 - 40 * s);
      probe_batch.add(std::span<const int32_t>(first->batch.ids.data() + t0, (size_t)n));
    }
    run["determinism"] = bench::determinism_check(*models[d], probe_batch, (int)report["threads"]);
  }
  if (std::find(o.dtypes.begin(), o.dtypes.end(), "int8") != o.dtypes.end() && !o.gate.relevance_model.empty())
    report["int8_gate"] = bench::int8_accuracy_gate(o.gate, (int)report["threads"]);
  cases.clear();  // the training cases measure their own memory
  probes.clear();
  models.clear();
  if (o.train) {
    report["train"] = json::array();
    for (const std::string& c : o.train_cases) report["train"].push_back(run_train_case(o, c, !o.json_out));
  }
  // Determinism is not a mode here: GEMM tiles and attention blocks are fixed, so every number above
  // is already the deterministic one (--deterministic is accepted and changes nothing).
  report["deterministic"] = true;
  report["targets"] = check_targets(report);
  if (o.json_out) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    std::fprintf(stderr, "cpu kernels: %s (MEDENC_CPU_ISA=baseline|avx2|avx512 overrides)\n",
                 report["cpu_kernels"].get<std::string>().c_str());
    std::fprintf(stderr, "deterministic: always (fixed GEMM tiles and attention blocks, exact int8 sums: results do "
                         "not depend on the thread count or the batch; --deterministic costs nothing more)\n");
    for (const json& run : report["runs"])
      if (run.contains("determinism"))
        std::fprintf(stderr, "  checked %-5s %ld sequences: %s with 1 thread as with %d, %s alone as in the batch\n",
                     run["dtype"].get<std::string>().c_str(), (long)run["determinism"]["sequences"],
                     run["determinism"]["same_bits_with_one_thread"].get<bool>() ? "same bits" : "DIFFERENT bits",
                     (int)report["threads"],
                     run["determinism"]["same_bits_alone_as_in_batch"].get<bool>() ? "same bits" : "DIFFERENT bits");
    if (report.contains("int8_gate")) print_int8_gate(report["int8_gate"]);
    for (const json& t : report["targets"]) {
      const std::string unit = t["unit"];
      const std::string by_linear =
          t.contains("per_linear_time") ? fmt::format("  (against linear time: {:.2f}{})", (double)t["per_linear_time"], unit) : "";
      std::fprintf(stderr, "target %-50s %8.2f%s (%s %.2f%s)%s%s\n", t["target"].get<std::string>().c_str(),
                   (double)t["value"], unit.c_str(), t["met"].get<bool>() ? "meets" : "misses", (double)t["limit"],
                   unit.c_str(), by_linear.c_str(), t["met"].get<bool>() ? "" : "  <-- MISSED");
    }
  }
  return medenc::cli::kOk;
}

medenc::cli::Registrar reg("bench", "Measure inference and training throughput against this machine's GEMM ceiling",
                           [](CLI::App& app) {
                             auto o = std::make_shared<Options>();
                             app.add_option("--model", o->model, "Model folder")->required();
                             app.add_option("--dtype", o->dtypes, "f32, bf16 and/or int8 (default f32)")
                                 ->check(CLI::IsMember({"f32", "bf16", "int8"}));
                             app.add_option("--gate-model", o->gate.relevance_model,
                                            "int8 accuracy gate: the regression model scored in fp32 and int8 "
                                            "(default models/medical-relevance; '' skips the gate)");
                             app.add_option("--gate-texts", o->gate.relevance_texts,
                                            "int8 accuracy gate: its texts, JSON Lines with text and score");
                             app.add_option("--fixtures", o->gate.fixtures_dir,
                                            "int8 accuracy gate: the Hugging Face fixtures folder");
                             app.add_option("--threads", o->threads, "Threads (default: all cores)");
                             app.add_option("--reps", o->reps, "Timed repetitions per case (median reported)")
                                 ->check(CLI::Range(1, 1000));
                             app.add_option("--cases", o->cases, "Cases: BxL and/or 'clinical' ('none': training only)");
                             app.add_option("--tokenizer", o->tokenizer,
                                            "Tokenizer folder for the 'clinical' case (real ModernBERT tokenizer)");
                             app.add_option("--texts", o->texts_dir, "Folder of the shared clinical data");
                             app.add_flag("--json", o->json_out, "JSON report on stdout");
                             app.add_option("--sessions", o->sessions,
                                            "Only measure the peak memory of N concurrent sessions over one "
                                            "loaded model against one session (first --cases entry, 8x512)");
                             app.add_flag("--end-to-end", o->end_to_end,
                                          "Only time medenc classify on the clinical texts against the bare "
                                          "forward pass of the same texts (a classification model)");
                             app.add_flag("--train", o->train,
                                          "Also time fp32 training steps (forward, backward, AdamW)");
                             app.add_option("--train-cases", o->train_cases, "Training cases BxL (default 8x512)");
                             app.add_flag("--profile", o->profile,
                                          "Also report the wall time of each op kind (per run, share of the case)");
                             app.add_flag("--deterministic", o->deterministic,
                                          "Accepted for symmetry with the other commands: always on");
                             return [o] { return run(*o); };
                           });

}  // namespace
