#pragma once
// Server log lines on stderr: "medenc serve: key=value ..." or, with --json-logs, one JSON object a
// line. Request logs carry ids, sizes and timings, never input text (clinical text is PHI).
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace medenc::serve {

class Log {
 public:
  explicit Log(bool json) : json_(json) {}
  // `fields`: ordered (key, value) pairs; values that are numbers are passed as JSON numbers.
  void write(const std::string& level, const std::string& message, const nlohmann::ordered_json& fields = {});

 private:
  bool json_;
  std::mutex mu_;
};

}  // namespace medenc::serve
