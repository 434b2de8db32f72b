#pragma once
// Measurement helpers for `medenc bench`: timing, resident memory, the GEMM ceiling.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "medenc/model.h"

namespace medenc::bench {

double time_seconds(const std::function<void()>& f);
double median(std::vector<double> v);

// Resident memory from /proc/self/status; reset_peak_rss() restarts the VmHWM high-water mark.
double current_rss_mb();
double peak_rss_mb();
void reset_peak_rss();

struct GemmShape {
  int64_t n;  // output features
  int64_t k;  // input features
};
// The linear layers every token goes through (per layer, per token), from the model's parameters.
std::vector<GemmShape> model_gemm_shapes(const Encoder& model);
double model_weight_mb(const Encoder& model);

// The GEMM ceiling: FLOP-weighted GFLOP/s of oneDNN's best multi-threaded GEMM on these shapes with
// `rows` rows (fp32: the fastest of sgemm and the matmul primitive with weights as stored or
// pre-packed; bf16: the bf16 matmul primitive, both weight layouts, fp32 accumulation), the best a
// GEMM-bound forward pass could do on this machine. It is a probe, set up once and measured between
// a case's runs: this VM's speed drifts by +-20% within minutes, so each run is compared with the
// ceiling measured right after it.
class GemmCeilingProbe {
 public:
  // int8: oneDNN's s8 x s8 -> s32 matmul (the int8 linear layers' kernel), FLOPs counted as for fp32.
  GemmCeilingProbe(const std::vector<GemmShape>& shapes, int64_t rows, bool bf16, bool int8 = false);
  ~GemmCeilingProbe();
  // One timed pass: every shape once by each GEMM entry point, the fastest one per shape.
  double measure_gflops();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The clinical texts of the bench, per source (IU X-ray reports, ROCO radiology captions, MTSamples
// notes) read from the shared data folder; a missing file gives an empty source, texts that are not
// valid UTF-8 are left out.
struct ClinicalSource {
  const char* name;
  std::vector<std::string> texts;
};
std::vector<ClinicalSource> clinical_texts(const std::string& data_dir);

// A variable-length batch of real clinical texts read from the shared data folder (IU X-ray reports,
// ROCO radiology captions, MTSamples notes), tokenized with the tokenizer in tokenizer_dir and cut
// at max_length tokens. `description` says what went in. Missing files are skipped.
Batch clinical_batch(const std::string& tokenizer_dir, const std::string& data_dir, int64_t max_length,
                     std::string* description);

}  // namespace medenc::bench
