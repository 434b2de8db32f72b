// Indexed datasets: one scan checks every record and keeps the byte offsets of the good ones; examples
// are then read back one at a time, so memory does not grow with the file.
#include <filesystem>

#include <fmt/format.h>

#include "medenc/datasets.h"
#include "medenc/error.h"
#include "trainer/examples.h"
#include "trainer/records.h"

namespace medenc {

TaskKind parse_task(const std::string& name) {
  if (name == "regression") return TaskKind::Regression;
  if (name == "single-label") return TaskKind::SingleLabel;
  if (name == "multi-label") return TaskKind::MultiLabel;
  if (name == "ner") return TaskKind::Ner;
  if (name == "mlm") return TaskKind::Mlm;
  throw Error(fmt::format("unknown task '{}' (regression, single-label, multi-label, ner, mlm)", name));
}

const char* task_name(TaskKind task) {
  switch (task) {
    case TaskKind::Regression: return "regression";
    case TaskKind::SingleLabel: return "single-label";
    case TaskKind::MultiLabel: return "multi-label";
    case TaskKind::Ner: return "ner";
    case TaskKind::Mlm: return "mlm";
  }
  return "?";
}

DataFormat parse_data_format(const std::string& name) {
  if (name == "auto") return DataFormat::Auto;
  if (name == "jsonl") return DataFormat::Jsonl;
  if (name == "csv") return DataFormat::Csv;
  if (name == "conll") return DataFormat::Conll;
  if (name == "pubtator") return DataFormat::Pubtator;
  if (name == "text") return DataFormat::Text;
  throw Error(fmt::format("unknown data format '{}' (auto, jsonl, csv, conll, pubtator, text)", name));
}

const char* data_format_name(DataFormat format) {
  switch (format) {
    case DataFormat::Auto: return "auto";
    case DataFormat::Jsonl: return "jsonl";
    case DataFormat::Csv: return "csv";
    case DataFormat::Conll: return "conll";
    case DataFormat::Pubtator: return "pubtator";
    case DataFormat::Text: return "text";
  }
  return "?";
}

DataFormat resolve_data_format(DataFormat format, const std::string& path) {
  if (format != DataFormat::Auto) return format;
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".csv") return DataFormat::Csv;
  if (ext == ".conll" || ext == ".bio" || ext == ".iob" || ext == ".iob2") return DataFormat::Conll;
  if (ext == ".pubtator") return DataFormat::Pubtator;
  if (ext == ".txt") return DataFormat::Text;
  return DataFormat::Jsonl;
}

LabelSpace::LabelSpace(std::vector<std::string> labels) : names(std::move(labels)) {
  for (size_t i = 0; i < names.size(); ++i)
    if (!index.emplace(names[i], (int32_t)i).second) throw Error(fmt::format("label '{}' is listed twice", names[i]));
}

int32_t LabelSpace::find(const std::string& label) const {
  auto it = index.find(label);
  return it == index.end() ? -1 : it->second;
}

