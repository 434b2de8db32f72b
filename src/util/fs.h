#pragma once
// Small filesystem helpers shared by the loaders and writers.
#include <string>

namespace medenc {

// Whole file as a string; throws medenc::Error naming the path.
std::string read_text_file(const std::string& path);
// Writes path.tmp then renames it over path, so a crash never leaves a half-written file.
void write_file_atomic(const std::string& path, const std::string& contents);
bool file_exists(const std::string& path);
// Whole file, gunzipped when it is gzip-compressed (by content, not by name).
std::string read_maybe_gzip_file(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace medenc
