#include "cli/data_options.h"

#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "util/bom.h"
#include "util/fs.h"

namespace medenc::cli {

void add_data_options(CLI::App& app, DataCliOptions& o) {
  app.add_option("--data-format", o.format,
                 "auto (from the extension; default), jsonl, csv, conll (token ... tag per line), pubtator, text")
      ->check(CLI::IsMember({"auto", "jsonl", "csv", "conll", "pubtator", "text"}));
  app.add_option("--text-field", o.text_field, "JSON key or CSV column of the text (default: text)");
  app.add_option("--pair-field", o.pair_field, "JSON key or CSV column of an optional second text");
  app.add_option("--label-field", o.label_field,
                 "JSON key or CSV column of the label(s) or score (default: the first of label, labels, score)");
  app.add_option("--entities-field", o.entities_field,
                 "NER: JSON key of the entity list [{\"start\", \"end\", \"label\"}] (default: entities)");
  app.add_option("--label-separator", o.label_separator,
                 "Multi-label labels given as one string are split at this (default: ';'; ' ' splits at white space)");
  app.add_option("--label-map", o.label_map_file,
                 "Rename labels / entity types: JSON {\"from\": \"to\"} or lines from<TAB>to; to \"\" or O drops")
      ->check(CLI::ExistingFile);
  app.add_option("--score-min", o.score_min, "Regression: scores below are bad rows");
  app.add_option("--score-max", o.score_max, "Regression: scores above are bad rows");
}

DataOptions resolve_data_options(const DataCliOptions& o) {
  DataOptions d;
  d.format = parse_data_format(o.format);
  d.text_field = o.text_field;
  d.pair_field = o.pair_field;
  d.label_field = o.label_field;
  d.entities_field = o.entities_field;
  d.label_separator = o.label_separator;
  d.score_min = o.score_min;
  d.score_max = o.score_max;
  if (!o.label_map_file.empty()) {
    std::string text = read_text_file(o.label_map_file);
    strip_utf8_bom(text);
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
      for (auto& [k, v] : j.items()) {
        if (!v.is_string()) throw Error(fmt::format("{}: the value of \"{}\" is not a string", o.label_map_file, k));
        d.label_map[k] = v.get<std::string>();
      }
    } else {
      std::istringstream in(text);
      std::string line;
      int64_t n = 0;
      while (std::getline(in, line)) {
        ++n;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        const size_t tab = line.find('\t');
        if (tab == std::string::npos)
          throw Error(fmt::format("{}:{}: expected 'from<TAB>to' (or a JSON object)", o.label_map_file, n));
        d.label_map[line.substr(0, tab)] = line.substr(tab + 1);
      }
    }
  }
  return d;
}

}  // namespace medenc::cli
