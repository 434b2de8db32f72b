// `medenc download`: the Hub protocol as huggingface_hub speaks it, into the same cache layout.
// One API call pins the revision to a commit; every file is then addressed at that commit (a push
// during the download cannot mix versions). Per file: HEAD (relative redirects followed, the CDN
// redirect read for its metadata), a locked, resumable GET into blobs/<etag>.incomplete, hash check,
// rename to blobs/<etag>, relative symlink from snapshots/<commit>/<path>.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "hub/http.h"
#include "medenc/hub.h"
#include "util/fs.h"

namespace medenc {

namespace fs = std::filesystem;
using nlohmann::json;
using hub::HttpRequest;
using hub::HttpResponse;

// ---- hashes ----

namespace {

class Digest {
 public:
  explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, md, nullptr); }
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, out, &n);
    std::string s;
    for (unsigned i = 0; i < n; ++i) s += fmt::format("{:02x}", out[i]);
    return s;
  }

 private:
  EVP_MD_CTX* ctx_;
};

void digest_file(const std::string& path, Digest& d) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) d.update(buf.data(), n);
  std::fclose(f);
}

}  // namespace

std::string sha256_hex(const std::string& bytes) {
  Digest d(EVP_sha256());
  d.update(bytes.data(), bytes.size());
  return d.hex();
}

std::string git_blob_sha1_hex(const std::string& bytes) {
  Digest d(EVP_sha1());
  const std::string head = fmt::format("blob {}", bytes.size());
  d.update(head.data(), head.size() + 1);  // with the NUL
  d.update(bytes.data(), bytes.size());
  return d.hex();
}

std::string file_sha256_hex(const std::string& path) {
  Digest d(EVP_sha256());
  digest_file(path, d);
  return d.hex();
}

std::string file_git_sha1_hex(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw HubError(HubFailure::LocalIo, fmt::format("{}: {}", path, ec.message()));
  Digest d(EVP_sha1());
  const std::string head = fmt::format("blob {}", size);
  d.update(head.data(), head.size() + 1);
  digest_file(path, d);
  return d.hex();
}

// ---- the client ----

namespace {


std::string normalize_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return e;
}

bool retryable_status(long s) { return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504; }

// Mid-transfer and connection failures worth another try (the server or the path may recover).
bool retryable_curl(int code) { return code != 0 && code != 23 /* write error: local */; }

struct FileMeta {
  std::string commit, etag, location;
  uint64_t size = 0;
  bool location_same_origin = true;
};

class Client {
 public:
  Client(const RepoSpec& spec, const DownloadOptions& o)
      : spec_(spec), o_(o), endpoint_(o.endpoint.empty() ? hub_endpoint() : o.endpoint),
        token_(o.token ? o.token : hub_token()) {
    while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
    origin_ = hub::url_origin(endpoint_);
    if (origin_.empty() || origin_ == ":://:")
      throw HubError(HubFailure::Usage, fmt::format("endpoint '{}' is not a URL", endpoint_));
  }

  void event(DownloadEvent::Kind k, const std::string& path, uint64_t done = 0, uint64_t total = 0,
             const std::string& message = "") const {
    if (!o_.on_event) return;
    DownloadEvent e;
    e.kind = k;
    e.path = path;
    e.done = done;
    e.total = total;
    e.message = message;
    o_.on_event(e);
  }

  HttpRequest request(const std::string& method, const std::string& url) const {
    HttpRequest r;
    r.method = method;
    r.url = url;
    r.connect_timeout = o_.timeout_seconds;
    r.stall_timeout = o_.timeout_seconds;
    // The token is bound to the Hub's origin (scheme, host and port): never sent to a CDN.
    if (token_ && hub::url_origin(url) == origin_) r.headers.push_back("Authorization: Bearer " + *token_);
    r.headers.push_back("Accept-Encoding: identity");
    return r;
  }

