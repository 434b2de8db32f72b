// The Hugging Face cache without a network: environment precedence (huggingface_hub's
// constants.py rules), id parsing, path safety, patterns, hashes against known vectors, and offline
// resolution on hand-built cache trees (reference: /work/shared/reference/hf-hub.md §1, §5.2 A).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "hub/http.h"
#include "medenc/hub.h"
#include "test_support.h"

using namespace medenc;
namespace fs = std::filesystem;

namespace {

const char* kVars[] = {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME", "HF_TOKEN",
                       "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_DISABLE_IMPLICIT_TOKEN", "HF_HUB_OFFLINE",
                       "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "MEDENC_TEST_VAR"};

// Clears the hub variables for one test and restores them after.
class HubEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kVars) {
      if (const char* s = std::getenv(v)) saved_[v] = s;
      ::unsetenv(v);
    }
  }
  void TearDown() override {
    for (const char* v : kVars) ::unsetenv(v);
    for (auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  static void set(const char* k, const std::string& v) { ::setenv(k, v.c_str(), 1); }
  std::map<std::string, std::string> saved_;
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  test::write_file(p.string(), text);
}

const std::string C1(40, 'a'), C2(40, 'b');

// A repo folder as huggingface_hub writes it: blobs, relative symlinks, refs without newline.
fs::path make_repo(const fs::path& root, const std::string& commit, const std::vector<std::string>& files) {
  const fs::path repo = root / "models--org--enc";
  for (const std::string& f : files) {
    const std::string etag = "etag" + std::to_string(std::hash<std::string>{}(f));
    write(repo / "blobs" / etag, "content of " + f);
    const fs::path pointer = repo / "snapshots" / commit / f;
    fs::create_directories(pointer.parent_path());
    std::string target;
    for (long i = 0; i < 2 + std::count(f.begin(), f.end(), '/'); ++i) target += "../";
    fs::create_symlink(target + "blobs/" + etag, pointer);
  }
  return repo;
}

const std::vector<std::string> kEncoder = {"config.json", "model.safetensors", "tokenizer.json", "1_Pooling/config.json"};

RepoSpec spec(const std::string& s) {
  RepoSpec r;
  std::string why;
  EXPECT_TRUE(parse_repo_spec(s, &r, &why)) << why;
  return r;
}

std::string resolve_error(const fs::path& root, const std::string& s) {
  try {
    resolve_in_cache(root.string(), spec(s));
  } catch (const HubError& e) {
    return e.what();
  }
  return "(resolved)";
}

}  // namespace

