// medenc bench: inference throughput against the machine's own GEMM ceiling, measured in one run.
//
// For each case (32x128, 8x512, 1x4096, 1x8192, and a variable-length batch of real clinical texts
// when a tokenizer and texts are available) it reports real tokens/s (median of --reps runs after a
// warm-up), FLOPs per token, achieved GFLOP/s and the fraction of the ceiling, and the peak resident
// memory of the case. The ceiling is oneDNN's multi-threaded sgemm on the model's own linear-layer
// shapes at the same token count, measured in this process.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.h>

#include "bench/bench_support.h"
#include "cli/command.h"
#include "medenc/error.h"
#include "medenc/model.h"
#include "medenc/modernbert.h"
#include "ops/ops.h"
#include "util/random.h"

namespace {

using medenc::Batch;
using nlohmann::json;
namespace bench = medenc::bench;

struct Options {
  std::string model;
  std::vector<std::string> dtypes{"f32"};
  int threads = 0;
  int reps = 3;
  bool json_out = false;
  std::string tokenizer = "tests/data/tokenizers/modernbert-base";
  std::string texts_dir = "../shared/data";
  std::vector<std::string> cases{"32x128", "8x512", "1x4096", "1x8192", "clinical"};
  bool train = false;
};

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

json run_case(medenc::Encoder& model, const std::string& name, const Batch& batch, int reps,
              const std::vector<bench::GemmShape>& shapes, bool verbose) {
  bench::reset_peak_rss();
  medenc::ForwardOptions opts;
  opts.want_hidden = false;
  opts.want_logits = true;
  auto run = [&] { model.forward(batch, opts); };
  run();  // warm-up (allocations, caches)
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) times.push_back(bench::time_seconds(run));
  const double t = bench::median(times);
  const double tokens = (double)batch.tokens();
  const double flops = model.forward_flops(batch);
  const double ceiling = bench::gemm_ceiling_gflops(shapes, std::min<int64_t>(batch.tokens(), 8192));
  json j = {{"case", name},
            {"sequences", batch.size()},
            {"tokens", batch.tokens()},
            {"seconds", t},
            {"tokens_per_s", tokens / t},
            {"gflop_per_token", flops / tokens / 1e9},
            {"achieved_gflops", flops / t / 1e9},
            {"ceiling_gflops", ceiling},
            {"fraction_of_ceiling", flops / t / 1e9 / ceiling},
            {"peak_rss_mb", bench::peak_rss_mb()}};
  if (verbose)
    std::fprintf(stderr, "  %-10s %8.0f tok/s  %6.3f GFLOP/tok  %6.1f GFLOP/s  ceiling %6.1f  (%4.0f%%)  peak %6.0f MB\n",
                 name.c_str(), tokens / t, flops / tokens / 1e9, flops / t / 1e9, ceiling,
                 100.0 * flops / t / 1e9 / ceiling, bench::peak_rss_mb());
  return j;
}

int run(const Options& o) {
  json report = json::object();
  report["model"] = o.model;
  report["threads"] = o.threads > 0 ? o.threads : medenc::ops::max_threads();
  report["runs"] = json::array();
  for (const std::string& dtype : o.dtypes) {
    medenc::LoadOptions lo;
    lo.threads = o.threads;
    lo.bf16 = dtype == "bf16";
    bench::reset_peak_rss();
    const double rss_before = bench::current_rss_mb();
    std::unique_ptr<medenc::Encoder> model;
    const double load_s = bench::time_seconds([&] { model = medenc::load_encoder(o.model, lo); });
    const auto shapes = bench::model_gemm_shapes(*model);
    const double weights_mb = bench::model_weight_mb(*model);
    json run = {{"dtype", dtype},
                {"load_seconds", load_s},
                {"weights_mb", weights_mb},
                {"rss_after_load_mb", bench::current_rss_mb() - rss_before},
                {"bf16_native", dtype == "bf16" ? bench::native_bf16_available() : false},
                {"cases", json::array()}};
    if (!o.json_out)
      std::fprintf(stderr, "%s  %s: load %.2f s, weights %.0f MB%s\n", o.model.c_str(), dtype.c_str(), load_s,
                   weights_mb,
                   dtype == "bf16" && !bench::native_bf16_available()
                       ? " (bf16 emulated: this CPU has no native bf16 GEMM)"
                       : "");
    const int64_t vocab = model->info().vocab_size;
    for (const std::string& c : o.cases) {
      Batch batch;
      if (c == "clinical") {
        if (o.tokenizer.empty()) continue;
        std::string what;
        batch = bench::clinical_batch(o.tokenizer, o.texts_dir, model->info().max_positions, &what);
        if (batch.size() == 0) continue;
        if (!o.json_out) std::fprintf(stderr, "  clinical batch: %s\n", what.c_str());
      } else {
        int64_t b = 0, len = 0;
        if (std::sscanf(c.c_str(), "%ldx%ld", &b, &len) != 2 || b <= 0 || len <= 0)
          throw medenc::Error(fmt::format("bad case '{}' (expected BxL, e.g. 8x512, or 'clinical')", c));
        if (model->info().max_positions > 0 && len > model->info().max_positions) continue;
        batch = random_batch(b, len, vocab, 1234);
      }
      run["cases"].push_back(run_case(*model, c, batch, o.reps, shapes, !o.json_out));
    }
    report["runs"].push_back(run);
  }
  if (o.json_out) std::printf("%s\n", report.dump(2).c_str());
  return medenc::cli::kOk;
}

medenc::cli::Registrar reg("bench", "Measure inference throughput against this machine's GEMM ceiling",
                           [](CLI::App& app) {
                             auto o = std::make_shared<Options>();
                             app.add_option("--model", o->model, "Model folder")->required();
                             app.add_option("--dtype", o->dtypes, "f32 and/or bf16 (default f32)")
                                 ->check(CLI::IsMember({"f32", "bf16"}));
                             app.add_option("--threads", o->threads, "Threads (default: all cores)");
                             app.add_option("--reps", o->reps, "Timed repetitions per case (median reported)")
                                 ->check(CLI::Range(1, 1000));
                             app.add_option("--cases", o->cases, "Cases: BxL and/or 'clinical'");
                             app.add_option("--tokenizer", o->tokenizer,
                                            "Tokenizer folder for the 'clinical' case (real ModernBERT tokenizer)");
                             app.add_option("--texts", o->texts_dir, "Folder of the shared clinical data");
                             app.add_flag("--json", o->json_out, "JSON report on stdout");
                             return [o] { return run(*o); };
                           });

}  // namespace