  void backoff(int attempt, const HttpResponse& r, const std::string& what) const {
    double wait = o_.retry_base_seconds * std::min(8.0, std::pow(2.0, attempt));
    const std::string retry_after = r.header("retry-after");
    if (r.status == 429 && !retry_after.empty() && std::isdigit((unsigned char)retry_after[0]))
      wait = std::min(60.0, std::atof(retry_after.c_str()));
    event(DownloadEvent::Retry, what, attempt + 1, o_.max_retries, describe(r));
    std::this_thread::sleep_for(std::chrono::milliseconds((long)(wait * 1000)));
  }

  static std::string describe(const HttpResponse& r) {
    if (r.curl_code) return r.curl_error;
    return fmt::format("HTTP {}", r.status);
  }

  // One request with retries on 5xx/408/429 and connection failures.
  HttpResponse with_retries(const HttpRequest& req, const std::string& what) const {
    for (int attempt = 0;; ++attempt) {
      HttpResponse r = hub::http_perform(req);
      const bool transient = r.curl_code ? retryable_curl(r.curl_code) : retryable_status(r.status);
      if (!transient) return r;
      if (attempt >= o_.max_retries) {
        if (r.curl_code) return r;
        throw HubError(HubFailure::Network, fmt::format("{}: {} after {} tries: {}", what, describe(r), attempt + 1,
                                                        server_message(r)));
      }
      backoff(attempt, r, what);
    }
  }

  static std::string server_message(const HttpResponse& r) {
    std::string m = r.header("x-error-message");
    if (m.empty()) {
      try {
        json j = json::parse(r.body);
        if (j.is_object() && j.contains("error") && j["error"].is_string()) m = j["error"].get<std::string>();
      } catch (...) {
      }
    }
    const std::string id = r.header("x-request-id");
    if (!id.empty()) m += (m.empty() ? "" : " ") + fmt::format("(request id {})", id);
    return m;
  }

  [[noreturn]] void fail_connection(const HttpResponse& r, const std::string& url) const {
    throw HubError(HubFailure::Network,
                   fmt::format("cannot reach {}: {} (check the connection, HF_ENDPOINT and proxies)", url, r.curl_error));
  }

  // Maps an error answer onto a failure class with a message a user can act on.
  [[noreturn]] void fail_status(const HttpResponse& r, const std::string& what) const {
    const std::string code = r.header("x-error-code");
    const std::string msg = server_message(r);
    const std::string page = fmt::format("{}/{}", endpoint_, spec_.repo_id);
    if (code == "GatedRepo")
      throw HubError(HubFailure::Auth,
                     fmt::format("{} is gated: accept its terms at {} with your account, then set HF_TOKEN (or "
                                 "--token) to a token of that account{} [{}: HTTP {}{}]",
                                 spec_.repo_id, page, token_ ? "; the token given has no access yet" : "", what,
                                 r.status, msg.empty() ? "" : ": " + msg));
    if (r.status == 401 && msg.find("Invalid credentials") != std::string::npos)
      throw HubError(HubFailure::Auth, fmt::format("the Hub rejected the token (HF_TOKEN, the token file or --token): "
                                                   "{} [{}]", msg, what));
    if (r.status == 401 || r.status == 403)
      throw HubError(HubFailure::Auth,
                     fmt::format("{}: HTTP {}{}: repository {} not found or not accessible{} [{}]", what, r.status,
                                 code.empty() ? "" : " " + code, spec_.repo_id,
                                 token_ ? " with the token given" : " (if it is private or gated, set HF_TOKEN)",
                                 msg));
    if (r.status == 404) {
      if (code == "RevisionNotFound")
        throw HubError(HubFailure::NotFound, fmt::format("revision '{}' of {} not found [{}]", spec_.revision,
                                                         spec_.repo_id, msg));
      if (code == "EntryNotFound")
        throw HubError(HubFailure::NotFound, fmt::format("{}: file not found in {} [{}]", what, spec_.repo_id, msg));
      throw HubError(HubFailure::NotFound, fmt::format("repository {} not found{} [{}: {}]", spec_.repo_id,
                                                       code.empty() ? "" : " (" + code + ")", what, msg));
    }
    throw HubError(HubFailure::Network, fmt::format("{}: unexpected HTTP {} {}", what, r.status, msg));
  }

