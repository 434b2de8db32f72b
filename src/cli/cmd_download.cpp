// medenc download ORG/NAME[@REV]: fetch what an encoder needs into the shared Hugging Face cache
// and print the snapshot folder. Exit codes tell the failure classes apart (see kExit* below).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "cli/command.h"
#include "medenc/hub.h"

namespace {

// Beyond the shared codes of command.h: one per HubFailure, as documented in the README.
int exit_code(medenc::HubFailure f) {
  switch (f) {
    case medenc::HubFailure::Usage: return medenc::cli::kUsage;
    case medenc::HubFailure::NotCached:
    case medenc::HubFailure::Offline: return 3;
    case medenc::HubFailure::Auth: return 4;
    case medenc::HubFailure::NotFound: return 5;
    case medenc::HubFailure::Network: return 6;
    case medenc::HubFailure::Integrity: return 7;
    case medenc::HubFailure::LocalIo: return 8;
  }
  return medenc::cli::kError;
}

// One line redrawn in place while a file downloads; only on a terminal.
class ProgressBar {
 public:
  void operator()(const medenc::DownloadEvent& e) {
    using K = medenc::DownloadEvent::Kind;
    if (e.kind == K::Retry) {
      clear();
      std::fprintf(stderr, "%s: retrying (%s)\n", e.path.c_str(), e.message.c_str());
      return;
    }
    if (e.kind == K::WaitingForLock) {
      clear();
      std::fprintf(stderr, "%s: waiting for another download of it (lock %s)\n", e.path.c_str(), e.message.c_str());
      return;
    }
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (e.kind == K::Bytes && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    if (e.kind == K::FileCached) return;
    const double frac = e.total ? (double)e.done / (double)e.total : 1.0;
    const int width = 30, fill = (int)(frac * width);
    std::fprintf(stderr, "\r%-40.40s [%.*s%*s] %6.1f/%.1f MB", e.path.c_str(), fill, "##############################",
                 width - fill, "", e.done / 1e6, e.total / 1e6);
    drawn_ = true;
    if (e.kind == K::FileDone) {
      std::fputc('\n', stderr);
      drawn_ = false;
    }
    std::fflush(stderr);
  }
  void clear() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  bool tty_ = isatty(fileno(stderr));
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

struct Options {
  std::string spec, token;
  medenc::DownloadOptions d;
  bool no_verify = false;
};

int run(Options& o) {
  if (!o.token.empty()) o.d.token = o.token;
  o.d.verify = !o.no_verify;
  auto bar = std::make_shared<ProgressBar>();
  o.d.on_event = [bar](const medenc::DownloadEvent& e) { (*bar)(e); };
  try {
    const medenc::DownloadResult r = medenc::download_model(o.spec, o.d);
    bar->clear();
    if (o.d.dry_run) {
      for (auto& f : r.files)
        std::printf("%-50s %12llu  %s\n", f.path.c_str(), (unsigned long long)f.size, f.cached ? "cached" : "to download");
      return medenc::cli::kOk;
    }
    std::printf("%s\n", r.snapshot_dir.c_str());
    return medenc::cli::kOk;
  } catch (const medenc::HubError& e) {
    bar->clear();
    std::fprintf(stderr, "medenc download: error: %s\n", e.what());
    return exit_code(e.failure());
  }
}

medenc::cli::Registrar reg(
    "download",
    "Fetch a model from the Hugging Face Hub into the shared cache (config, safetensors, tokenizer) and print "
    "its snapshot folder; --model ORG/NAME then finds it offline",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      if (const char* t = std::getenv("HF_HUB_DOWNLOAD_TIMEOUT"); t && std::atof(t) > 0) o->d.timeout_seconds = std::atof(t);
      app.add_option("model", o->spec, "ORG/NAME[@REVISION] (branch, tag or commit; default main)")->required();
      app.add_option("--include", o->d.include, "Only files matching these patterns ('*' crosses '/')");
      app.add_option("--exclude", o->d.exclude, "Skip files matching these patterns");
      app.add_flag("--all", o->d.all, "Every file of the repository");
      app.add_option("--cache-dir", o->d.cache_dir, "Cache folder (default: HF_HUB_CACHE, HF_HOME/hub, ...)");
      app.add_option("--token", o->token, "Access token (default: HF_TOKEN, or the file HF_HOME/token)");
      app.add_option("--endpoint", o->d.endpoint, "Hub URL (default: HF_ENDPOINT, or https://huggingface.co)");
      app.add_flag("--dry-run", o->d.dry_run, "List the files and whether they are cached; write nothing");
      app.add_flag("--no-verify", o->no_verify, "Skip the sha256 / git-sha1 check of new files");
      app.add_option("--max-retries", o->d.max_retries, "Retries after a server error or dropped connection (default 5)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--retry-base", o->d.retry_base_seconds, "First back-off in seconds, doubled per retry (default 1)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--timeout", o->d.timeout_seconds, "Connect timeout and longest stall, seconds (default: HF_HUB_DOWNLOAD_TIMEOUT or 10)")
          ->check(CLI::PositiveNumber);
      app.add_option("--lock-timeout", o->d.lock_timeout_seconds,
                     "Give up waiting for another download of the same file after this many seconds (default: wait)");
      return [o] { return run(*o); };
    });

}  // namespace
