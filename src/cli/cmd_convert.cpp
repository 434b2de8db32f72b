// medenc convert: a checkpoint folder (pytorch_model.bin, sharded .bin or sharded safetensors)
// rewritten as model.safetensors with its config and tokenizer files.
#include <cstdio>

#include "cli/command.h"
#include "medenc/hub.h"
#include "medenc/torch_checkpoint.h"

namespace {

struct Options {
  std::string model, out;
};

medenc::cli::Registrar reg(
    "convert",
    "Write a checkpoint (pytorch_model.bin, sharded .bin or safetensors) as one model.safetensors, with its "
    "config and tokenizer files",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--model", o->model, "Model folder or Hugging Face id ORG/NAME[@REV] in the cache")->required();
      app.add_option("--out", o->out, "Output folder")->required();
      return [o] {
        const size_t n = medenc::convert_checkpoint(medenc::resolve_model(o->model), o->out);
        std::fprintf(stderr, "wrote %zu tensors to %s/model.safetensors\n", n, o->out.c_str());
        return medenc::cli::kOk;
      };
    });

}  // namespace