  std::string file_url(const std::string& commit, const std::string& path) const {
    return fmt::format("{}/{}/resolve/{}/{}", endpoint_, spec_.repo_id, hub::url_quote(commit, false),
                       hub::url_quote(path, true));
  }

  json get_json(const std::string& url, const std::string& what) const {
    HttpResponse r = with_retries(request("GET", url), what);
    if (r.curl_code) fail_connection(r, url);
    if (r.status != 200) fail_status(r, what);
    try {
      return json::parse(r.body);
    } catch (const json::exception& e) {
      throw HubError(HubFailure::Network, fmt::format("{}: the answer is not JSON: {}", url, e.what()));
    }
  }

  // HEAD of a file at the commit. Relative redirects (renamed repos, /api/resolve-cache/) are
  // followed; a redirect that carries X-Repo-Commit (the CDN one) is read, not followed.
  // Returns false for a file the Hub says is absent (EntryNotFound), recording it in .no_exist.
  bool head(const std::string& commit, const std::string& path, FileMeta* out) const {
    std::string url = file_url(commit, path);
    for (int hop = 0; hop < 10; ++hop) {
      HttpResponse r = with_retries(request("HEAD", url), path);
      if (r.curl_code) fail_connection(r, url);
      if (r.status == 404 && r.header("x-error-code") == "EntryNotFound") return false;
      if (r.status >= 400) fail_status(r, path);
      const bool redirect = r.status >= 300 && r.status < 400;
      const std::string location = r.header("location");
      if (redirect && location.empty()) throw HubError(HubFailure::Network, fmt::format("{}: redirect without Location", url));
      if (redirect && r.header("x-repo-commit").empty()) {  // not the metadata answer yet: follow
        url = hub::resolve_url(url, location);
        if (url.empty()) throw HubError(HubFailure::Network, fmt::format("{}: bad redirect '{}'", path, location));
        continue;
      }
      out->commit = r.header("x-repo-commit");
      if (out->commit.empty())
        throw HubError(HubFailure::Network, fmt::format("{}: the answer has no X-Repo-Commit: {} is not a Hugging Face "
                                                        "Hub endpoint", url, endpoint_));
      std::string etag = r.header("x-linked-etag");
      if (etag.empty()) etag = r.header("etag");
      out->etag = normalize_etag(etag);
      if (out->etag.empty() || !is_safe_relative_path(out->etag) || out->etag.find('/') != std::string::npos)
        throw HubError(HubFailure::Network, fmt::format("{}: missing or unusable ETag '{}'", url, etag));
      std::string size = r.header("x-linked-size");
      if (size.empty() && !redirect) size = r.header("content-length");  // a redirect's length is its own body
      if (size.empty() || !std::isdigit((unsigned char)size[0]))
        throw HubError(HubFailure::Network, fmt::format("{}: the answer gives no file size", url));
      out->size = std::stoull(size);
      out->location = redirect ? hub::resolve_url(url, location) : url;
      out->location_same_origin = hub::url_origin(out->location) == origin_;
      return true;
    }
    throw HubError(HubFailure::Network, fmt::format("{}: more than 10 redirects", path));
  }

  const RepoSpec& spec_;
  const DownloadOptions& o_;
  std::string endpoint_, origin_;
  std::optional<std::string> token_;
};

// ---- cache writes ----

void make_dirs(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot create: {}", p.string(), ec.message()));
}

std::string random_suffix() {
  static std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:08x}", (uint32_t)rng());
}

void write_atomic_if_changed(const fs::path& p, const std::string& content) {
  std::error_code ec;
  if (fs::exists(p, ec)) {
    try {
      if (read_text_file(p.string()) == content) return;  // a read-only cache keeps working
    } catch (...) {
    }
  }
  make_dirs(p.parent_path());
  const fs::path tmp = p.string() + "." + random_suffix() + ".tmp";
  {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f || std::fwrite(content.data(), 1, content.size(), f) != content.size()) {
      if (f) std::fclose(f);
      throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot write: {}", tmp.string(), std::strerror(errno)));
    }
    std::fclose(f);
  }
  fs::rename(tmp, p, ec);
  if (ec) throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot rename: {}", p.string(), ec.message()));
}

