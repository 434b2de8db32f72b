// medenc train-step (hidden): times full training steps (forward_train, backward, AdamW) on random
// batches and reports tokens/s, the fraction of this machine's fp32 GEMM ceiling (counting 3x the
// forward FLOPs) and the peak resident memory of the whole process (weights, gradients, AdamW state
// and saved activations). `medenc bench --train` is the user-facing version of this measurement.
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "bench/bench_support.h"
#include "cli/command.h"
#include "medenc/error.h"
#include "medenc/train.h"
#include "ops/ops.h"
#include "util/random.h"

namespace {

namespace bench = medenc::bench;

struct Options {
  std::string model;
  std::vector<std::string> cases{"8x512"};
  int reps = 2;
  int threads = 0;
};

medenc::Batch random_batch(int64_t batch, int64_t len, int64_t vocab, uint64_t seed) {
  medenc::Rng rng(seed);
  medenc::Batch b;
  for (int64_t i = 0; i < batch; ++i) {
    std::vector<int32_t> ids((size_t)len);
    for (auto& id : ids) id = (int32_t)rng.below((uint64_t)vocab);
    b.add(ids);
  }
  return b;
}

int run(const Options& o) {
  medenc::LoadOptions lo;
  lo.threads = o.threads;
  auto model = medenc::load_trainable(o.model, lo);
  medenc::AdamWOptions ao;
  ao.weight_decay = 0.01;
  medenc::AdamW optimizer(model->parameters(), ao);
  const auto shapes = bench::model_gemm_shapes(*model);
  std::fprintf(stderr, "%s: %zu parameters, %d threads\n", o.model.c_str(), model->parameters().total(),
               o.threads > 0 ? o.threads : medenc::ops::max_threads());
  for (const std::string& c : o.cases) {
    int64_t b = 0, len = 0;
    if (std::sscanf(c.c_str(), "%ldx%ld", &b, &len) != 2 || b <= 0 || len <= 0)
      throw medenc::Error(fmt::format("bad case '{}' (expected BxL, e.g. 8x512)", c));
    const medenc::Batch batch = random_batch(b, len, model->info().vocab_size, 1234);
    const medenc::TrainLabels labels = medenc::synthetic_labels(*model, batch, 5);
    medenc::TrainOptions to;
    to.dropout = false;
    medenc::timed_train_step(*model, optimizer, batch, labels, 1e-5, to);  // warm-up: allocations
    // The ceiling is measured just before and just after the timed steps and averaged, so that a
    // machine shared with other work is compared with itself.
    const double ceiling_before = bench::gemm_ceiling_gflops(shapes, batch.tokens());
    std::vector<double> total, fwd, bwd, opt;
    for (int r = 0; r < o.reps; ++r) {
      const medenc::TrainStepTimes t = medenc::timed_train_step(*model, optimizer, batch, labels, 1e-5, to);
      total.push_back(t.total_s());
      fwd.push_back(t.forward_s);
      bwd.push_back(t.backward_s);
      opt.push_back(t.optimizer_s);
    }
    const double seconds = bench::median(total);
    const double flops = model->train_step_flops(batch);
    const double ceiling = 0.5 * (ceiling_before + bench::gemm_ceiling_gflops(shapes, batch.tokens()));
    std::printf(
        "%-8s %7.1f tok/s  step %.2f s (forward %.2f, backward %.2f, optimizer %.2f)  %.1f GFLOP/s = %.0f%% of "
        "the %.1f GFLOP/s sgemm ceiling  activations %.0f MB  peak RSS %.0f MB\n",
        c.c_str(), (double)batch.tokens() / seconds, seconds, bench::median(fwd), bench::median(bwd),
        bench::median(opt), flops / seconds / 1e9, 100.0 * flops / seconds / 1e9 / ceiling, ceiling,
        (double)model->activation_bytes(batch) / (1 << 20), bench::peak_rss_mb());
    std::fflush(stdout);
  }
  return medenc::cli::kOk;
}

medenc::cli::Registrar reg("train-step", "Time full training steps (hidden; see medenc bench --train)",
                           [](CLI::App& app) {
                             app.group("");  // not listed in --help
                             auto o = std::make_shared<Options>();
                             app.add_option("--model", o->model, "Model folder")->required();
                             app.add_option("--cases", o->cases, "Cases BxL (default 8x512)");
                             app.add_option("--reps", o->reps, "Timed steps per case (median reported)")
                                 ->check(CLI::Range(1, 100));
                             app.add_option("--threads", o->threads, "Threads (default: all cores)");
                             return [o] { return run(*o); };
                           });

}  // namespace
