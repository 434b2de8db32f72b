#include "serve/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

namespace medenc::serve {

void Log::write(const std::string& level, const std::string& message, const nlohmann::ordered_json& fields) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int millis = (int)(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const std::string stamp = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900,
                                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  std::string line;
  if (json_) {
    nlohmann::ordered_json j;
    j["timestamp"] = stamp;
    j["level"] = level;
    j["message"] = message;
    if (fields.is_object())
      for (const auto& [k, v] : fields.items()) j[k] = v;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = fmt::format("{} {} medenc serve: {}", stamp, level, message);
    if (fields.is_object())
      for (const auto& [k, v] : fields.items())
        line += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace medenc::serve
