// libFuzzer target: the safetensors reader. Byte 0 picks the mode:
//   even: the rest is a .safetensors file (8-byte length, JSON header, data), opened as a file and as
//         a checkpoint folder, and every tensor is read as float32 / int64;
//   odd:  the rest is model.safetensors.index.json next to two valid shards (a.safetensors with
//         tensors "x", "y"; b.safetensors with "z"), opened as a checkpoint folder.
// Anything malformed must give medenc::Error, never a crash; what opens must hold together.
//   build-fuzz/fuzz/fuzz_safetensors -max_total_time=600 fuzz/corpus/fuzz_safetensors
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "fuzz_common.h"
#include "medenc/error.h"
#include "medenc/safetensors.h"

namespace {

using medenc::fuzz::check;

const std::string& file_dir() {
  static const std::string d = [] {
    std::string p = medenc::fuzz::scratch_dir() + "/file";
    std::filesystem::create_directories(p);
    return p;
  }();
  return d;
}

const std::string& index_dir() {
  static const std::string d = [] {
    std::string p = medenc::fuzz::scratch_dir() + "/index";
    std::filesystem::create_directories(p);
    const float x[4] = {1, 2, 3, 4}, z[2] = {5, 6};
    const int64_t y[3] = {7, 8, 9};
    medenc::SafetensorsWriter a;
    a.add_f32("x", {2, 2}, x);
    a.add_i64("y", {3}, y);
    a.write(p + "/a.safetensors");
    medenc::SafetensorsWriter b;
    b.add_f32("z", {2}, z);
    b.write(p + "/b.safetensors");
    return p;
  }();
  return d;
}

void read_all(const medenc::SafetensorsFile& f) {
  for (const auto& t : f.tensors()) {
    check(t.begin <= t.end, "tensor range");
    check(f.find(t.name) == &t, "find() gives the tensor");
    if (t.numel() > (1 << 20)) continue;
    switch (t.dtype) {
      case medenc::DType::F32:
      case medenc::DType::F16:
      case medenc::DType::BF16:
      case medenc::DType::F64:
        check(f.read_f32(t).size() == (size_t)t.numel(), "read_f32 size");
        break;
      default:
        check(f.read_i64(t).size() == (size_t)t.numel(), "read_i64 size");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    const std::string path = file_dir() + "/model.safetensors";
    medenc::fuzz::write_bytes(path, body);
    try {
      auto f = medenc::SafetensorsFile::open(path);
      read_all(*f);
      const medenc::Checkpoint c = medenc::Checkpoint::open_dir(file_dir());
      check(c.size() == f->tensors().size(), "checkpoint holds the file's tensors");
      for (const std::string& name : c.names()) check(c.find(name) != nullptr, "checkpoint find");
    } catch (const medenc::Error&) {
    }
  } else {
    const std::string& dir = index_dir();
    medenc::fuzz::write_bytes(dir + "/model.safetensors.index.json", body);
    try {
      const medenc::Checkpoint c = medenc::Checkpoint::open_dir(dir);
      check(c.size() <= 3, "at most the shards' tensors");
      for (const std::string& name : c.names()) {
        const auto* e = c.find(name);
        check(e != nullptr && e->file->find(name) == e->info, "entry points into its shard");
      }
    } catch (const medenc::Error&) {
    }
  }
  return 0;
}
