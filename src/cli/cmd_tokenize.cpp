// medenc tokenize: JSON Lines of texts (and optional text pairs) -> JSON Lines of token ids, tokens,
// character offsets and type ids, one output line per input line, in order.
//
// Input line:  {"text": "...", "text_pair": "..."}   (text_pair optional; blank lines are skipped)
// Output line: {"ids": [...], "tokens": [...], "offsets": [[start, end], ...], "type_ids": [...]}
//   Offsets are Unicode code point indices into the text (or text_pair) the token came from;
//   special tokens have [0, 0]. With --max-length the output also has "overflowing": the further
//   windows of the truncated text, each with the same four fields (and, for pairs, its own
//   "overflowing" when Hugging Face nests windows there).
// A line that cannot be used gives {"error": "...", "line": n} in its place; the exit code is then 3.
#include <omp.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "medenc/error.h"
#include "medenc/hub.h"
#include "medenc/tokenizer.h"
#include "util/bom.h"

namespace {

using ojson = nlohmann::ordered_json;

struct Options {
  std::string model;
  std::string input = "-";
  int64_t max_length = 0;
  int64_t stride = 0;
  std::string strategy = "longest_first";
  bool no_special_tokens = false;
  int threads = 0;
};

struct Record {
  int64_t line = 0;
  std::string raw;
  std::string output;
  bool failed = false;
};

ojson encoding_json(const medenc::Encoding& e, bool with_overflowing, bool top) {
  ojson j;
  j["ids"] = e.ids;
  j["tokens"] = e.tokens;
  ojson offsets = ojson::array();
  for (const auto& [s, t] : e.offsets) offsets.push_back({s, t});
  j["offsets"] = std::move(offsets);
  j["type_ids"] = e.type_ids;
  if (with_overflowing && (top || !e.overflowing.empty())) {
    ojson windows = ojson::array();
    for (const auto& o : e.overflowing) windows.push_back(encoding_json(o, true, false));
    j["overflowing"] = std::move(windows);
  }
  return j;
}

std::string error_line(const std::string& message, int64_t line) {
  ojson j;
  j["error"] = message;
  j["line"] = line;
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

void process(const medenc::Tokenizer& tok, const medenc::EncodeOptions& eo, bool overflow, Record& r) {
  ojson in;
  try {
    in = ojson::parse(r.raw);
  } catch (const ojson::exception& e) {  // syntax, and numbers out of range
    r.output = error_line(std::string("not valid JSON: ") + e.what(), r.line);
    r.failed = true;
    return;
  }
  if (!in.is_object() || !in.contains("text") || !in["text"].is_string()) {
    r.output = error_line("expected an object with a \"text\" string", r.line);
    r.failed = true;
    return;
  }
  const bool has_pair = in.contains("text_pair") && !in["text_pair"].is_null();
  if (has_pair && !in["text_pair"].is_string()) {
    r.output = error_line("\"text_pair\" must be a string", r.line);
    r.failed = true;
    return;
  }
  try {
    const std::string& text = in["text"].get_ref<const std::string&>();
    medenc::Encoding e = has_pair ? tok.encode_pair(text, in["text_pair"].get_ref<const std::string&>(), eo) : tok.encode(text, eo);
    r.output = encoding_json(e, overflow, true).dump(-1, ' ', false, ojson::error_handler_t::replace);
  } catch (const medenc::Error& e) {
    r.output = error_line(e.what(), r.line);
    r.failed = true;
  }
}

int run(const Options& o) {
  auto tok = medenc::Tokenizer::from_dir(medenc::resolve_model(o.model));
  medenc::EncodeOptions eo;
  eo.add_special_tokens = !o.no_special_tokens;
  eo.max_length = o.max_length;
  eo.stride = o.stride;
  eo.strategy = o.strategy == "only_first"    ? medenc::TruncationStrategy::OnlyFirst
                : o.strategy == "only_second" ? medenc::TruncationStrategy::OnlySecond
                                              : medenc::TruncationStrategy::LongestFirst;
  std::ifstream file;
  if (o.input != "-") {
    file.open(o.input, std::ios::binary);
    if (!file) throw medenc::Error(o.input + ": cannot open");
  }
  std::istream& in = o.input == "-" ? std::cin : file;
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  bool any_failed = false;
  std::vector<Record> batch;
  int64_t line_no = 0;
  std::string line;
  auto flush = [&] {
    const int n = static_cast<int>(batch.size());
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (int i = 0; i < n; ++i) process(*tok, eo, o.max_length > 0, batch[i]);
    for (const Record& r : batch) {
      std::fwrite(r.output.data(), 1, r.output.size(), stdout);
      std::fputc('\n', stdout);
      any_failed = any_failed || r.failed;
    }
    batch.clear();
  };
  while (std::getline(in, line)) {
    if (++line_no == 1) medenc::strip_utf8_bom(line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    batch.push_back(Record{line_no, std::move(line), {}, false});
    if (batch.size() >= 512) flush();
  }
  flush();
  std::fflush(stdout);
  return any_failed ? medenc::cli::kInputErrors : medenc::cli::kOk;
}

medenc::cli::Registrar reg("tokenize", "Tokenize JSON Lines ({\"text\", \"text_pair\"}) into ids, tokens, offsets and type ids",
                           [](CLI::App& app) {
                             auto o = std::make_shared<Options>();
                             app.add_option("--model", o->model, "Model or tokenizer folder (tokenizer.json, or vocab.txt)")
                                 ->required();
                             app.add_option("--max-length", o->max_length,
                                            "Truncate to this many tokens, special tokens included; the rest goes "
                                            "to \"overflowing\" windows")
                                 ->check(CLI::NonNegativeNumber);
                             app.add_option("--stride", o->stride, "Tokens shared by consecutive windows")
                                 ->check(CLI::NonNegativeNumber);
                             app.add_option("--strategy", o->strategy, "Pair truncation")
                                 ->check(CLI::IsMember({"longest_first", "only_first", "only_second"}));
                             app.add_flag("--no-special-tokens", o->no_special_tokens, "Do not add [CLS]/[SEP] and the like");
                             app.add_option("--threads", o->threads, "Threads (default: all cores)");
                             app.add_option("input", o->input, "JSON Lines file, or - for stdin (default)");
                             return [o] { return run(*o); };
                           });

}  // namespace