void write_cachedir_tag(const fs::path& root) {
  const fs::path tag = root / "CACHEDIR.TAG";
  std::error_code ec;
  if (fs::exists(tag, ec)) return;
  FILE* f = std::fopen(tag.c_str(), "wb");
  if (!f) return;  // best effort
  static const char kTag[] =
      "Signature: 8a477f597d28d172789f06886806bc55\n"
      "# This file is a cache directory tag created by huggingface_hub.\n"
      "# For information about cache directory tags, see:\n"
      "#\thttps://bford.info/cachedir/\n";
  std::fwrite(kTag, 1, sizeof(kTag) - 1, f);
  std::fclose(f);
}

bool symlinks_disabled() {
  const char* v = std::getenv("HF_HUB_DISABLE_SYMLINKS");
  if (!v) return false;
  std::string u;
  for (const char* c = v; *c; ++c) u += (char)std::toupper((unsigned char)*c);
  return u == "1" || u == "ON" || u == "YES" || u == "TRUE";
}

// snapshots/<commit>/<path> -> ../../blobs/<etag> (one more ../ per sub-folder), made atomically.
void link_pointer(const fs::path& pointer, const fs::path& blob, const std::string& rel_path, const std::string& etag) {
  make_dirs(pointer.parent_path());
  std::string target;
  for (size_t i = 0, depth = (size_t)std::count(rel_path.begin(), rel_path.end(), '/'); i < depth + 2; ++i) target += "../";
  target += "blobs/" + etag;
  const fs::path tmp = pointer.string() + "." + random_suffix() + ".tmp";
  std::error_code ec;
  bool linked = false;
  if (!symlinks_disabled()) {
    if (::symlink(target.c_str(), tmp.c_str()) == 0) linked = true;
    else if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS)
      throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot create symlink: {}", tmp.string(), std::strerror(errno)));
  }
  if (!linked) {  // no symlinks here (or HF_HUB_DISABLE_SYMLINKS): a copy, as huggingface_hub does
    fs::copy_file(blob, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot copy: {}", tmp.string(), ec.message()));
  }
  fs::rename(tmp, pointer, ec);
  if (ec) throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot create: {}", pointer.string(), ec.message()));
}

class FileLock {
 public:
  FileLock(const fs::path& path, double timeout, const Client& client, const std::string& file) {
    make_dirs(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664);
    if (fd_ < 0) throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
    const auto start = std::chrono::steady_clock::now();
    auto last_note = start - std::chrono::seconds(10);
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == ENOLCK || errno == EOPNOTSUPP || errno == ENOSYS) return;  // no locks here; hashes still guard
      if (errno != EWOULDBLOCK && errno != EINTR)
        throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot lock: {}", path.string(), std::strerror(errno)));
      const auto now = std::chrono::steady_clock::now();
      if (timeout >= 0 && now - start > std::chrono::duration<double>(timeout))
        throw HubError(HubFailure::LocalIo, fmt::format("{}: still locked by another download after {} s", path.string(), timeout));
      if (now - last_note >= std::chrono::seconds(10)) {
        client.event(DownloadEvent::WaitingForLock, file, 0, 0, path.string());
        last_note = now;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock; lock files are never deleted
  }

 private:
  int fd_ = -1;
};

