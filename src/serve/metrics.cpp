// Metrics registry and its Prometheus text rendering.
#include "serve/metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace medenc::serve {

Metrics::Metrics(int64_t max_input_length) : max_input_length_(max_input_length) {}

// TEI's buckets: *_duration: 0.00001 * 1.5^k s, k = 1..35; te_request_input_length: powers of two up
// to the input length; te_batch_next_size: 2^0..2^12; te_batch_next_tokens: 2^0..2^20.
std::vector<double> Metrics::bounds_for(const std::string& name) const {
  std::vector<double> b;
  if (name.size() >= 8 && name.compare(name.size() - 8, 8, "duration") == 0) {
    for (int k = 1; k <= 35; ++k) b.push_back(0.00001 * std::pow(1.5, k));
  } else if (name == "te_request_input_length") {
    for (double v = 1; v <= (double)std::max<int64_t>(1, max_input_length_); v *= 2) b.push_back(v);
  } else if (name == "te_batch_next_size") {
    for (int k = 0; k <= 12; ++k) b.push_back(std::ldexp(1.0, k));
  } else {
    for (int k = 0; k <= 20; ++k) b.push_back(std::ldexp(1.0, k));
  }
  return b;
}

void Metrics::add(const std::string& name, const std::string& labels, double by) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_[name][labels] += by;
}

void Metrics::set(const std::string& name, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_[name] = value;
}

void Metrics::observe(const std::string& name, double value) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = histograms_.find(name);
  if (it == histograms_.end()) {
    Histogram h;
    h.bounds = bounds_for(name);
    h.counts.assign(h.bounds.size(), 0);
    it = histograms_.emplace(name, std::move(h)).first;
  }
  Histogram& h = it->second;
  const size_t k = std::lower_bound(h.bounds.begin(), h.bounds.end(), value) - h.bounds.begin();
  if (k < h.counts.size()) ++h.counts[k];
  ++h.count;
  h.sum += value;
}

double Metrics::counter(const std::string& name, const std::string& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counters_.find(name);
  if (it == counters_.end()) return 0;
  auto jt = it->second.find(labels);
  return jt == it->second.end() ? 0 : jt->second;
}

namespace {
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", (int64_t)v);
  return fmt::format("{}", v);
}
}  // namespace

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, series] : counters_) {
    out += fmt::format("# TYPE {} counter\n", name);
    for (const auto& [labels, v] : series)
      out += labels.empty() ? fmt::format("{} {}\n", name, number(v)) : fmt::format("{}{{{}}} {}\n", name, labels, number(v));
  }
  for (const auto& [name, v] : gauges_) out += fmt::format("# TYPE {} gauge\n{} {}\n", name, name, number(v));
  for (const auto& [name, h] : histograms_) {
    out += fmt::format("# TYPE {} histogram\n", name);
    uint64_t cumulative = 0;
    for (size_t k = 0; k < h.bounds.size(); ++k) {
      cumulative += h.counts[k];
      out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, number(h.bounds[k]), cumulative);
    }
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name, number(h.sum), name,
                       h.count);
  }
  return out;
}

}  // namespace medenc::serve
