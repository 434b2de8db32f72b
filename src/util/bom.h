#pragma once
// The UTF-8 byte-order mark (EF BB BF) that Excel's "CSV UTF-8", Notepad and PowerShell write at the
// start of a file. Every reader drops it from the first line of its input (as Python's "utf-8-sig"
// does), so a CSV header keeps its first column's name.
#include <string>
#include <string_view>

namespace medenc {

inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Drops a leading byte-order mark; true if there was one.
inline bool strip_utf8_bom(std::string& first_line) {
  if (!std::string_view(first_line).starts_with(kUtf8Bom)) return false;
  first_line.erase(0, kUtf8Bom.size());
  return true;
}

}  // namespace medenc
