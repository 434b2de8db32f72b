// The streaming batch job: read ahead, tokenize, batch by token budget, run, write in order.
#include "medenc/pipeline.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include <fmt/format.h>

#include "medenc/error.h"

namespace medenc {

using nlohmann::ordered_json;

double json_float(float x) {
  if (!std::isfinite(x)) return (double)x;  // nlohmann writes null for these
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), x);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

namespace {

const char* head_description(HeadKind kind) {
  switch (kind) {
    case HeadKind::Base: return "a bare encoder (no task head)";
    case HeadKind::MaskedLM: return "a masked-LM head";
    case HeadKind::SequenceClassification: return "a sequence-classification head";
    case HeadKind::TokenClassification: return "a token-classification head";
  }
  return "an unknown head";
}

const char* command_for(HeadKind kind) {
  switch (kind) {
    case HeadKind::Base: return "embed";
    case HeadKind::MaskedLM: return "fill-mask";
    case HeadKind::SequenceClassification: return "classify";
    case HeadKind::TokenClassification: return "ner";
  }
  return "embed";
}

}  // namespace

void require_head(const ModelInfo& model, HeadKind needed, const std::string& command) {
  if (model.head.kind == needed) return;
  throw Error(fmt::format("{}: medenc {} needs a checkpoint with {}, but this one is {} ({}); use medenc {}{}",
                          model.dir, command, head_description(needed), model.head.architecture,
                          head_description(model.head.kind), command_for(model.head.kind),
                          model.head.kind == HeadKind::Base ? "" : " (or medenc embed)"));
}

namespace {

// Unicode White_Space.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

char32_t codepoint_at(std::string_view text, std::span<const size_t> cp, int64_t k) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data()) + cp[k];
  const size_t len = cp[k + 1] - cp[k];
  if (len == 1) return p[0];
  char32_t c = p[0] & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) c = (c << 6) | (p[i] & 0x3F);
  return c;
}

}  // namespace

std::pair<int64_t, int64_t> trim_whitespace(std::string_view text, std::span<const size_t> cp, int64_t start,
                                            int64_t end) {
  int64_t s = start, e = end;
  while (s < e && is_white_space(codepoint_at(text, cp, s))) ++s;
  while (e > s && is_white_space(codepoint_at(text, cp, e - 1))) --e;
  if (s == e) return {start, end};
  return {s, e};
}

ordered_json document_line(const Job& job, const Task& task) {
  ordered_json line = ordered_json::object();
  if (!job.doc.id.is_null()) line["id"] = job.doc.id;
  if (!job.error.empty()) {
    line["error"] = job.error;
    line["line"] = job.doc.line;
    return line;
  }
  task.finish(job, line);
  if (job.truncated) line["truncated"] = true;
  if (job.windows.size() > 1) line["windows"] = job.windows.size();
  return line;
}

