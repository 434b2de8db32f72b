// Document readers for the batch jobs: JSON Lines, plain text lines and CSV records.
#include "medenc/text_input.h"
#include "tasks/csv_parser.h"

#include <fmt/format.h>

#include "medenc/error.h"
#include "tokenizer/unicode.h"
#include "util/bom.h"

namespace medenc {

using nlohmann::json;

InputFormat parse_input_format(const std::string& name) {
  if (name == "jsonl") return InputFormat::Jsonl;
  if (name == "text") return InputFormat::Text;
  if (name == "csv") return InputFormat::Csv;
  throw Error(fmt::format("unknown input format '{}' (jsonl, text, csv)", name));
}

size_t find_invalid_utf8(std::string_view s) { return tok::invalid_utf8_at(s); }

namespace {

std::string utf8_error(std::string_view s) {
  const size_t bad = find_invalid_utf8(s);
  return bad == std::string_view::npos ? std::string() : fmt::format("invalid UTF-8 at byte {}", bad);
}

// getline that also drops a trailing '\r' (CRLF files) and the byte-order mark of the first line, and
// counts bytes.
bool read_line(std::istream& in, std::string& line, int64_t& bytes) {
  if (!std::getline(in, line)) {
    if (in.bad()) throw Error("read error");
    return false;
  }
  const bool first = bytes == 0;
  bytes += (int64_t)line.size() + 1;
  if (first) strip_utf8_bom(line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

class TextReader : public DocumentReader {
 public:
  explicit TextReader(std::istream& in) : in_(in) {}
  bool next(Document& doc) override {
    doc = Document{};
    if (!read_line(in_, doc.text, bytes_)) return false;
    doc.line = ++line_;
    doc.error = utf8_error(doc.text);
    if (!doc.error.empty()) doc.text.clear();
    return true;
  }
  int64_t bytes_read() const override { return bytes_; }

 private:
  std::istream& in_;
  int64_t line_ = 0, bytes_ = 0;
};

class JsonlReader : public DocumentReader {
 public:
  JsonlReader(std::istream& in, const InputOptions& o) : in_(in), o_(o) {}
  bool next(Document& doc) override {
    doc = Document{};
    if (!read_line(in_, line_text_, bytes_)) return false;
    doc.line = ++line_;
    doc.error = parse(doc);
    return true;
  }
  int64_t bytes_read() const override { return bytes_; }

 private:
  std::string parse(Document& doc) const {
    if (is_blank(line_text_)) return "empty line";
    // Checked first so that no invalid byte ever reaches an error message or the output.
    if (std::string e = utf8_error(line_text_); !e.empty()) return e;
    json j;
    try {
      j = json::parse(line_text_);
    } catch (const json::exception& e) {  // syntax, and numbers out of double's range (found by fuzz_documents)
      std::string what = e.what();
      if (const size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
      return "malformed JSON: " + what;
    }
    if (!j.is_object()) return "expected a JSON object";
    if (auto it = j.find(o_.id_field); it != j.end()) doc.id = *it;
    auto it = j.find(o_.field);
    if (it == j.end()) return fmt::format("missing field \"{}\"", o_.field);
    if (!it->is_string()) return fmt::format("field \"{}\" is not a string", o_.field);
    doc.text = it->get<std::string>();
    if (!o_.pair_field.empty()) {
      auto p = j.find(o_.pair_field);
      if (p != j.end() && !p->is_null()) {
        if (!p->is_string()) return fmt::format("field \"{}\" is not a string", o_.pair_field);
        doc.text_pair = p->get<std::string>();
      }
    }
    return "";
  }

  std::istream& in_;
  const InputOptions o_;
  std::string line_text_;
  int64_t line_ = 0, bytes_ = 0;
};

class CsvReader : public DocumentReader {
 public:
  CsvReader(std::istream& in, const InputOptions& o, const std::string& source) : parser_(in), o_(o), source_(source) {}
  bool next(Document& doc) override {
    doc = Document{};
    if (!header_read_) read_header();
    std::string error;
    if (!parser_.next(fields_, doc.line, error)) return false;
    if (!error.empty()) {
      doc.error = error;
    } else if (fields_.size() != header_size_) {
      doc.error = fmt::format("row has {} fields but the header has {}", fields_.size(), header_size_);
    } else if (std::string e = utf8_error(fields_[text_col_]); !e.empty()) {
      doc.error = e;
    } else {
      doc.text = std::move(fields_[text_col_]);
      if (pair_col_ >= 0) {
        if (std::string pe = utf8_error(fields_[pair_col_]); !pe.empty()) doc.error = pe;
        else doc.text_pair = std::move(fields_[pair_col_]);
      }
      if (id_col_ >= 0 && utf8_error(fields_[id_col_]).empty()) doc.id = fields_[id_col_];
    }
    if (!doc.error.empty()) doc.text.clear(), doc.text_pair.reset();
    return true;
  }
  int64_t bytes_read() const override { return parser_.bytes_read(); }

 private:
  void read_header() {
    header_read_ = true;
    std::vector<std::string> header;
    int64_t line = 0;
    std::string error;
    if (!parser_.next(header, line, error)) throw Error(source_ + ": empty CSV input (expected a header row)");
    if (!error.empty()) throw Error(fmt::format("{}: line {}: CSV header: {}", source_, line, error));
    header_size_ = header.size();
    auto column = [&](const std::string& name) -> int {
      for (size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return (int)i;
      return -1;
    };
    text_col_ = column(o_.field);
    if (text_col_ < 0) {
      std::string names;
      for (const auto& h : header) names += (names.empty() ? "" : ", ") + h;
      throw Error(fmt::format("{}: the CSV header has no column \"{}\" (columns: {}); choose one with --field",
                              source_, o_.field, names));
    }
    pair_col_ = o_.pair_field.empty() ? -1 : column(o_.pair_field);
    id_col_ = column(o_.id_field);
  }

  CsvParser parser_;
  const InputOptions o_;
  const std::string source_;
  bool header_read_ = false;
  size_t header_size_ = 0;
  int text_col_ = -1, pair_col_ = -1, id_col_ = -1;
  std::vector<std::string> fields_;
};

}  // namespace

bool CsvParser::next(std::vector<std::string>& fields, int64_t& start_line, std::string& error) {
  fields.clear();
  error.clear();
  std::string line;
  auto read_raw = [&]() {
    if (!std::getline(in_, line)) {
      if (in_.bad()) throw Error("read error");
      return false;
    }
    const bool first = bytes_ == 0 && at_start_;
    bytes_ += (int64_t)line.size() + 1;
    if (first) strip_utf8_bom(line);
    ++lines_;
    return true;
  };
  // Skip blank lines: they are not records.
  do {
    if (!read_raw()) return false;
  } while (line.empty() || line == "\r");
  start_line = lines_;
  std::string field;
  bool quoted = false;   // inside a quoted section
  bool started = false;  // the current field has begun (a quote only opens a section at its start)
  size_t i = 0;
  for (;;) {
    if (i == line.size()) {
      if (!quoted) {
        // The '\r' of a CRLF record end is not text (inside quotes it is kept, as Python's csv does).
        if (!line.empty() && line.back() == '\r' && !field.empty() && field.back() == '\r') field.pop_back();
        break;
      }
      field += '\n';  // a quoted field goes on over the line break
      if (!read_raw()) {
        error = fmt::format("a quoted field opened on line {} is never closed", start_line);
        break;
      }
      i = 0;
      continue;
    }
    const char c = line[i++];
    if (quoted) {
      if (c == '"') {
        if (i < line.size() && line[i] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
      started = false;
    } else if (c == '"' && !started) {
      quoted = started = true;
    } else {
      field += c;  // a quote inside an unquoted field is text, as in Python's csv
      started = true;
    }
  }
  fields.push_back(std::move(field));
  return true;
}

std::unique_ptr<DocumentReader> make_document_reader(std::istream& in, const InputOptions& options,
                                                     const std::string& source) {
  switch (options.format) {
    case InputFormat::Jsonl: return std::make_unique<JsonlReader>(in, options);
    case InputFormat::Text: return std::make_unique<TextReader>(in);
    case InputFormat::Csv: return std::make_unique<CsvReader>(in, options, source);
  }
  throw Error("unknown input format");
}

}  // namespace medenc
