// Record readers for training data: JSON Lines, CSV, CoNLL/BIO, PubTator and plain text lines.
#include "trainer/records.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/ner.h"
#include "medenc/text_input.h"
#include "tasks/csv_parser.h"
#include "util/bom.h"

namespace medenc {

using nlohmann::json;

namespace {

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

std::vector<std::string> split_ws(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string col;
  while (in >> col) out.push_back(col);
  return out;
}

// A file read line by line with the byte offset and line number of the next line.
class LineFile {
 public:
  explicit LineFile(const std::string& path) : path_(path), in_(path, std::ios::binary) {}
  bool getline(std::string& line) {
    if (!std::getline(in_, line)) {
      if (in_.bad()) throw Error(path_ + ": read error");
      return false;
    }
    const bool first = pos_ == 0;
    pos_ += (int64_t)line.size() + 1;  // byte offsets count the byte-order mark
    if (first) strip_utf8_bom(line);
    ++line_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }
  void seek(int64_t offset, int64_t line) {
    in_.clear();
    in_.seekg(offset);
    if (!in_) throw Error(fmt::format("{}: cannot seek to byte {}", path_, offset));
    pos_ = offset;
    line_ = line - 1;
  }
  int64_t pos() const { return pos_; }
  int64_t line() const { return line_; }
  std::istream& stream() { return in_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  int64_t pos_ = 0;
  int64_t line_ = 0;
};

// Readers of line-based formats: the position is the line file's.
class LineRecords : public RecordReader {
 public:
  explicit LineRecords(const std::string& path) : f_(path) {}
  int64_t position() const override { return f_.pos(); }
  void seek(int64_t offset, int64_t line) override { f_.seek(offset, line); }

 protected:
  LineFile f_;
};

std::string read_entities(const json& list, std::vector<TextSpan>& out) {
  if (!list.is_array()) return "\"entities\" is not a list";
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    if (!e.is_object()) return fmt::format("entities[{}] is not an object", i);
    auto start = e.find("start"), end = e.find("end"), label = e.find("label");
    if (start == e.end() || end == e.end() || !start->is_number_integer() || !end->is_number_integer())
      return fmt::format("entities[{}] needs integer \"start\" and \"end\"", i);
    if (label == e.end() || !label->is_string()) return fmt::format("entities[{}] needs a string \"label\"", i);
    out.push_back({start->get<int64_t>(), end->get<int64_t>(), label->get<std::string>()});
  }
  return "";
}

class JsonlRecords : public LineRecords {
 public:
  JsonlRecords(const std::string& path, const DataOptions& o) : LineRecords(path), o_(o) {}
  bool next(Record& r) override {
    std::string line;
    do {
      if (!f_.getline(line)) return false;
    } while (is_blank(line));
    r = Record{};
    r.line = f_.line();
    if (const size_t bad = find_invalid_utf8(line); bad != std::string::npos) {
      r.error = fmt::format("invalid UTF-8 at byte {}", bad);
      r.error_reason = "invalid UTF-8";
      return true;
    }
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      r.error = "malformed JSON";
      return true;
    }
    if (!j.is_object()) {
      r.error = "not a JSON object";
      return true;
    }
    if (auto t = j.find(o_.text_field); t != j.end()) {
      if (!t->is_string()) {
        r.error = fmt::format("field \"{}\" is not a string", o_.text_field);
        return true;
      }
      r.text = t->get<std::string>();
      r.has_text = true;
    }
    if (!o_.pair_field.empty())
      if (auto p = j.find(o_.pair_field); p != j.end() && !p->is_null()) {
        if (!p->is_string()) {
          r.error = fmt::format("field \"{}\" is not a string", o_.pair_field);
          return true;
        }
        r.text_pair = p->get<std::string>();
      }
    if (!o_.label_field.empty()) {
      if (auto l = j.find(o_.label_field); l != j.end()) r.label = *l;
    } else {
      for (const char* key : {"label", "labels", "score"})
        if (auto l = j.find(key); l != j.end()) {
          r.label = *l;
          break;
        }
    }
    if (auto e = j.find(o_.entities_field); e != j.end()) {
      r.has_entities = true;
      r.error = read_entities(*e, r.entities);
    }
    return true;
  }