std::vector<std::string> bio_label_names(const std::vector<std::string>& types) {
  std::vector<std::string> out{"O"};
  for (const std::string& t : types) {
    out.push_back("B-" + t);
    out.push_back("I-" + t);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

int64_t DataReport::bad_rows() const {
  int64_t n = 0;
  for (auto& [reason, count] : bad) n += count;
  return n;
}

void DataReport::add_bad(const std::string& reason, int64_t line, const std::string& message) {
  ++bad[reason];
  if (first_errors.size() < 10) first_errors.push_back(fmt::format("{}:{}: {}", source, line, message));
}

std::string DataReport::summary() const {
  std::string s = fmt::format("{}: {} records, {} used", source, records, used);
  if (!bad.empty()) {
    s += fmt::format(", {} bad rows skipped (", bad_rows());
    bool first = true;
    for (auto& [reason, count] : bad) {
      s += fmt::format("{}{} {}", first ? "" : ", ", count, reason);
      first = false;
    }
    s += ")";
  }
  if (labels_dropped) s += fmt::format(", {} labels outside the label set dropped", labels_dropped);
  if (entities_dropped) s += fmt::format(", {} entities dropped (mapped to O or overlapping)", entities_dropped);
  if (truncated) s += fmt::format(", {} examples truncated", truncated);
  for (const std::string& e : first_errors) s += "\n  " + e;
  return s;
}

nlohmann::ordered_json DataReport::to_json() const {
  nlohmann::ordered_json j;
  j["source"] = source;
  j["records"] = records;
  j["used"] = used;
  j["bad_rows"] = bad_rows();
  j["bad_by_reason"] = nlohmann::ordered_json::object();
  for (auto& [reason, count] : bad) j["bad_by_reason"][reason] = count;
  j["first_errors"] = first_errors;
  j["labels_dropped"] = labels_dropped;
  j["entities_dropped"] = entities_dropped;
  j["truncated"] = truncated;
  return j;
}

// ---------------------------------------------------------------------------------------------
// Dataset

class Dataset::Reader {
 public:
  std::unique_ptr<RecordReader> records;
  const LabelSpace* fixed = nullptr;
  std::unique_ptr<LabelSpace> fixed_copy;
  std::string path;
};

Dataset::~Dataset() = default;

std::unique_ptr<Dataset> Dataset::scan(const std::string& path, TaskKind task, const DataOptions& options,
                                       const LabelSpace* labels) {
  std::unique_ptr<Dataset> d(new Dataset());
  d->task_ = task;
  d->options_ = options;
  d->options_.format = resolve_data_format(options.format, path);
  d->report_.source = path;
  std::error_code ec;
  d->file_size_ = (int64_t)std::filesystem::file_size(path, ec);
  d->reader_ = std::make_unique<Reader>();
  d->reader_->path = path;
  d->reader_->records = open_record_reader(path, d->options_.format, d->options_);
  if (labels) {
    d->reader_->fixed_copy = std::make_unique<LabelSpace>(*labels);
    d->reader_->fixed = d->reader_->fixed_copy.get();
  }
  RecordReader& rr = *d->reader_->records;
  Record r;
  Example ex;
  for (;;) {
    const int64_t offset = rr.position();
    if (!rr.next(r)) break;
    ++d->report_.records;
    const CheckResult c = check_record(r, task, d->options_, d->reader_->fixed, ex, &d->report_.labels_dropped,
                                       &d->report_.entities_dropped);
    if (!c.ok()) {
      d->report_.add_bad(c.reason, r.line, c.message);
      continue;
    }
    d->entries_.push_back({offset, r.line, (float)ex.score});
    if (task == TaskKind::SingleLabel || task == TaskKind::MultiLabel)
      for (const std::string& l : ex.labels) ++d->label_counts_[l];
    if (task == TaskKind::Ner)
      for (const TextSpan& e : ex.entities) ++d->label_counts_[e.label];
  }
  d->report_.used = (int64_t)d->entries_.size();
  return d;
}

Example Dataset::get(int64_t index) const {
  if (index < 0 || index >= size()) throw Error(fmt::format("internal: example {} out of range", index));
  const Entry& e = entries_[(size_t)index];
  RecordReader& rr = *reader_->records;
  rr.seek(e.offset, e.line);
  Record r;
  Example ex;
  int64_t dropped = 0;
  if (!rr.next(r)) throw Error(fmt::format("{}: record at line {} is gone (was the file changed?)", reader_->path, e.line));
  const CheckResult c = check_record(r, task_, options_, reader_->fixed, ex, &dropped, &dropped);
  if (!c.ok()) throw Error(fmt::format("{}:{}: the record changed since the file was scanned", reader_->path, e.line));
  ex.line = e.line;  // the reader counts lines from the seek position
  return ex;
}

}  // namespace medenc
