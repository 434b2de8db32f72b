#pragma once
// Raw records of a training/evaluation file, one format per reader, before any task check. Every
// reader can be repositioned at a byte offset it reported, so records can be read again one by one.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medenc/datasets.h"

namespace medenc {

struct Record {
  int64_t line = 0;   // 1-based line where the record starts
  std::string error;  // non-empty: the record could not be parsed (what is wrong)
  std::string error_reason = "unparseable";  // its bad-row category
  std::string text;
  bool has_text = false;
  std::optional<std::string> text_pair;
  nlohmann::json label;        // null: no label field
  bool has_entities = false;   // NER annotation present (possibly empty)
  std::vector<TextSpan> entities;   // code points, as given (unchecked)
  std::vector<TextSpan> words;      // CoNLL words (code points)
  std::vector<std::string> mention_texts;  // PubTator: the mention text of each entity, to check
};

class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // The next record; false at end of file. I/O failures throw medenc::Error.
  virtual bool next(Record& record) = 0;
  // Byte offset where the next call to next() starts reading.
  virtual int64_t position() const = 0;
  // Continue reading at an offset returned by position(); `line` is that record's line.
  virtual void seek(int64_t offset, int64_t line) = 0;
};

// Opens `path` (format already resolved). A gzip file, a missing file or a CSV header without the
// text column throws medenc::Error naming the file.
std::unique_ptr<RecordReader> open_record_reader(const std::string& path, DataFormat format,
                                                 const DataOptions& options);

}  // namespace medenc
