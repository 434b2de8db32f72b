#pragma once
// Documents for the batch jobs, read one at a time from JSON Lines, plain text (one document per
// line) or CSV with a header. A bad record never stops the reader: it comes back with `error` set,
// so the job can write an error line in its place and go on.
#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace medenc {

enum class InputFormat { Jsonl, Text, Csv };

// "jsonl" | "text" | "csv"; throws medenc::Error otherwise.
InputFormat parse_input_format(const std::string& name);

struct Document {
  int64_t line = 0;        // 1-based line of the input where the record starts
  nlohmann::json id;       // the record's "id" value (any JSON type), null when absent
  std::string text;        // valid UTF-8
  std::optional<std::string> text_pair;  // second segment, when the record has one
  std::string error;       // non-empty: the record is unusable and this says why
};

struct InputOptions {
  InputFormat format = InputFormat::Jsonl;
  std::string field = "text";            // JSONL key or CSV column holding the text
  std::string pair_field;                // JSONL key or CSV column of an optional second text ("": none)
  std::string id_field = "id";
};

class DocumentReader {
 public:
  virtual ~DocumentReader() = default;
  // Next record; false at end of input. I/O failures throw medenc::Error.
  virtual bool next(Document& doc) = 0;
  // Bytes consumed so far (for progress against a known total).
  virtual int64_t bytes_read() const = 0;
};

// `source` names the input in messages. The stream must outlive the reader. For CSV the header is
// read on the first call to next(); a header without `field` throws medenc::Error.
std::unique_ptr<DocumentReader> make_document_reader(std::istream& in, const InputOptions& options,
                                                     const std::string& source);

}  // namespace medenc
