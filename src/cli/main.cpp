// medenc command-line entry point.
#include <cstdio>
#include <map>
#include <vector>

#include "medenc/version.h"
#include "cli/command.h"
#include "medenc/error.h"

namespace medenc::cli {
namespace {

struct Entry {
  const char* name;
  const char* description;
  Setup setup;
};

std::vector<Entry>& registry() {
  static std::vector<Entry> r;
  return r;
}

}  // namespace

Registrar::Registrar(const char* name, const char* description, Setup setup) {
  registry().push_back({name, description, std::move(setup)});
}

}  // namespace medenc::cli

int main(int argc, char** argv) {
  using namespace medenc::cli;
  CLI::App app{"medenc: run and fine-tune clinical text encoders (ModernBERT, BERT, Megatron-BERT)", "medenc"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "medenc " MEDENC_VERSION);
  std::map<CLI::App*, std::function<int()>> runners;
  for (auto& e : registry()) {
    CLI::App* sub = app.add_subcommand(e.name, e.description);
    runners[sub] = e.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kUsage;
  }
  for (auto& [sub, run] : runners) {
    if (!sub->parsed()) continue;
    try {
      return run();
    } catch (const medenc::Error& e) {
      std::fprintf(stderr, "medenc %s: error: %s\n", sub->get_name().c_str(), e.what());
      return kError;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "medenc %s: error: out of memory\n", sub->get_name().c_str());
      return kError;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "medenc %s: error: %s\n", sub->get_name().c_str(), e.what());
      return kError;
    }
  }
  return kUsage;
}
