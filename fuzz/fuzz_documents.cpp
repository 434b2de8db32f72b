// libFuzzer target: the task commands' document readers (JSON Lines, plain text, CSV). Byte 0 picks
// the format and the options (pair field, id field, text field); the rest is the input stream. Bad
// records must come back in place with an error, never a crash; every record's text is valid UTF-8,
// line numbers increase, and all the bytes are accounted for.
//   build-fuzz/fuzz/fuzz_documents -max_total_time=600 fuzz/corpus/fuzz_documents
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_common.h"
#include "medenc/error.h"
#include "medenc/text_input.h"
#include "tasks/csv_parser.h"

using medenc::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  medenc::InputOptions o;
  o.format = static_cast<medenc::InputFormat>(mode % 3);
  if (mode & 4) o.pair_field = "text_pair";
  if (mode & 8) o.id_field = "uid";
  if (mode & 16) o.field = "b";
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::istringstream in(input);
  try {
    auto reader = medenc::make_document_reader(in, o, "fuzz");
    medenc::Document d;
    int64_t last_line = 0;
    while (reader->next(d)) {
      check(d.line > last_line, "line numbers increase");
      last_line = d.line;
      check(medenc::find_invalid_utf8(d.text) == std::string_view::npos, "text is valid UTF-8");
      if (d.text_pair) check(medenc::find_invalid_utf8(*d.text_pair) == std::string_view::npos, "pair is valid UTF-8");
      if (!d.error.empty()) check(d.text.empty() && !d.text_pair, "a bad record carries no text");
      check(reader->bytes_read() <= (int64_t)input.size() + 1, "bytes read");
    }
  } catch (const medenc::Error&) {
    // A CSV without the header or the column asked for.
    check(o.format == medenc::InputFormat::Csv, "only CSV refuses a whole input");
  }
  return 0;
}