TEST_F(HubEnv, CacheRootPrecedence) {
  set("HOME", "/home/u");
  EXPECT_EQ(hub_cache_dir(), "/home/u/.cache/huggingface/hub");
  set("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(hub_cache_dir(), "/xdg/huggingface/hub");
  EXPECT_EQ(hf_home_dir(), "/xdg/huggingface");
  set("HF_HOME", "/hf");
  EXPECT_EQ(hub_cache_dir(), "/hf/hub");
  set("HUGGINGFACE_HUB_CACHE", "/legacy");
  EXPECT_EQ(hub_cache_dir(), "/legacy");
  set("HF_HUB_CACHE", "/new");
  EXPECT_EQ(hub_cache_dir(), "/new");
  // Empty counts as unset (never a cache in the working folder).
  set("HF_HUB_CACHE", "");
  EXPECT_EQ(hub_cache_dir(), "/legacy");
  set("HUGGINGFACE_HUB_CACHE", "");
  set("HF_HOME", "");
  EXPECT_EQ(hub_cache_dir(), "/xdg/huggingface/hub");
}

TEST_F(HubEnv, UserAndVariableExpansion) {
  set("HOME", "/home/u");
  set("MEDENC_TEST_VAR", "/data");
  set("HF_HOME", "~/hf");
  EXPECT_EQ(hub_cache_dir(), "/home/u/hf/hub");
  set("HF_HUB_CACHE", "$MEDENC_TEST_VAR/cache");
  EXPECT_EQ(hub_cache_dir(), "/data/cache");
  set("HF_HUB_CACHE", "${MEDENC_TEST_VAR}/c2/$UNSET_MEDENC_VAR_X");
  EXPECT_EQ(hub_cache_dir(), "/data/c2/$UNSET_MEDENC_VAR_X");  // unknown variables stay, as expandvars does
}

TEST_F(HubEnv, TokenPrecedenceAndCleaning) {
  const std::string tmp = test::temp_dir("hub_token");
  set("HOME", tmp);
  set("HF_HOME", tmp + "/hf");
  EXPECT_FALSE(hub_token().has_value());
  write(fs::path(tmp) / "hf" / "token", "  hf_file\r\n");
  EXPECT_EQ(hub_token().value(), "hf_file");
  write(fs::path(tmp) / "other_token", "hf_path\n");
  set("HF_TOKEN_PATH", tmp + "/other_token");
  EXPECT_EQ(hub_token().value(), "hf_path");
  set("HUGGING_FACE_HUB_TOKEN", "hf_legacy");
  EXPECT_EQ(hub_token().value(), "hf_legacy");
  set("HF_TOKEN", " hf_env ");
  EXPECT_EQ(hub_token().value(), "hf_env");
  set("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1");
  EXPECT_FALSE(hub_token().has_value());
  ::unsetenv("HF_HUB_DISABLE_IMPLICIT_TOKEN");
  ::unsetenv("HF_TOKEN");
  ::unsetenv("HUGGING_FACE_HUB_TOKEN");
  write(fs::path(tmp) / "other_token", "\r\n");  // an empty file is no token
  EXPECT_FALSE(hub_token().has_value());
}

TEST_F(HubEnv, OfflineFlags) {
  EXPECT_FALSE(hub_offline());
  for (const char* v : {"1", "on", "Yes", "TRUE"}) {
    set("HF_HUB_OFFLINE", v);
    EXPECT_TRUE(hub_offline()) << v;
  }
  set("HF_HUB_OFFLINE", "0");
  EXPECT_FALSE(hub_offline());
  set("TRANSFORMERS_OFFLINE", "1");
  EXPECT_FALSE(hub_offline());  // a set HF_HUB_OFFLINE decides, as Python's `or` does
  ::unsetenv("HF_HUB_OFFLINE");
  EXPECT_TRUE(hub_offline());
}

TEST_F(HubEnv, Endpoint) {
  EXPECT_EQ(hub_endpoint(), "https://huggingface.co");
  set("HF_ENDPOINT", "http://127.0.0.1:8080/");
  EXPECT_EQ(hub_endpoint(), "http://127.0.0.1:8080");
}

TEST(HubIds, Parsing) {
  RepoSpec r = spec("org/name");
  EXPECT_EQ(r.repo_id, "org/name");
  EXPECT_EQ(r.revision, "main");
  EXPECT_FALSE(r.revision_given);
  EXPECT_EQ(spec("org/name@v1.0").revision, "v1.0");
  EXPECT_EQ(spec("org/name@refs/pr/3").revision, "refs/pr/3");
  EXPECT_EQ(spec("TheBlueScrubs/ModernBERT-base-TBS@" + C1).revision, C1);
  EXPECT_TRUE(is_commit_hash(C1));
  EXPECT_FALSE(is_commit_hash(std::string(40, 'A')));  // uppercase: a ref name, as in huggingface_hub
  EXPECT_FALSE(is_commit_hash(std::string(39, 'a')));
  for (const char* bad : {"a/b/c", "a--b/c", "a/b.git", "org/", "org/name@", "/name", "org/-x", "org/x.", "org/a..b",
                          "org/na me", "org/name@../x", "name"}) {
    RepoSpec out;
    std::string why;
    EXPECT_FALSE(parse_repo_spec(bad, &out, &why)) << bad;
  }
  EXPECT_EQ(repo_folder_name("Org/Name"), "models--Org--Name");  // casing kept
}

TEST(HubIds, LocalFolderWinsOverAnId) {
  const std::string tmp = test::temp_dir("hub_local");
  fs::create_directories(tmp + "/org/name");
  const std::string cwd = fs::current_path();
  fs::current_path(tmp);
  EXPECT_EQ(resolve_model("org/name"), "org/name");
  fs::current_path(cwd);
  // Not an id and not a folder: returned as is for the loader's own message.
  EXPECT_EQ(resolve_model("/no/such/folder/x"), "/no/such/folder/x");
}

TEST(HubUrls, QuotingAndOrigins) {
  EXPECT_EQ(hub::url_quote("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(hub::url_quote("sub dir/a#b.json", true), "sub%20dir/a%23b.json");
  EXPECT_EQ(hub::url_origin("https://huggingface.co/x"), "https://huggingface.co:443");
  EXPECT_EQ(hub::url_origin("HTTP://Host:8080/a"), "http://host:8080");
  EXPECT_NE(hub::url_origin("http://127.0.0.1:1/a"), hub::url_origin("http://127.0.0.1:2/a"));
  EXPECT_EQ(hub::resolve_url("http://h:1/org/x/resolve/main/f", "/api/resolve-cache/m?e=1"), "http://h:1/api/resolve-cache/m?e=1");
  EXPECT_EQ(hub::resolve_url("http://h:1/a/b", "http://cdn:2/x"), "http://cdn:2/x");
  EXPECT_EQ(hub::resolve_url("http://h:1/a/b", "c"), "http://h:1/a/c");
}

TEST(HubHashes, KnownVectors) {
  // huggingface_hub utils/sha.py git_hash vectors and the real Hub oid of bert-base-uncased vocab.txt.
  EXPECT_EQ(git_blob_sha1_hex("Hello, World!"), "b45ef6fec89518d314f546fd6c3025367b721684");
  EXPECT_EQ(git_blob_sha1_hex(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  EXPECT_EQ(file_git_sha1_hex(test::data_path("tokenizers/bert-base-uncased/vocab.txt")),
            "fb140275c155a9c7c5a3b3e0e77a9e839594a938");
  EXPECT_EQ(file_git_sha1_hex(test::data_path("tokenizers/bert-base-uncased/config.json")),
            "45a2321a7ecfdaaf60a6c1fd7f5463994cc8907d");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HubPaths, SafeRelativePaths) {
  for (const char* ok : {"config.json", "1_Pooling/config.json", "a/b/c.bin", "model-00001-of-00002.safetensors"})
    EXPECT_TRUE(is_safe_relative_path(ok)) << ok;
  for (std::string bad : {"../x", "/etc/x", "a/../../x", "C:x", "\\\\host\\x", "a\\b", "a//b", "", "./a", "a/"})
    EXPECT_FALSE(is_safe_relative_path(bad)) << bad;
  EXPECT_FALSE(is_safe_relative_path(std::string("a\0b", 3)));
}

TEST(HubPaths, PatternsAsHfDownload) {
  EXPECT_TRUE(hub_pattern_match("*.json", "1_Pooling/config.json"));  // '*' crosses '/'
  EXPECT_TRUE(hub_pattern_match("*.safetensors", "model.safetensors"));
  EXPECT_FALSE(hub_pattern_match("*.json", "model.safetensors"));
  EXPECT_TRUE(hub_pattern_match("onnx/", "onnx/model.onnx"));  // a folder pattern
  EXPECT_TRUE(hub_pattern_match("model-0000?-of-*.safetensors", "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(hub_pattern_match("[ct]*.json", "config.json"));
  EXPECT_FALSE(hub_pattern_match("[!ct]*.json", "config.json"));
  EXPECT_FALSE(hub_pattern_match("*.JSON", "config.json"));  // case-sensitive
}

TEST(HubResolve, RevisionsRefsAndSnapshots) {
  const fs::path root = test::temp_dir("hub_resolve");
  const fs::path repo = make_repo(root, C1, kEncoder);
  make_repo(root, C2, kEncoder);
  write(repo / "refs" / "main", C1);
  write(repo / "refs" / "v1.0", C2 + "\n");  // tolerant: a newline is accepted when reading
  write(repo / "refs" / "refs" / "pr" / "1", C2);
  EXPECT_EQ(resolve_in_cache(root, spec("org/enc")), (repo / "snapshots" / C1).string());
  EXPECT_EQ(resolve_in_cache(root, spec("org/enc@v1.0")), (repo / "snapshots" / C2).string());
  EXPECT_EQ(resolve_in_cache(root, spec("org/enc@refs/pr/1")), (repo / "snapshots" / C2).string());
  EXPECT_EQ(resolve_in_cache(root, spec("org/enc@" + C2)), (repo / "snapshots" / C2).string());
  EXPECT_NE(resolve_error(root, "org/enc@v2").find("revision 'v2'"), std::string::npos);
  EXPECT_NE(resolve_error(root, "org/enc@v2").find("medenc download org/enc@v2"), std::string::npos);
  EXPECT_NE(resolve_error(root, "org/other").find("medenc download org/other"), std::string::npos);
  // A ref naming a snapshot that is not there: an error, never another snapshot.
  write(repo / "refs" / "stale", std::string(40, 'c'));
  EXPECT_NE(resolve_error(root, "org/enc@stale").find("snapshot folder"), std::string::npos);
  write(repo / "refs" / "junk", "not a commit");
  EXPECT_NE(resolve_error(root, "org/enc@junk").find("40-hex"), std::string::npos);
}

TEST(HubResolve, MissingFilesAndNoExistMarkers) {
  const fs::path root = test::temp_dir("hub_missing");
  const fs::path repo = make_repo(root, C1, {"model.safetensors", "vocab.txt"});
  write(repo / "refs" / "main", C1);
  const std::string err = resolve_error(root, "org/enc");
  EXPECT_NE(err.find("lacks config.json"), std::string::npos) << err;
  write(repo / ".no_exist" / C1 / "config.json", "");
  EXPECT_NE(resolve_error(root, "org/enc").find("has no config.json"), std::string::npos);
  // A dangling pointer (its blob gone) is not cached.
  const fs::path root2 = test::temp_dir("hub_dangling");
  const fs::path repo2 = make_repo(root2, C1, kEncoder);
  write(repo2 / "refs" / "main", C1);
  fs::remove(fs::canonical(repo2 / "snapshots" / C1 / "model.safetensors"));
  EXPECT_NE(resolve_error(root2, "org/enc").find("lacks model.safetensors"), std::string::npos);
}

TEST(HubResolve, SharedBlobStoreChainAndPlainFiles) {
  const fs::path root = test::temp_dir("hub_shared");
  const fs::path repo = root / "models--org--enc";
  const fs::path snap = repo / "snapshots" / C1;
  // blobs/<etag> -> ../../blobs/ab/<hash> (huggingface_hub's cache-wide store), pointer -> blobs/<etag>.
  write(root / "blobs" / ".huggingface-shared-blobs", "1\n");
  write(root / "blobs" / "ab" / "abcd", "weights");
  fs::create_directories(repo / "blobs");
  fs::create_symlink("../../blobs/ab/abcd", repo / "blobs" / "etagw");
  fs::create_directories(snap);
  fs::create_symlink("../../blobs/etagw", snap / "model.safetensors");
  // No-symlink mode: regular files in the snapshot.
  write(snap / "config.json", "{}");
  write(snap / "vocab.txt", "[PAD]\n");
  write(repo / "refs" / "main", C1);
  EXPECT_EQ(resolve_in_cache(root, spec("org/enc")), snap.string());
  EXPECT_EQ(test::read_file((snap / "model.safetensors").string()), "weights");
}

TEST(HubResolve, OnlySnapshotWithoutRefsMain) {
  const fs::path root = test::temp_dir("hub_onesnap");
  const fs::path repo = make_repo(root, C1, kEncoder);
  EXPECT_EQ(resolve_in_cache(root, spec("org/enc")), (repo / "snapshots" / C1).string());
  make_repo(root, C2, kEncoder);  // two: ambiguous
  EXPECT_NE(resolve_error(root, "org/enc").find("2 snapshots"), std::string::npos);
}

TEST(HubResolve, ReadOnlyCacheIsNotWritten) {
  const fs::path root = test::temp_dir("hub_ro");
  const fs::path repo = make_repo(root, C1, kEncoder);
  write(repo / "refs" / "main", C1);
  size_t before = 0, after = 0;
  for (auto& e : fs::recursive_directory_iterator(root)) before += e.path().string().size();
  fs::permissions(root, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write, fs::perm_options::remove);
  EXPECT_EQ(resolve_in_cache(root, spec("org/enc")), (repo / "snapshots" / C1).string());
  fs::permissions(root, fs::perms::owner_write, fs::perm_options::add);
  for (auto& e : fs::recursive_directory_iterator(root)) after += e.path().string().size();
  EXPECT_EQ(before, after);
}