 private:
  DataOptions o_;
};

class CsvRecords : public RecordReader {
 public:
  CsvRecords(const std::string& path, const DataOptions& o) : f_(path) {
    parser_ = std::make_unique<CsvParser>(f_.stream());
    std::vector<std::string> header;
    int64_t line = 0;
    std::string error;
    if (!parser_->next(header, line, error) || !error.empty()) throw Error(path + ": no CSV header");
    auto column = [&](const std::string& name) -> int {
      for (size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return (int)i;
      return -1;
    };
    text_ = column(o.text_field);
    if (text_ < 0) throw Error(fmt::format("{}: the CSV header has no column \"{}\"", path, o.text_field));
    if (!o.pair_field.empty() && (pair_ = column(o.pair_field)) < 0)
      throw Error(fmt::format("{}: the CSV header has no column \"{}\"", path, o.pair_field));
    if (!o.label_field.empty()) {
      if ((label_ = column(o.label_field)) < 0)
        throw Error(fmt::format("{}: the CSV header has no column \"{}\"", path, o.label_field));
    } else {
      for (const char* key : {"label", "labels", "score"})
        if ((label_ = column(key)) >= 0) break;
    }
    columns_ = header.size();
    base_line_ = 1;  // the parser counts from the start of the file
  }
  bool next(Record& r) override {
    std::vector<std::string> fields;
    int64_t start = 0;
    std::string error;
    if (!parser_->next(fields, start, error)) return false;
    r = Record{};
    r.line = base_line_ - 1 + start;
    if (!error.empty()) {
      r.error = error;
      return true;
    }
    if (fields.size() != columns_) {
      r.error = fmt::format("{} fields, the header has {}", fields.size(), columns_);
      return true;
    }
    r.text = fields[(size_t)text_];
    r.has_text = true;
    if (pair_ >= 0 && !fields[(size_t)pair_].empty()) r.text_pair = fields[(size_t)pair_];
    if (label_ >= 0 && !fields[(size_t)label_].empty()) r.label = fields[(size_t)label_];
    return true;
  }
  int64_t position() const override { return base_ + parser_->bytes_read(); }
  void seek(int64_t offset, int64_t line) override {
    f_.seek(offset, line);
    parser_ = std::make_unique<CsvParser>(f_.stream(), offset == 0);
    base_ = offset;
    base_line_ = line;
  }

 private:
  LineFile f_;
  std::unique_ptr<CsvParser> parser_;
  int text_ = -1, pair_ = -1, label_ = -1;
  size_t columns_ = 0;
  int64_t base_ = 0, base_line_ = 1;
};

// CoNLL/BIO: one token per line (token first, tag last), a blank line between sentences,
// -DOCSTART- lines between documents. A sentence becomes its tokens joined by single spaces.
class ConllRecords : public LineRecords {
 public:
  explicit ConllRecords(const std::string& path) : LineRecords(path) {}
  bool next(Record& r) override {
    std::string line;
    r = Record{};
    bool any = false;
    std::string open_type;
    int64_t open_begin = -1;
    auto close = [&] {
      if (open_begin >= 0)
        r.entities.push_back({r.words[(size_t)open_begin].start, r.words.back().end, open_type});
      open_begin = -1;
    };
    while (f_.getline(line)) {
      if (line.rfind("-DOCSTART-", 0) == 0) {
        if (any) break;
        continue;
      }
      if (is_blank(line)) {
        if (any) break;
        continue;
      }
      if (!any) r.line = f_.line();
      any = true;
      if (!r.error.empty()) continue;  // read the rest of the sentence, keep the first error
      const std::vector<std::string> cols = split_ws(line);
      if (cols.size() < 2) {
        r.error = fmt::format("line {}: expected a token and a tag", f_.line());
        continue;
      }
      const std::string& token = cols.front();
      const std::string& tag = cols.back();
      const int64_t start = r.words.empty() ? 0 : r.words.back().end + 1;
      if (!r.text.empty()) r.text += ' ';
      r.text += token;
      const int64_t end = start + count_codepoints(token);
      if (tag == "O") {
        close();
      } else if (tag.size() > 2 && (tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-') {
        const std::string type = tag.substr(2);
        // An I- that does not continue an entity of its type starts one (as conlleval reads IOB1).
        if (tag[0] == 'B' || open_begin < 0 || open_type != type) {
          close();
          open_begin = (int64_t)r.words.size();
          open_type = type;
        }
      } else {
        r.error = fmt::format("line {}: tag '{}' is not O, B-type or I-type", f_.line(), tag);
        continue;
      }
      r.words.push_back({start, end, ""});
    }
    if (!any) return false;
    if (r.error.empty()) {
      // Entities still open end at the last word.
      if (open_begin >= 0) r.entities.push_back({r.words[(size_t)open_begin].start, r.words.back().end, open_type});
    }
    r.has_text = r.has_entities = true;
    return true;
  }
};

// PubTator: "PMID|t|title", "PMID|a|abstract", then "PMID<TAB>start<TAB>end<TAB>mention<TAB>type[<TAB>id]"
// lines; documents separated by blank lines. The text is title + " " + abstract (PubTator offsets).
class PubtatorRecords : public LineRecords {
 public:
  explicit PubtatorRecords(const std::string& path) : LineRecords(path) {}
  bool next(Record& r) override {
    std::string line;
    r = Record{};
    bool any = false;
    std::string title, abstract;
    while (f_.getline(line)) {
      if (is_blank(line)) {
        if (any) break;
        continue;
      }
      if (!any) r.line = f_.line();
      any = true;
      if (!r.error.empty()) continue;
      const size_t bar = line.find('|');
      const size_t tab = line.find('\t');
      if (bar != std::string::npos && (tab == std::string::npos || bar < tab) && line.size() > bar + 2 &&
          line[bar + 2] == '|') {
        const char kind = line[bar + 1];
        if (kind == 't') title = line.substr(bar + 3);
        else if (kind == 'a') abstract = line.substr(bar + 3);
        else r.error = fmt::format("line {}: unknown section '|{}|'", f_.line(), kind);
        continue;
      }
      std::vector<std::string> cols;
      std::istringstream in(line);
      std::string col;
      while (std::getline(in, col, '\t')) cols.push_back(col);
      if (cols.size() < 5) {
        r.error = fmt::format("line {}: expected PMID, start, end, mention and type separated by tabs", f_.line());
        continue;
      }
      try {
        size_t used1 = 0, used2 = 0;
        const int64_t start = std::stoll(cols[1], &used1), end = std::stoll(cols[2], &used2);
        if (used1 != cols[1].size() || used2 != cols[2].size()) throw std::invalid_argument("offset");
        std::string type = cols[4];
        r.entities.push_back({start, end, type});
        r.mention_texts.push_back(cols[3]);
      } catch (const std::exception&) {
        r.error = fmt::format("line {}: start and end must be integers", f_.line());
      }
    }
    if (!any) return false;
    r.text = abstract.empty() ? title : title + " " + abstract;
    r.has_text = r.has_entities = true;
    return true;
  }
};

class TextRecords : public LineRecords {
 public:
  explicit TextRecords(const std::string& path) : LineRecords(path) {}
  bool next(Record& r) override {
    std::string line;
    do {
      if (!f_.getline(line)) return false;
    } while (is_blank(line));
    r = Record{};
    r.line = f_.line();
    r.text = std::move(line);
    r.has_text = true;
    return true;
  }
};

}  // namespace

std::unique_ptr<RecordReader> open_record_reader(const std::string& path, DataFormat format,
                                                 const DataOptions& options) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error(path + ": cannot open");
    unsigned char magic[2] = {0, 0};
    probe.read(reinterpret_cast<char*>(magic), 2);
    if (probe.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
      throw Error(path + ": gzip-compressed; decompress it first (records are read again by byte offset)");
  }
  switch (format) {
    case DataFormat::Jsonl: return std::make_unique<JsonlRecords>(path, options);
    case DataFormat::Csv: return std::make_unique<CsvRecords>(path, options);
    case DataFormat::Conll: return std::make_unique<ConllRecords>(path);
    case DataFormat::Pubtator: return std::make_unique<PubtatorRecords>(path);
    case DataFormat::Text: return std::make_unique<TextRecords>(path);
    case DataFormat::Auto: break;
  }
  throw Error("internal: unresolved data format");
}

}  // namespace medenc
