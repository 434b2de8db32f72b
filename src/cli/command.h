#pragma once
// Subcommand registry: each src/cli/cmd_*.cpp registers itself with a static Registrar.
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace medenc::cli {

// Exit codes shared by every command (documented in the README).
enum ExitCode {
  kOk = 0,
  kError = 1,        // the command could not do its job (bad model, bad file, ...)
  kUsage = 2,        // bad command line
  kInputErrors = 3,  // the job finished but some input lines were errors (written in place)
  kInterrupted = 130,  // stopped by SIGINT/SIGTERM (train: a checkpoint to resume from was saved)
};

// setup() adds the subcommand's options and returns the function that runs it.
using Setup = std::function<std::function<int()>(CLI::App& sub)>;

struct Registrar {
  Registrar(const char* name, const char* description, Setup setup);
};

}  // namespace medenc::cli
