#include "hub/http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include <fmt/format.h>

namespace medenc::hub {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  const HttpRequest* req;
  HttpResponse* resp;
  bool started_body = false;
  bool write_failed = false;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a 100 Continue or a proxy CONNECT)
    t->resp->headers.clear();
    const size_t sp = line.find(' ');
    t->resp->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = (char)std::tolower((unsigned char)c);
    size_t v = colon + 1;
    while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
    t->resp->headers[name] = line.substr(v);
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  const long st = t->resp->status;
  if (t->req->fd < 0 || (st != 200 && st != 206)) {
    if (t->resp->body.size() < (64u << 20)) t->resp->body.append(data, len);
    return len;
  }
  if (!t->started_body) {
    t->started_body = true;
    off_t at = (off_t)t->req->range_from;
    if (st == 200 && t->req->range_from > 0) {  // the server ignored Range: start over
      if (::ftruncate(t->req->fd, 0) != 0) return 0;
      at = 0;
      t->resp->restarted = true;
    }
    if (::lseek(t->req->fd, at, SEEK_SET) < 0) return 0;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t w = ::write(t->req->fd, data + done, len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      t->write_failed = true;
      return 0;
    }
    done += (size_t)w;
  }
  t->resp->written += len;
  if (t->req->on_bytes) t->req->on_bytes(t->resp->written);
  return len;
}

}  // namespace

HttpResponse http_perform(const HttpRequest& req) {
  global_init();
  HttpResponse resp;
  CURL* h = curl_easy_init();
  if (!h) {
    resp.curl_code = CURLE_FAILED_INIT;
    resp.curl_error = "curl_easy_init failed";
    return resp;
  }
  Transfer t{&req, &resp};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  for (auto& line : req.headers) headers = curl_slist_append(headers, line.c_str());
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 0L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_USERAGENT, user_agent().c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(req.connect_timeout * 1000));
  // A stall (under 1 byte/s for the timeout) ends the transfer; a slow but moving one goes on.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)std::max(1.0, req.stall_timeout));
  if (req.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  const std::string range = fmt::format("{}-", req.range_from);
  if (req.range_from > 0) curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
  if (const char* ca = std::getenv("CURL_CA_BUNDLE")) curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  else if (const char* ca2 = std::getenv("SSL_CERT_FILE")) curl_easy_setopt(h, CURLOPT_CAINFO, ca2);
  const CURLcode rc = curl_easy_perform(h);
  resp.curl_code = (int)rc;
  if (rc != CURLE_OK) resp.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  if (t.write_failed) resp.curl_error = std::string("writing the download failed: ") + std::strerror(errno);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (code) resp.status = code;
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  return resp;
}

std::string url_quote(const std::string& s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) out += (char)c;
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string resolve_url(const std::string& base, const std::string& location) {
  CURLU* u = curl_url();
  std::string out;
  if (curl_url_set(u, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, location.c_str(), 0) == CURLUE_OK) {
    char* s = nullptr;
    if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) out = s;
    curl_free(s);
  }
  curl_url_cleanup(u);
  return out;
}

std::string url_origin(const std::string& url) {
  CURLU* u = curl_url();
  std::string out;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char *scheme = nullptr, *host = nullptr, *port = nullptr;
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    out = fmt::format("{}://{}:{}", scheme ? scheme : "", host ? host : "", port ? port : "");
    for (char& c : out) c = (char)std::tolower((unsigned char)c);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return out;
}

std::string user_agent() {
  std::string ua = fmt::format("medenc/0.1.0; libcurl/{}", curl_version_info(CURLVERSION_NOW)->version);
  if (const char* origin = std::getenv("HF_HUB_USER_AGENT_ORIGIN"); origin && *origin) ua += fmt::format("; origin/{}", origin);
  return ua;
}

}  // namespace medenc::hub
