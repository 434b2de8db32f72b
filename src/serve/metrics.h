#pragma once
// Prometheus text exposition of the server's counters, gauges and histograms, under TEI's te_*
// names and buckets so that dashboards built for TEI read medenc unchanged.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace medenc::serve {

class Metrics {
 public:
  explicit Metrics(int64_t max_input_length);

  // name{labels} += by. `labels` is the inside of the braces, e.g. method="batch" ("" for none).
  void add(const std::string& name, const std::string& labels = "", double by = 1);
  void set(const std::string& name, double value);
  // Observes a value in the histogram `name` (its buckets follow TEI: see the constructor).
  void observe(const std::string& name, double value);

  // The whole registry in Prometheus text format (version 0.0.4).
  std::string render() const;
  // One counter's value (tests, logs).
  double counter(const std::string& name, const std::string& labels = "") const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, double>> counters_;  // name -> labels -> value
  std::map<std::string, double> gauges_;
  std::map<std::string, Histogram> histograms_;
  std::map<std::string, std::string> help_;
  int64_t max_input_length_;
  std::vector<double> bounds_for(const std::string& name) const;
};

}  // namespace medenc::serve
