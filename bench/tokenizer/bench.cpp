// medenc side of the tokenizer benchmark: encode throughput on a JSONL corpus, one thread and
// batched on all threads. Prints one JSON line per (tokenizer, mode); run.sh puts it next to
// Hugging Face's figures from bench.js.  bench TOKENIZER_DIR NAME CORPUS.jsonl [repeats]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <omp.h>

#include <nlohmann/json.hpp>

#include "medenc/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench TOKENIZER_DIR NAME CORPUS.jsonl [repeats]\n");
    return 2;
  }
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 3;
  auto tok = medenc::Tokenizer::from_dir(argv[1]);
  std::vector<std::string> docs;
  size_t bytes = 0;
  {
    std::ifstream in(argv[3]);
    std::string line;
    while (std::getline(in, line)) {
      docs.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
      bytes += docs.back().size();
    }
  }
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  // Token count and an id checksum, so both libraries can be seen to produce the same output.
  uint64_t tokens = 0, checksum = 0;
  for (const auto& d : docs)
    for (int32_t id : tok->encode(d).ids) {
      ++tokens;
      checksum = checksum * 1000003u + static_cast<uint64_t>(id);
    }
  double single = 1e30, batched = 1e30;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = now();
    size_t n = 0;
    for (const auto& d : docs) n += tok->encode(d).size();
    single = std::min(single, secs(t0, now()));
    if (n != tokens) return 1;
    t0 = now();
    auto all = tok->encode_batch(docs);
    batched = std::min(batched, secs(t0, now()));
  }
  const int threads = omp_get_max_threads();
  for (auto [mode, s, th] : {std::tuple{"single", single, 1}, std::tuple{"batched", batched, threads}})
    std::printf("{\"lib\":\"medenc\",\"tokenizer\":\"%s\",\"mode\":\"%s\",\"threads\":%d,\"docs\":%zu,\"mb\":%.3f,"
                "\"tokens\":%llu,\"checksum\":\"%016llx\",\"seconds\":%.4f,\"mb_per_s\":%.3f,\"ktokens_per_s\":%.1f}\n",
                argv[2], mode, th, docs.size(), bytes / 1e6, static_cast<unsigned long long>(tokens),
                static_cast<unsigned long long>(checksum), s, bytes / 1e6 / s, tokens / 1e3 / s);
  return 0;
}
