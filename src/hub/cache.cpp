// The shared Hugging Face cache: where it is, how ids map onto it, and offline resolution of
// ORG/NAME[@REVISION] to snapshots/<commit> (huggingface_hub's local_files_only behaviour).
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "medenc/hub.h"

namespace medenc {

namespace fs = std::filesystem;

static std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;  // empty counts as unset (never a cache in the working folder)
  return std::string(v);
}

static std::string home_dir() {
  if (auto h = env("HOME")) return *h;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

std::string expand_user_vars(const std::string& path) {
  std::string s = path;
  if (s == "~" || s.rfind("~/", 0) == 0) s = home_dir() + s.substr(1);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$') {
      out += s[i];
      continue;
    }
    size_t j = i + 1;
    std::string name;
    if (j < s.size() && s[j] == '{') {
      size_t close = s.find('}', j);
      if (close == std::string::npos) {
        out += s[i];
        continue;
      }
      name = s.substr(j + 1, close - j - 1);
      j = close + 1;
    } else {
      while (j < s.size() && (std::isalnum((unsigned char)s[j]) || s[j] == '_')) name += s[j++];
    }
    if (name.empty()) {
      out += s[i];
      continue;
    }
    // Unknown variables stay as written, as Python's os.path.expandvars leaves them.
    if (const char* v = std::getenv(name.c_str())) out += v;
    else out += s.substr(i, j - i);
    i = j - 1;
  }
  return out;
}

std::string hf_home_dir() {
  if (auto h = env("HF_HOME")) return expand_user_vars(*h);
  if (auto x = env("XDG_CACHE_HOME")) return (fs::path(expand_user_vars(*x)) / "huggingface").string();
  return (fs::path(home_dir()) / ".cache" / "huggingface").string();
}

std::string hub_cache_dir() {
  if (auto c = env("HF_HUB_CACHE")) return expand_user_vars(*c);
  if (auto c = env("HUGGINGFACE_HUB_CACHE")) return expand_user_vars(*c);
  return (fs::path(hf_home_dir()) / "hub").string();
}

static bool truthy(const std::string& v) {
  std::string u;
  for (char c : v) u += (char)std::toupper((unsigned char)c);
  return u == "1" || u == "ON" || u == "YES" || u == "TRUE";
}

bool hub_offline() {
  // Python reads `HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE`: a set HF_HUB_OFFLINE decides alone.
  if (auto v = env("HF_HUB_OFFLINE")) return truthy(*v);
  if (auto v = env("TRANSFORMERS_OFFLINE")) return truthy(*v);
  return false;
}

static std::string clean_token(std::string t) {
  t.erase(std::remove(t.begin(), t.end(), '\r'), t.end());
  t.erase(std::remove(t.begin(), t.end(), '\n'), t.end());
  while (!t.empty() && t.back() == ' ') t.pop_back();
  size_t b = 0;
  while (b < t.size() && t[b] == ' ') ++b;
  return t.substr(b);
}

std::optional<std::string> hub_token() {
  if (auto v = env("HF_HUB_DISABLE_IMPLICIT_TOKEN"); v && truthy(*v)) return std::nullopt;
  std::optional<std::string> raw = env("HF_TOKEN");
  if (!raw) raw = env("HUGGING_FACE_HUB_TOKEN");
  if (!raw) {
    const std::string path = env("HF_TOKEN_PATH") ? expand_user_vars(*env("HF_TOKEN_PATH"))
                                                  : (fs::path(hf_home_dir()) / "token").string();
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    raw = ss.str();
  }
  std::string t = clean_token(*raw);
  if (t.empty()) return std::nullopt;
  return t;
}