uint64_t fd_size(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

void fetch_blob_into(const Client& client, const DownloadOptions& o, const FileMeta& meta, const std::string& path,
                     const fs::path& blob);

// Streams the blob into blobs/<etag>.incomplete, resuming what is there, then verifies it. A failed
// transfer keeps its bytes for the next run; bytes that failed verification, or none, are removed.
void fetch_blob(const Client& client, const DownloadOptions& o, const FileMeta& meta, const std::string& path,
                const fs::path& blob) {
  const fs::path part = blob.string() + ".incomplete";
  try {
    fetch_blob_into(client, o, meta, path, blob);
  } catch (const HubError& e) {
    std::error_code ec;
    if (e.failure() == HubFailure::Integrity || fs::file_size(part, ec) == 0) fs::remove(part, ec);
    throw;
  }
}

void fetch_blob_into(const Client& client, const DownloadOptions& o, const FileMeta& meta, const std::string& path,
                     const fs::path& blob) {
  const fs::path part = blob.string() + ".incomplete";
  int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot create: {}", part.string(), std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto restart = [&] {
    if (::ftruncate(fd, 0) != 0)
      throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot truncate: {}", part.string(), std::strerror(errno)));
  };
  int failures = 0;
  bool rehashed = false;
  client.event(DownloadEvent::FileStart, path, fd_size(fd), meta.size);
  while (true) {
    uint64_t have = fd_size(fd);
    if (have > meta.size) {  // a leftover longer than the file: not ours to trust
      restart();
      have = 0;
    }
    if (have < meta.size) {
      HttpRequest req = client.request("GET", meta.location);
      req.fd = fd;
      req.range_from = have;
      req.on_bytes = [&](uint64_t n) { client.event(DownloadEvent::Bytes, path, have + n, meta.size); };
      HttpResponse r = hub::http_perform(req);
      const bool moved = r.written > 0;
      // A server that keeps answering with the wrong range must not loop forever.
      auto bad_range = [&](const char* what) {
        restart();
        if (failures++ >= o.max_retries)
          throw HubError(HubFailure::Network, fmt::format("{}: the server keeps answering {}", path, what));
      };
      if (r.status == 416) {  // nothing left to send from `have`: verify below, or start over
        if (have != meta.size) bad_range("416 to a range inside the file");
      } else if (r.curl_code || retryable_status(r.status)) {
        if (r.curl_code == 23)
          throw HubError(HubFailure::LocalIo, fmt::format("{}: {}", part.string(), r.curl_error));
        if (moved && !retryable_status(r.status)) failures = 0;  // progress resets the count
        if (failures >= o.max_retries) {
          if (r.curl_code)
            throw HubError(HubFailure::Network,
                           fmt::format("{}: transfer failed after {} tries: {} ({} of {} bytes kept in {}; run the "
                                       "command again to resume)",
                                       path, failures + 1, r.curl_error, fd_size(fd), meta.size, part.string()));
          throw HubError(HubFailure::Network, fmt::format("{}: HTTP {} after {} tries", path, r.status, failures + 1));
        }
        client.backoff(failures++, r, path);
        continue;
      } else if (r.status != 200 && r.status != 206) {
        client.fail_status(r, path);
      } else if (r.status == 206) {
        const std::string cr = r.header("content-range");
        const std::string expect = fmt::format("bytes {}-", have);
        if (cr.rfind(expect, 0) != 0) {  // a range we did not ask for: start over
          bad_range("a range that was not asked for");
          continue;
        }
      }
      if (fd_size(fd) < meta.size && r.status != 416) {
        // The server ended the body early without an error: a short file, not a dropped line.
        if (r.curl_code == 0) {
          const uint64_t got = fd_size(fd);
          restart();
          throw HubError(HubFailure::Integrity,
                         fmt::format("{}: the server sent {} bytes, the Hub announced {}", path, got, meta.size));
        }
        continue;
      }
    }
    if (fd_size(fd) != meta.size) continue;
    if (!o.verify) break;
    std::string got;
    if (meta.etag.size() == 64) got = file_sha256_hex(part.string());
    else if (meta.etag.size() == 40) got = file_git_sha1_hex(part.string());
    else break;  // an opaque etag (some mirrors): the size is all there is to check
    if (got == meta.etag) break;
    restart();
    if (rehashed) {
      ::unlink(part.c_str());
      throw HubError(HubFailure::Integrity,
                     fmt::format("{}: the downloaded bytes hash to {}, not to the etag {}; nothing was stored", path, got,
                                 meta.etag));
    }
    rehashed = true;  // a bad resume, or bad luck: once more from the start
    client.event(DownloadEvent::Retry, path, 0, 0, "hash mismatch, downloading again");
  }
  std::error_code ec;
  fs::rename(part, blob, ec);
  if (ec) throw HubError(HubFailure::LocalIo, fmt::format("{}: cannot publish: {}", blob.string(), ec.message()));
}

