#pragma once
// Data options shared by `medenc train` and `medenc eval`: formats, field names, label map, score range.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "medenc/datasets.h"

namespace medenc::cli {

struct DataCliOptions {
  std::string format = "auto";
  std::string text_field = "text", pair_field, label_field, entities_field = "entities";
  std::string label_separator = ";";
  std::string label_map_file;
  std::optional<double> score_min, score_max;
};

// --data-format, --text-field, --pair-field, --label-field, --entities-field, --label-separator,
// --label-map, --score-min, --score-max.
void add_data_options(CLI::App& app, DataCliOptions& o);

// The library options; reads the label map (a JSON object {"from": "to"} or lines "from<TAB>to").
DataOptions resolve_data_options(const DataCliOptions& o);

}  // namespace medenc::cli