std::string hub_endpoint() {
  std::string e = env("HF_ENDPOINT").value_or("https://huggingface.co");
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

// ---- ids ----

static bool valid_id_part(const std::string& p, size_t max_len) {
  if (p.empty() || p.size() > max_len) return false;
  for (char c : p)
    if (!(std::isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.')) return false;
  auto edge_ok = [](char c) { return std::isalnum((unsigned char)c) || c == '_'; };
  return edge_ok(p.front()) && edge_ok(p.back());
}

bool parse_repo_spec(const std::string& spec, RepoSpec* out, std::string* why) {
  auto fail = [&](const std::string& w) {
    if (why) *why = fmt::format("'{}' is not a Hugging Face id ORG/NAME[@REVISION]: {}", spec, w);
    return false;
  };
  RepoSpec r;
  const size_t at = spec.find('@');
  r.repo_id = spec.substr(0, at);
  if (at != std::string::npos) {
    r.revision = spec.substr(at + 1);
    r.revision_given = true;
    if (r.revision.empty()) return fail("empty revision after '@'");
    if (r.revision.find('\0') != std::string::npos || r.revision.find("..") != std::string::npos ||
        r.revision.front() == '/' || r.revision.back() == '/' || r.revision.find('\\') != std::string::npos ||
        r.revision.find("//") != std::string::npos)
      return fail("bad revision");
  } else {
    r.revision = "main";
  }
  const size_t slash = r.repo_id.find('/');
  if (slash == std::string::npos) return fail("expected ORG/NAME");
  if (r.repo_id.find('/', slash + 1) != std::string::npos) return fail("more than one '/'");
  const std::string org = r.repo_id.substr(0, slash), name = r.repo_id.substr(slash + 1);
  if (!valid_id_part(org, 96) || !valid_id_part(name, 96))
    return fail("names use letters, digits, '-', '_' and '.', and do not start or end with '-' or '.'");
  if (r.repo_id.find("--") != std::string::npos || r.repo_id.find("..") != std::string::npos)
    return fail("'--' and '..' are not allowed");
  if (name.size() >= 4 && name.compare(name.size() - 4, 4, ".git") == 0) return fail("ends in .git");
  *out = std::move(r);
  return true;
}

bool is_commit_hash(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string repo_folder_name(const std::string& repo_id) {
  std::string s = "models--";
  for (char c : repo_id) {
    if (c == '/') s += "--";
    else s += c;
  }
  return s;
}

bool is_safe_relative_path(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  if (path.find('\\') != std::string::npos || path.find('\0') != std::string::npos) return false;
  if (path.size() >= 2 && path[1] == ':') return false;  // a Windows drive, C:x
  size_t start = 0;
  while (true) {
    const size_t end = path.find('/', start);
    const std::string seg = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return true;
}

static bool match_from(const char* p, const char* s) {
  for (; *p; ++p, ++s) {
    if (*p == '*') {
      while (p[1] == '*') ++p;
      for (const char* t = s;; ++t) {
        if (match_from(p + 1, t)) return true;
        if (!*t) return false;
      }
    }
    if (!*s) return false;
    if (*p == '?') continue;
    if (*p == '[') {
      const char* q = p + 1;
      bool negate = (*q == '!');
      if (negate) ++q;
      bool hit = false;
      const char* first = q;
      while (*q && (*q != ']' || q == first)) {
        if (q[1] == '-' && q[2] && q[2] != ']') {
          if (*s >= q[0] && *s <= q[2]) hit = true;
          q += 3;
        } else {
          if (*s == *q) hit = true;
          ++q;
        }
      }
      if (!*q) {  // no closing ']': a literal '['
        if (*s != '[') return false;
        continue;
      }
      if (hit == negate) return false;
      p = q;
      continue;
    }
    if (*p != *s) return false;
  }
  return *s == 0;
}

bool hub_pattern_match(const std::string& pattern, const std::string& path) {
  std::string p = pattern;
  std::replace(p.begin(), p.end(), '\\', '/');
  if (!p.empty() && p.back() == '/') p += '*';
  return match_from(p.c_str(), path.c_str());
}

// ---- offline resolution ----

static bool exists_following(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);  // follows symlinks: a dangling chain is "not cached"
}

static std::string download_hint(const RepoSpec& s) {
  return fmt::format("medenc download {}{}", s.repo_id, s.revision_given ? "@" + s.revision : "");
}

std::string resolve_in_cache(const std::string& cache_root, const RepoSpec& spec) {
  const fs::path repo = fs::path(cache_root) / repo_folder_name(spec.repo_id);
  std::error_code ec;
  if (!fs::is_directory(repo, ec))
    throw HubError(HubFailure::NotCached,
                   fmt::format("'{}' is not a folder and not in the Hugging Face cache ({}); fetch it with: {}",
                               spec.repo_id, cache_root, download_hint(spec)));
  std::string commit;
  if (is_commit_hash(spec.revision)) {
    commit = spec.revision;
  } else {
    const fs::path ref = repo / "refs" / spec.revision;
    std::ifstream in(ref, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      commit = ss.str();
      // Tolerant reading (a hand-written ref may end in a newline); writers never add one.
      while (!commit.empty() && std::isspace((unsigned char)commit.back())) commit.pop_back();
      while (!commit.empty() && std::isspace((unsigned char)commit.front())) commit.erase(commit.begin());
      if (!is_commit_hash(commit))
        throw HubError(HubFailure::NotCached, fmt::format("{}: does not hold a 40-hex commit id", ref.string()));
    } else if (!spec.revision_given) {
      // No refs/main: huggingface_hub's convenience of using the only snapshot there is.
      std::vector<std::string> snaps;
      for (auto& e : fs::directory_iterator(repo / "snapshots", ec))
        if (e.is_directory()) snaps.push_back(e.path().filename().string());
      if (snaps.size() != 1)
        throw HubError(HubFailure::NotCached,
                       fmt::format("{}: no refs/main and {} snapshots, so the revision is unknown; give "
                                   "{}@<commit> or run: {}",
                                   repo.string(), snaps.size(), spec.repo_id, download_hint(spec)));
      commit = snaps[0];
    } else {
      throw HubError(HubFailure::NotCached,
                     fmt::format("revision '{}' of {} is not in the cache ({} missing); fetch it with: {}",
                                 spec.revision, spec.repo_id, ref.string(), download_hint(spec)));
    }
  }
  const fs::path snap = repo / "snapshots" / commit;
  if (!fs::is_directory(snap, ec))
    throw HubError(HubFailure::NotCached,
                   fmt::format("{}@{} resolves to commit {}, whose snapshot folder {} is missing; fetch it with: {}",
                               spec.repo_id, spec.revision, commit, snap.string(), download_hint(spec)));

  // What every encoder folder holds; files known absent (.no_exist) are reported as such.
  const fs::path no_exist = repo / ".no_exist" / commit;
  std::vector<std::string> missing, absent;
  auto need = [&](std::initializer_list<const char*> any_of) {
    for (const char* f : any_of)
      if (exists_following(snap / f)) return;
    const char* first = *any_of.begin();
    (exists_following(no_exist / first) ? absent : missing).push_back(first);
  };
  need({"config.json"});
  need({"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"});
  need({"tokenizer.json", "vocab.txt"});
  if (!absent.empty())
    throw HubError(HubFailure::NotFound, fmt::format("{} has no {} at commit {} (recorded in {})", spec.repo_id,
                                                     fmt::join(absent, ", "), commit, no_exist.string()));
  if (!missing.empty())
    throw HubError(HubFailure::NotCached,
                   fmt::format("the cached snapshot {} lacks {}; fetch it with: {}", snap.string(),
                               fmt::join(missing, ", "), download_hint(spec)));
  return snap.string();
}

std::string resolve_model(const std::string& spec) {
  std::error_code ec;
  if (fs::is_directory(spec, ec)) return spec;
  RepoSpec r;
  std::string why;
  if (!parse_repo_spec(spec, &r, &why)) {
    // A path that merely does not exist: leave the message to the loader. An '@' shows hub intent.
    if (spec.find('@') != std::string::npos && spec.find('/') != std::string::npos &&
        !fs::exists(fs::path(spec).parent_path(), ec))
      throw HubError(HubFailure::Usage, why);
    return spec;
  }
  return resolve_in_cache(hub_cache_dir(), r);
}

}  // namespace medenc
