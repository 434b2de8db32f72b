#pragma once
// medenc bench --end-to-end (bench_end_to_end.cpp): medenc classify on the bench's clinical texts
// against the bare forward pass of the same texts, in one run.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace medenc::cli {

struct EndToEndOptions {
  std::string model, tokenizer, texts_dir;
  std::vector<std::string> dtypes;
  int threads = 0;
  int reps = 5;
};

// The report ({"runs": [{dtype, forward/classify/tokenize seconds, tokens/s, ratio}, ...]}); prints
// one line per dtype to stderr when `verbose`.
nlohmann::json run_end_to_end(const EndToEndOptions& options, bool verbose);

}  // namespace medenc::cli
