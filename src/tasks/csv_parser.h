#pragma once
// Internal readers under the batch jobs' and the trainer's input formats (not part of the public API:
// callers go through make_document_reader in medenc/text_input.h).
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace medenc {

// Byte offset of the first invalid UTF-8 sequence, or npos when `s` is valid.
size_t find_invalid_utf8(std::string_view s);

// Splits CSV text into records (RFC 4180: comma separators, double-quoted fields that may hold
// commas, newlines and "" for a quote; CRLF or LF line ends). Reads one record per call.
class CsvParser {
 public:
  // at_stream_start: `in` is at the start of its input, whose byte-order mark is dropped (false for
  // a parser resumed mid-file).
  explicit CsvParser(std::istream& in, bool at_stream_start = true) : in_(in), at_start_(at_stream_start) {}
  // Fills `fields` with the next record; false at end of input. Blank lines are not records and
  // are skipped. `start_line` gets the 1-based line where the record starts. A quote left open at
  // end of input makes `error` non-empty. Like Python's csv module, a quote inside an unquoted
  // field, or text after a closing quote, is kept as text.
  bool next(std::vector<std::string>& fields, int64_t& start_line, std::string& error);
  int64_t bytes_read() const { return bytes_; }

 private:
  std::istream& in_;
  bool at_start_;
  int64_t bytes_ = 0;
  int64_t lines_ = 0;  // physical lines consumed
};

}  // namespace medenc
