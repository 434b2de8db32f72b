// medenc forward: run a checkpoint on padded inputs and write the outputs as safetensors.
#include <cstdio>

#include "cli/command.h"
#include "ops/ops.h"
#include "medenc/forward.h"
#include "medenc/model.h"

namespace {

struct Options {
  std::string model, inputs, out;
  int threads = 0;
  bool deterministic = false;
  std::string dtype = "f32";
};

int run(const Options& o) {
  const medenc::ops::ThreadScope threads(o.threads);
  medenc::PaddedInputs inputs = medenc::read_padded_inputs(o.inputs);
  medenc::LoadOptions lo;
  lo.deterministic = o.deterministic;
  lo.bf16 = o.dtype == "bf16";
  lo.int8 = o.dtype == "int8";
  auto model = medenc::load_encoder(o.model, lo);
  auto tensors = medenc::run_padded_forward(*model, inputs);
  medenc::write_tensors(tensors, o.out);
  return medenc::cli::kOk;
}

medenc::cli::Registrar reg("forward", "Run a model on padded input ids and write its outputs (safetensors)",
                           [](CLI::App& app) {
                             auto o = std::make_shared<Options>();
                             app.add_option("--model", o->model, "Model folder (config.json + safetensors)")->required();
                             app.add_option("--inputs", o->inputs, "JSON with input_ids, attention_mask, "
                                                                   "optional token_type_ids and positions")->required();
                             app.add_option("--out", o->out, "Output .safetensors file")->required();
                             app.add_option("--threads", o->threads, "Threads (default: all cores)");
                             app.add_flag("--deterministic", o->deterministic,
                                          "Bit-identical results whatever the threads and batch");
                             app.add_option("--dtype", o->dtype, "Compute type: f32, bf16, int8")
                                 ->check(CLI::IsMember({"f32", "bf16", "int8"}));
                             return [o] { return run(*o); };
                           });

}  // namespace
