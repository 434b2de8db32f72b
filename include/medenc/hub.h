#pragma once
// Models by Hugging Face Hub id: ORG/NAME[@REVISION] resolved in the shared Hugging Face cache
// (the layout huggingface_hub, transformers and hf use: models--ORG--NAME/{blobs,refs,snapshots}),
// and downloaded into it over HTTP(S). Nothing here prints; the CLI draws progress from callbacks.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "medenc/error.h"

namespace medenc {

// Why a hub operation failed; the CLI maps each to its own exit code.
enum class HubFailure {
  NotCached,  // the id is not in the local cache (resolution never uses the network)
  Offline,    // HF_HUB_OFFLINE forbids the request
  Auth,       // gated repository, rejected or missing token
  NotFound,   // repository, revision or file does not exist
  Network,    // connection, timeout, server error (after retries), malformed server answer
  Integrity,  // downloaded bytes do not match the announced size or hash
  LocalIo,    // the cache folder cannot be written
  Usage,      // malformed id or option
};

class HubError : public Error {
 public:
  HubError(HubFailure failure, const std::string& message) : Error(kind_of(failure), message), failure_(failure) {}
  HubFailure failure() const { return failure_; }
  static ErrorKind kind_of(HubFailure f) {
    switch (f) {
      case HubFailure::Usage: return ErrorKind::InvalidInput;
      case HubFailure::NotCached:
      case HubFailure::NotFound: return ErrorKind::InvalidModel;  // the model's files are not there
      default: return ErrorKind::Io;                              // auth, network, integrity, disk
    }
  }

 private:
  HubFailure failure_;
};

// ---- environment (the huggingface_hub variables; empty values count as unset) ----

// HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub > $XDG_CACHE_HOME/huggingface/hub >
// ~/.cache/huggingface/hub, with ~ and $VAR expanded.
std::string hub_cache_dir();
// HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
std::string hf_home_dir();
// HF_TOKEN > HUGGING_FACE_HUB_TOKEN > the file HF_TOKEN_PATH (default $HF_HOME/token); CR/LF and
// surrounding spaces removed; nothing when HF_HUB_DISABLE_IMPLICIT_TOKEN is true.
std::optional<std::string> hub_token();
// HF_HUB_OFFLINE, else TRANSFORMERS_OFFLINE (a set HF_HUB_OFFLINE wins, even "0"): 1/on/yes/true.
bool hub_offline();
// HF_ENDPOINT without trailing '/', default https://huggingface.co.
std::string hub_endpoint();
// "~/x" and "$VAR"/"${VAR}" expanded from the environment.
std::string expand_user_vars(const std::string& path);

// ---- ids and paths ----

struct RepoSpec {
  std::string repo_id;   // ORG/NAME
  std::string revision;  // "main" when none was given
  bool revision_given = false;
};

// ORG/NAME[@REVISION], split on the first '@'. Returns false with *why set for a malformed id.
bool parse_repo_spec(const std::string& spec, RepoSpec* out, std::string* why = nullptr);
bool is_commit_hash(const std::string& s);             // 40 lowercase hex digits
std::string repo_folder_name(const std::string& repo_id);  // models--ORG--NAME
// A path from a repository listing or index that may be joined onto a cache folder: relative,
// no '..' or empty segment, no backslash, drive or NUL.
bool is_safe_relative_path(const std::string& path);
// fnmatch-style (case-sensitive; '*' also crosses '/'; '?', [set], [!set]); a pattern ending in '/'
// matches everything under it.
bool hub_pattern_match(const std::string& pattern, const std::string& path);

// ---- offline resolution (never writes, never connects) ----

// An existing directory is returned unchanged. ORG/NAME[@REV] is looked up in the cache: a 40-hex
// revision is the commit, anything else is read from refs/<rev>; the folder returned is
// snapshots/<commit>. A miss throws HubError(NotCached) naming `medenc download ORG/NAME[@REV]`.
// Anything else (a path that does not exist and is no hub id) is returned unchanged, so the
// loader's own "no such folder" error speaks.
std::string resolve_model(const std::string& spec);
// The same lookup in a given cache root (for tests and --cache-dir).
std::string resolve_in_cache(const std::string& cache_root, const RepoSpec& spec);

// ---- download ----

struct DownloadEvent {
  enum Kind { FileStart, Bytes, FileDone, FileCached, Retry, WaitingForLock } kind = Bytes;
  std::string path;  // file inside the repository
  uint64_t done = 0, total = 0;
  std::string message;  // Retry: the reason; WaitingForLock: the lock file
};

struct DownloadOptions {
  std::string cache_dir;                // default hub_cache_dir()
  std::string endpoint;                 // default hub_endpoint()
  std::optional<std::string> token;     // default hub_token()
  std::vector<std::string> include, exclude;
  bool all = false;                     // every file of the repository
  bool verify = true;                   // sha256 / git-sha1 of each new blob
  bool dry_run = false;                 // plan only: nothing is written, no file is fetched
  int max_retries = 5;
  double retry_base_seconds = 1.0;      // back-off 1, 2, 4, 8, 8 s times this / 1 s
  double timeout_seconds = 10.0;        // connect timeout and longest stall of a transfer
  double lock_timeout_seconds = -1;     // < 0: wait for other downloads of the same blob forever
  std::function<void(const DownloadEvent&)> on_event;
};

struct PlannedFile {
  std::string path;
  uint64_t size = 0;
  bool cached = false;
};

struct DownloadResult {
  std::string snapshot_dir;
  std::string commit;
  std::vector<PlannedFile> files;
};

// Resolves the revision to a commit once, picks the files an encoder needs (config, single or
// sharded safetensors with the index, tokenizer and sentence-transformers files; pytorch_model.bin*
// only when the repository has no safetensors), or those --include/--exclude/--all select, and
// stores them in the cache layout: blobs/<etag> (verified before it is published), snapshots/
// <commit>/<path> -> ../../blobs/<etag>, refs/<rev>. Throws HubError.
DownloadResult download_model(const std::string& spec, const DownloadOptions& options);

// Hashes as the Hub names blobs: git blob sha1 ("blob <size>\0" + bytes) and sha256, in hex.
std::string git_blob_sha1_hex(const std::string& bytes);
std::string sha256_hex(const std::string& bytes);
std::string file_sha256_hex(const std::string& path);
std::string file_git_sha1_hex(const std::string& path);

}  // namespace medenc
