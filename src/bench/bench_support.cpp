#include "bench/bench_support.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "medenc/text_input.h"
#include "tasks/csv_parser.h"
#include "medenc/tokenizer.h"
#include "util/fs.h"
#include "medenc/parameters.h"
#include "medenc/train.h"
#include "ops/ops.h"

namespace medenc::bench {

double time_seconds(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

static double status_field_mb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, n, key) == 0) return std::stod(line.substr(n + 1)) / 1024.0;  // kB
  return 0.0;
}

double current_rss_mb() { return status_field_mb("VmRSS"); }
double peak_rss_mb() { return status_field_mb("VmHWM"); }

void reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

static const ParameterSet* parameter_set(const Encoder& model) {
  if (auto* m = dynamic_cast<const TrainableEncoder*>(&model)) return &m->parameters();
  return nullptr;
}

std::vector<GemmShape> model_gemm_shapes(const Encoder& model) {
  std::vector<GemmShape> shapes;
  if (const ParameterSet* ps = parameter_set(model)) {
    for (const ParamSpec& s : ps->specs()) {
      if (s.shape.size() != 2) continue;
      const std::string& n = s.name;
      if (n.find("embeddings") != std::string::npos || n.rfind("head.", 0) == 0 || n.rfind("decoder", 0) == 0 ||
          n.rfind("classifier", 0) == 0 || n.find("pooler") != std::string::npos || n.rfind("cls.", 0) == 0)
        continue;
      shapes.push_back({s.shape[0], s.shape[1]});
    }
  }
  if (shapes.empty()) {  // unknown family: a square hidden-size GEMM
    const int64_t h = model.info().hidden_size;
    shapes.push_back({h, h});
  }
  return shapes;
}

double model_weight_mb(const Encoder& model) {
  if (const ParameterSet* ps = parameter_set(model)) return (double)ps->total() * 4.0 / (1024.0 * 1024.0);
  return 0.0;
}

struct GemmCeilingProbe::Impl {
  struct Shape {
    double flops = 0.0;  // per pass, times the number of layers using it
    int times = 0;
    std::vector<std::function<void()>> candidates;  // the same product by each GEMM entry point
  };
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::vector<std::vector<float>> host;  // sgemm operands (the matmul candidates hold their memory)
  std::vector<Shape> shapes;
};

GemmCeilingProbe::GemmCeilingProbe(const std::vector<GemmShape>& shapes, int64_t rows, bool bf16, bool int8)
    : impl_(std::make_unique<Impl>()) {
  using namespace dnnl;
  if (bf16 && !ops::native_bf16(ops::Context{})) bf16 = false;  // emulated bf16 runs the fp32 kernels
  Impl& im = *impl_;
  // Distinct shapes, weighted by how often a token meets them.
  std::map<std::pair<int64_t, int64_t>, int> count;
  for (auto s : shapes) count[{s.n, s.k}]++;
  for (auto& [nk, times] : count) {
    const int64_t n = nk.first, k = nk.second;
    Impl::Shape shape;
    shape.flops = 2.0 * rows * n * k * times;
    shape.times = times;
    // One multi-threaded matmul primitive over all rows (weights [n, k] row-major, as stored).
    const auto in_type = int8 ? memory::data_type::s8 : bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    memory::desc a_md({rows, k}, in_type, memory::format_tag::ab), w_md({k, n}, in_type, memory::format_tag::ba),
        c_md({rows, n}, int8 ? memory::data_type::s32 : memory::data_type::f32, memory::format_tag::ab);
    memory a(a_md, im.eng), c(c_md, im.eng);
    std::memset(a.get_data_handle(), 0, a_md.get_size());
    // Weights as stored, and pre-packed in the primitive's preferred layout.
    for (const memory::desc& wanted : {w_md, memory::desc({k, n}, in_type, memory::format_tag::any)}) {
      matmul::primitive_desc pd(matmul::desc(a_md, wanted, c_md), im.eng);
      memory w(pd.weights_desc(), im.eng);
      std::memset(w.get_data_handle(), 0, pd.weights_desc().get_size());
      matmul mm(pd);
      shape.candidates.push_back([&im, mm, a, w, c] {
        mm.execute(im.strm, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, c}});
        im.strm.wait();
      });
    }
    if (!bf16 && !int8) {  // and BLAS-style sgemm, whichever is faster
      im.host.emplace_back((size_t)(rows * k), 0.01f);
      const float* af = im.host.back().data();
      im.host.emplace_back((size_t)(n * k), 0.02f);
      const float* bf = im.host.back().data();
      im.host.emplace_back((size_t)(rows * n));
      float* cf = im.host.back().data();
      shape.candidates.push_back(
          [=] { dnnl_sgemm('N', 'T', rows, n, k, 1.0f, af, k, bf, k, 0.0f, cf, n); });
    }
    for (auto& run : shape.candidates) run();  // warm-up: JIT, page faults
    im.shapes.push_back(std::move(shape));
  }
}

