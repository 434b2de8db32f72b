#pragma once
// Shared helpers for the test suite: paths to bundled data, tensor comparisons, running the CLI.
#include <string>
#include <vector>

#include "medenc/safetensors.h"

namespace medenc::test {

// Path under tests/data (bundled with the repository).
std::string data_path(const std::string& relative);
std::string fixture_dir(const std::string& name);
// A fresh empty temporary directory for one test.
std::string temp_dir(const std::string& tag);

// Max |a - b| over the elements where mask is true (mask empty: all).
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, const std::vector<bool>& mask = {});

// Runs `medenc ARGS` and returns its exit status; stdout/stderr captured into the given strings.
int run_cli(const std::string& args, std::string* out = nullptr, std::string* err = nullptr,
            const std::string& stdin_text = "");

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

}  // namespace medenc::test