namespace {

using Clock = std::chrono::steady_clock;

// "\r1,234 docs  56.7 docs/s  8,901 tokens/s  ETA 0:01:23" on stderr, at most twice a second.
class ProgressLine {
 public:
  ProgressLine(bool enabled, int64_t total_bytes) : enabled_(enabled), total_(total_bytes), start_(Clock::now()) {}
  void update(const PipelineStats& s, int64_t bytes, bool final = false) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    const double secs = std::max(1e-9, std::chrono::duration<double>(now - start_).count());
    std::string eta;
    if (total_ > 0 && bytes > 0 && !final) {
      const double left = secs * (double)std::max<int64_t>(0, total_ - bytes) / (double)bytes;
      const int64_t t = (int64_t)left;
      eta = fmt::format("  ETA {}:{:02d}:{:02d}", t / 3600, (t / 60) % 60, t % 60);
    }
    std::fprintf(stderr, "\r%lld docs  %.1f docs/s  %.0f tokens/s%s\033[K%s", (long long)s.documents,
                 (double)s.documents / secs, (double)s.tokens / secs, eta.c_str(), final ? "\n" : "");
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  int64_t total_;
  Clock::time_point start_, last_{};
};

// Runs every window of `jobs` through the model, longest first, in batches of at most
// `max_tokens` tokens (a longer window runs alone).
void run_windows(Encoder& model, const Task& task, std::vector<Job>& jobs, size_t count, int64_t max_tokens,
                 PipelineStats& stats) {
  std::vector<Window*> order;
  for (size_t j = 0; j < count; ++j)
    if (jobs[j].error.empty())
      for (Window& w : jobs[j].windows) order.push_back(&w);
  std::stable_sort(order.begin(), order.end(),
                   [](const Window* a, const Window* b) { return a->enc.ids.size() > b->enc.ids.size(); });
  const bool with_types = model.info().type_vocab_size > 0;
  size_t i = 0;
  while (i < order.size()) {
    Batch batch;
    size_t end = i;
    while (end < order.size() &&
           (end == i || batch.tokens() + (int64_t)order[end]->enc.ids.size() <= max_tokens)) {
      const Encoding& e = order[end]->enc;
      if (with_types && e.type_ids.size() == e.ids.size()) batch.add(e.ids, e.type_ids);
      else if (with_types) batch.add(e.ids, std::vector<int32_t>(e.ids.size(), 0));
      else batch.add(e.ids);
      ++end;
    }
    std::span<Window* const> windows(order.data() + i, end - i);
    const ForwardOutput out = model.forward(batch, task.forward_options(batch, windows));
    task.collect(out, batch, windows);
    stats.windows += batch.size();
    stats.tokens += batch.tokens();
    i = end;
  }
}

// Tokenizes the documents in parallel (tokenizers are safe to share between threads). A
// medenc::Error becomes the document's error line; anything else stops the job.
void prepare_jobs(const Task& task, std::vector<Job>& jobs, size_t count) {
  std::exception_ptr fatal;
#pragma omp parallel for schedule(dynamic, 4)
  for (size_t j = 0; j < count; ++j) {
    Job& job = jobs[j];
    if (!job.error.empty()) continue;
    try {
      task.prepare(job);
    } catch (const Error& e) {
      job.error = e.what();
      job.windows.clear();
    } catch (...) {
#pragma omp critical(medenc_prepare_fatal)
      if (!fatal) fatal = std::current_exception();
    }
  }
  if (fatal) std::rethrow_exception(fatal);
}

}  // namespace

PipelineStats run_pipeline(Encoder& model, const Task& task, DocumentReader& reader, std::ostream& out,
                           const PipelineOptions& o) {
  if (o.max_batch_tokens <= 0) throw Error("--max-batch-tokens must be positive");
  const size_t read_ahead = (size_t)std::max<int64_t>(1, o.read_ahead);
  PipelineStats stats;
  ProgressLine progress(o.progress, o.total_bytes);
  std::vector<Job> jobs(read_ahead);
  for (;;) {
    size_t count = 0;
    while (count < read_ahead) {
      Job& job = jobs[count];
      job.windows.clear();
      job.truncated = false;
      if (!reader.next(job.doc)) break;
      job.error = job.doc.error;
      ++count;
    }
    prepare_jobs(task, jobs, count);
    if (count == 0) break;
    // With fail_on_error, finish the documents before the first bad one, then stop.
    size_t usable = count;
    if (o.fail_on_error)
      for (size_t j = 0; j < count; ++j)
        if (!jobs[j].error.empty()) {
          usable = j;
          break;
        }
    run_windows(model, task, jobs, usable, o.max_batch_tokens, stats);
    for (size_t j = 0; j < usable; ++j) {
      out << document_line(jobs[j], task).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      ++stats.documents;
      if (!jobs[j].error.empty()) ++stats.error_lines;
    }
    out.flush();
    if (!out) throw Error(o.source + ": cannot write the output");
    progress.update(stats, reader.bytes_read());
    if (usable < count)
      throw Error(fmt::format("{}: line {}: {}", o.source, jobs[usable].doc.line, jobs[usable].error));
    if (count < read_ahead) break;
  }
  progress.update(stats, reader.bytes_read(), /*final=*/true);
  return stats;
}

}  // namespace medenc