// What an encoder needs, from a listing (paths at the commit).
std::vector<std::string> default_selection(const std::set<std::string>& listed, const std::function<std::set<std::string>(const std::string&)>& shards_of,
                                           const std::string& repo) {
  std::vector<std::string> out;
  auto take = [&](const char* f) {
    if (listed.count(f)) out.push_back(f);
    return listed.count(f) > 0;
  };
  if (!take("config.json"))
    throw HubError(HubFailure::NotFound, fmt::format("{} has no config.json: not a transformers model", repo));
  bool weights = take("model.safetensors");
  if (!weights && take("model.safetensors.index.json")) {
    for (auto& s : shards_of("model.safetensors.index.json")) out.push_back(s);
    weights = true;
  }
  if (!weights) weights = take("pytorch_model.bin");  // only when the repository has no safetensors
  if (!weights && take("pytorch_model.bin.index.json")) {
    for (auto& s : shards_of("pytorch_model.bin.index.json")) out.push_back(s);
    weights = true;
  }
  if (!weights)
    throw HubError(HubFailure::NotFound,
                   fmt::format("{} has no model.safetensors, sharded safetensors or pytorch_model.bin", repo));
  for (const char* f : {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                        "added_tokens.json", "modules.json", "config_sentence_transformers.json",
                        "sentence_bert_config.json", "1_Pooling/config.json"})
    take(f);
  return out;
}

std::set<std::string> shards_in_index(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw HubError(HubFailure::Integrity, fmt::format("{}: not valid JSON: {}", where, e.what()));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw HubError(HubFailure::Integrity, fmt::format("{}: missing \"weight_map\" object", where));
  std::set<std::string> out;
  for (auto& [k, v] : j["weight_map"].items()) {
    if (!v.is_string() || !is_safe_relative_path(v.get<std::string>()) || v.get<std::string>().find('/') != std::string::npos)
      throw HubError(HubFailure::Integrity, fmt::format("{}: weight_map entry '{}' names an unsafe file '{}'", where, k,
                                                        v.is_string() ? v.get<std::string>() : v.dump()));
    out.insert(v.get<std::string>());
  }
  return out;
}

}  // namespace