GemmCeilingProbe::~GemmCeilingProbe() = default;

double GemmCeilingProbe::measure_gflops() {
  double flops = 0.0, seconds = 0.0;
  for (const Impl::Shape& shape : impl_->shapes) {
    double best = 1e30;
    for (const auto& run : shape.candidates) best = std::min(best, time_seconds(run));
    flops += shape.flops;
    seconds += best * shape.times;
  }
  return flops / seconds / 1e9;
}

namespace {

// Column `col` of the first `limit` CSV/TSV records with a non-empty value (header skipped when asked).
std::vector<std::string> csv_column(const std::string& path, size_t col, size_t limit, bool header, char sep,
                                    size_t col2 = (size_t)-1) {
  std::vector<std::string> out;
  if (!file_exists(path)) return out;
  std::istringstream in(read_maybe_gzip_file(path));
  if (sep == '\t') {
    std::string line;
    if (header) std::getline(in, line);
    while (out.size() < limit && std::getline(in, line)) {
      std::vector<std::string> f;
      std::stringstream ls(line);
      std::string x;
      while (std::getline(ls, x, '\t')) f.push_back(x);
      if (f.size() > col && !f[col].empty()) out.push_back(f[col]);
    }
    return out;
  }
  CsvParser parser(in);
  std::vector<std::string> fields;
  int64_t line = 0;
  std::string error;
  if (header) parser.next(fields, line, error);
  while (out.size() < limit && parser.next(fields, line, error)) {
    if (!error.empty() || fields.size() <= col) continue;
    std::string text = fields[col];
    if (col2 < fields.size() && !fields[col2].empty()) text += (text.empty() ? "" : " ") + fields[col2];
    if (!text.empty()) out.push_back(text);
  }
  return out;
}

}  // namespace

std::vector<ClinicalSource> clinical_texts(const std::string& data_dir) {
  std::vector<ClinicalSource> sources = {
      {"IU X-ray reports (findings + impression)",
       csv_column(join_path(data_dir, "radiology_reports/iu_xray_indiana_reports.csv.gz"), 6, 48, true, ',', 7)},
      {"ROCO radiology captions", csv_column(join_path(data_dir, "roco/roco_val_test_captions_cuis.tsv.gz"), 4, 48, true, '\t')},
      {"MTSamples transcriptions", csv_column(join_path(data_dir, "mtsamples/mtsamples_first400_timarbende.csv.gz"), 4, 8, false, ',')},
  };
  for (ClinicalSource& src : sources)  // the tokenizer takes valid UTF-8 only
    std::erase_if(src.texts, [](const std::string& t) { return find_invalid_utf8(t) != std::string::npos; });
  return sources;
}

Batch clinical_batch(const std::string& tokenizer_dir, const std::string& data_dir, int64_t max_length,
                     std::string* description) {
  auto tok = Tokenizer::from_dir(tokenizer_dir);
  Batch batch;
  EncodeOptions eo;
  eo.max_length = max_length;
  std::string desc;
  for (const ClinicalSource& src : clinical_texts(data_dir)) {
    int64_t tokens = 0, longest = 0;
    for (const std::string& text : src.texts) {
      Encoding e = tok->encode(text, eo);
      batch.add(e.ids);
      tokens += (int64_t)e.ids.size();
      longest = std::max<int64_t>(longest, (int64_t)e.ids.size());
    }
    if (!src.texts.empty())
      desc += fmt::format("{}{} x {} ({} tokens, longest {})", desc.empty() ? "" : "; ", src.texts.size(), src.name,
                          tokens, longest);
  }
  if (description) *description = desc;
  return batch;
}

}  // namespace medenc::bench
