// `medenc convert`: any checkpoint folder medenc reads, rewritten as one model.safetensors.
#include <filesystem>

#include <fmt/format.h>

#include "medenc/error.h"
#include "medenc/torch_checkpoint.h"

namespace medenc {

namespace fs = std::filesystem;

static bool is_weight_file(const std::string& name) {
  auto ends = [&](const char* s) {
    const size_t n = std::char_traits<char>::length(s);
    return name.size() >= n && name.compare(name.size() - n, n, s) == 0;
  };
  return ends(".bin") || ends(".safetensors") || ends(".pt") || ends(".pth") || ends(".ckpt") || ends(".h5") ||
         ends(".msgpack") || ends(".onnx") || ends(".gguf") || name == "pytorch_model.bin.index.json" ||
         name == "model.safetensors.index.json";
}

size_t convert_checkpoint(const std::string& model_dir, const std::string& out_dir) {
  std::error_code ec;
  if (fs::exists(out_dir, ec) && fs::equivalent(model_dir, out_dir, ec))
    throw Error(fmt::format("{}: the output folder must differ from the model folder", out_dir));
  const Checkpoint ckpt = Checkpoint::open_dir(model_dir);
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const std::string& name : ckpt.names()) {
    const Checkpoint::Entry* e = ckpt.find(name);
    w.add(name, e->info->dtype, e->info->shape, e->file->bytes(*e->info), e->info->end - e->info->begin);
  }
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create: {}", out_dir, ec.message()));
  for (auto it = fs::recursive_directory_iterator(model_dir, ec); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path rel = it->path().lexically_relative(model_dir);  // not fs::relative: it follows the links
    if (it->is_directory()) {
      if (rel.filename().string().front() == '.') it.disable_recursion_pending();  // .git, .cache
      else fs::create_directories(fs::path(out_dir) / rel);
      continue;
    }
    const std::string name = rel.filename().string();
    if (!it->is_regular_file() || is_weight_file(name) || name.front() == '.') continue;
    // copy_file follows symlinks, so a Hugging Face cache snapshot yields real files.
    fs::copy_file(it->path(), fs::path(out_dir) / rel, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error(fmt::format("{}: cannot copy to {}: {}", it->path().string(), out_dir, ec.message()));
  }
  w.write((fs::path(out_dir) / "model.safetensors").string());
  return ckpt.size();
}

}  // namespace medenc