DownloadResult download_model(const std::string& spec_text, const DownloadOptions& o) {
  RepoSpec spec;
  std::string why;
  if (!parse_repo_spec(spec_text, &spec, &why)) throw HubError(HubFailure::Usage, why);
  if (hub_offline())
    throw HubError(HubFailure::Offline, fmt::format("HF_HUB_OFFLINE is set: not downloading {} (unset it, or use "
                                                    "--model {} from the cache)", spec.repo_id, spec_text));
  Client client(spec, o);
  const fs::path root = o.cache_dir.empty() ? fs::path(hub_cache_dir()) : fs::path(o.cache_dir);
  const fs::path repo = root / repo_folder_name(spec.repo_id);

  // 1. The revision, pinned to a commit once, with the inventory.
  const json info = client.get_json(fmt::format("{}/api/models/{}/revision/{}?blobs=true", client.endpoint_,
                                                spec.repo_id, hub::url_quote(spec.revision, false)),
                                    "repository info");
  if (!info.is_object() || !info.contains("sha") || !info["sha"].is_string() || !is_commit_hash(info["sha"].get<std::string>()))
    throw HubError(HubFailure::Network, fmt::format("{}: the repository info has no commit sha", spec.repo_id));
  const std::string commit = info["sha"].get<std::string>();
  std::map<std::string, uint64_t> sizes;
  std::set<std::string> listed;
  if (info.contains("siblings") && info["siblings"].is_array())
    for (const json& s : info["siblings"]) {
      if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
      const std::string name = s["rfilename"].get<std::string>();
      // A listing naming paths outside the snapshot is hostile: refuse before touching the disk.
      if (!is_safe_relative_path(name))
        throw HubError(HubFailure::Integrity, fmt::format("{}: the listing names an unsafe path '{}'", spec.repo_id, name));
      listed.insert(name);
      if (s.contains("size") && s["size"].is_number_unsigned()) sizes[name] = s["size"].get<uint64_t>();
    }
  const fs::path snap = repo / "snapshots" / commit;

  if (!o.dry_run) {
    make_dirs(repo / "blobs");
    make_dirs(snap);  // before the ref: a ref must always name an existing snapshot
    make_dirs(root / ".locks" / repo_folder_name(spec.repo_id));
    write_cachedir_tag(root);
    if (spec.revision != commit) write_atomic_if_changed(repo / "refs" / spec.revision, commit);
  }

  // 2. One file: HEAD at the commit, reuse a blob another revision brought, else a locked fetch.
  // Returns false when the Hub says the file is absent (.no_exist records it).
  auto fetch = [&](const std::string& path) -> bool {
    const fs::path pointer = snap / path;
    std::error_code ec;
    if (fs::exists(pointer, ec)) {  // commits never change: a resolvable pointer is final
      client.event(DownloadEvent::FileCached, path);
      return true;
    }
    const fs::path marker = repo / ".no_exist" / commit / path;
    if (fs::exists(marker, ec)) return false;  // known absent at this commit: not asked again
    FileMeta meta;
    if (!client.head(commit, path, &meta)) {
      make_dirs(marker.parent_path());
      if (FILE* f = std::fopen(marker.c_str(), "ab")) std::fclose(f);
      return false;
    }
    if (meta.commit != commit)
      throw HubError(HubFailure::Network, fmt::format("{}: the Hub answered for commit {} instead of {}", path,
                                                      meta.commit, commit));
    const fs::path blob = repo / "blobs" / meta.etag;
    if (!fs::exists(blob, ec)) {
      FileLock lock(root / ".locks" / repo_folder_name(spec.repo_id) / (meta.etag + ".lock"), o.lock_timeout_seconds,
                    client, path);
      if (!fs::exists(blob, ec)) fetch_blob(client, o, meta, path, blob);  // another process may have finished it
    }
    link_pointer(pointer, blob, path, meta.etag);
    client.event(DownloadEvent::FileDone, path, meta.size, meta.size);
    return true;
  };

  auto read_listed_file = [&](const std::string& path) -> std::string {
    if (o.dry_run) {  // nothing may be written: read it into memory
      FileMeta meta;
      if (!client.head(commit, path, &meta)) throw HubError(HubFailure::NotFound, path + ": not found");
      HttpResponse r = client.with_retries(client.request("GET", meta.location), path);
      if (r.curl_code) client.fail_connection(r, meta.location);
      if (r.status != 200) client.fail_status(r, path);
      return r.body;
    }
    if (!fetch(path)) throw HubError(HubFailure::NotFound, fmt::format("{}: listed by the Hub but not found", path));
    return read_text_file((snap / path).string());
  };

  std::vector<std::string> selection;
  if (o.all || !o.include.empty() || !o.exclude.empty()) {
    for (const std::string& f : listed) {
      bool in = o.all || o.include.empty();
      for (auto& p : o.include) in = in || hub_pattern_match(p, f);
      for (auto& p : o.exclude) in = in && !hub_pattern_match(p, f);
      if (in) selection.push_back(f);
    }
    if (selection.empty())
      throw HubError(HubFailure::NotFound, fmt::format("no file of {} at {} matches the --include/--exclude patterns",
                                                       spec.repo_id, commit));
  } else {
    selection = default_selection(
        listed, [&](const std::string& index) { return shards_in_index(read_listed_file(index), spec.repo_id + "/" + index); },
        spec.repo_id);
  }

  DownloadResult result;
  result.snapshot_dir = snap.string();
  result.commit = commit;
  for (const std::string& f : selection) {
    PlannedFile p;
    p.path = f;
    p.size = sizes.count(f) ? sizes[f] : 0;
    std::error_code ec;
    p.cached = fs::exists(snap / f, ec);
    result.files.push_back(p);
  }
  if (o.dry_run) return result;
  for (const std::string& f : selection) {
    if (!fetch(f)) {
      const bool required = f == "config.json" || f.find(".safetensors") != std::string::npos ||
                            f.rfind("pytorch_model", 0) == 0;
      if (required)
        throw HubError(HubFailure::NotFound, fmt::format("{}: not found in {} at commit {}", f, spec.repo_id, commit));
    }
  }
  return result;
}

}  // namespace medenc
