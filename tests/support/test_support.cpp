#include "test_support.h"

#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <unistd.h>

namespace medenc::test {

std::string data_path(const std::string& relative) { return std::string(MEDENC_TEST_DATA) + "/" + relative; }

std::string fixture_dir(const std::string& name) { return data_path("fixtures/" + name); }

namespace {

// The folders temp_dir() made, removed when the test process exits (some hold a 570 MB
// ModernBERT-base checkpoint; every ctest run used to leave gigabytes in /tmp). Set
// MEDENC_KEEP_TEST_DIRS=1 to keep them for a look.
struct TempDirs {
  std::mutex mu;
  std::vector<std::filesystem::path> dirs;
  ~TempDirs() {
    if (std::getenv("MEDENC_KEEP_TEST_DIRS")) return;
    std::error_code ec;
    for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
  }
};

TempDirs& temp_dirs() {
  static TempDirs dirs;
  return dirs;
}

}  // namespace

std::string temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("medenc_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + tag);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  TempDirs& registry = temp_dirs();
  std::lock_guard<std::mutex> lock(registry.mu);
  registry.dirs.push_back(dir);
  return dir.string();
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, const std::vector<bool>& mask) {
  if (a.size() != b.size()) throw std::runtime_error("max_abs_diff: size mismatch");
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!mask.empty() && !mask[i]) continue;
    double d = std::fabs((double)a[i] - (double)b[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

int run_cli(const std::string& args, std::string* out, std::string* err, const std::string& stdin_text) {
  const std::string dir = temp_dir("cli");
  const std::string in_path = dir + "/stdin", out_path = dir + "/stdout", err_path = dir + "/stderr";
  write_file(in_path, stdin_text);
  const std::string cmd = std::string(MEDENC_CLI_PATH) + " " + args + " < " + in_path + " > " + out_path + " 2> " + err_path;
  int status = std::system(cmd.c_str());
  if (out) *out = read_file(out_path);
  if (err) *err = read_file(err_path);
  std::filesystem::remove_all(dir);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace medenc::test
