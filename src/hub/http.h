#pragma once
// A thin libcurl wrapper for the Hub client: one easy handle per request, no automatic redirects
// (the caller follows them to decide where the token goes), headers of the final response only.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace medenc::hub {

struct HttpRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  double connect_timeout = 10, stall_timeout = 10;  // seconds
  // Body sink: with fd >= 0, a 200/206 body is written there from range_from (a 200 answer to a
  // ranged request restarts the file from byte 0); other bodies are kept in HttpResponse::body.
  int fd = -1;
  uint64_t range_from = 0;
  std::function<void(uint64_t)> on_bytes;  // bytes written to fd so far in this request
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  int curl_code = 0;  // CURLE_OK when the transfer completed
  std::string curl_error;
  uint64_t written = 0;     // body bytes written to fd
  bool restarted = false;   // a ranged request was answered in full (file truncated)
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

HttpResponse http_perform(const HttpRequest& request);

// Percent-encoding as Python's urllib.parse.quote: keep_slash keeps '/' (file paths), without it
// '/' is encoded too (revisions such as refs/pr/1).
std::string url_quote(const std::string& s, bool keep_slash);
// Location resolved against the URL it came from (absolute, scheme-relative, absolute-path or
// relative forms). Empty on failure.
std::string resolve_url(const std::string& base, const std::string& location);
// scheme://host:port with the default port made explicit, lowercased: the unit a token is bound to.
std::string url_origin(const std::string& url);
std::string user_agent();

}  // namespace medenc::hub
