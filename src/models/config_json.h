#pragma once
// The task head's part of config.json (architectures, id2label, problem_type), read and written.
#include <string>

#include <nlohmann/json.hpp>

#include "medenc/config.h"

namespace medenc {

// architectures[0], num_labels/id2label, problem_type; head kind from the architecture suffix.
HeadConfig parse_head(const nlohmann::json& j, const std::string& path, const std::string& family_prefix);
// Writes architectures/id2label/label2id/problem_type into j.
void write_head(nlohmann::json& j, const HeadConfig& head);

}  // namespace medenc
