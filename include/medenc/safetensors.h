#pragma once
// Safetensors reading (mmap, fully validated before any tensor is touched) and writing.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace medenc {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t begin = 0;  // byte range inside the data section
  size_t end = 0;
  int64_t numel() const;
};

std::string shape_string(const std::vector<int64_t>& shape);

// One .safetensors file, memory-mapped. open() validates the header completely: length against the
// file size, JSON syntax, duplicate names, dtypes, shapes, offsets in range and not overlapping, and
// byte sizes equal to shape x dtype. Every failure throws medenc::Error naming the file (and tensor).
class SafetensorsFile {
 public:
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  // The same validation over a safetensors image held in memory (a converted .bin); name is
  // what messages call it.
  static std::shared_ptr<SafetensorsFile> from_bytes(const std::string& name, std::string bytes);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const uint8_t* bytes(const TensorInfo& info) const { return data_ + info.begin; }

  // Converts to float32: F32 copied, F16 and BF16 widened exactly, F64 rounded to nearest.
  void read_f32(const TensorInfo& info, float* out) const;
  std::vector<float> read_f32(const TensorInfo& info) const;
  // Integer tensors (I64/I32/I16/I8/U8/BOOL) widened to int64.
  std::vector<int64_t> read_i64(const TensorInfo& info) const;

 private:
  SafetensorsFile() = default;
  void parse(const uint8_t* base, uint64_t size);
  std::string path_;
  std::string owned_;  // the image, when it lives in memory rather than in a mapping
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a checkpoint folder: model.safetensors, or the shards listed by
// model.safetensors.index.json (each shard validated; the index must agree with the shards); without
// safetensors, pytorch_model.bin or the shards of pytorch_model.bin.index.json, read by the
// restricted loader of torch_checkpoint.h into the same validated form.
class Checkpoint {
 public:
  struct Entry {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  static Checkpoint open_dir(const std::string& dir);
  static Checkpoint open_file(const std::string& path);

  const Entry* find(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  size_t size() const { return entries_.size(); }
  const std::string& description() const { return description_; }  // for messages

 private:
  static Checkpoint open_index(const std::string& dir, const std::string& index_path,
                               const std::function<std::shared_ptr<SafetensorsFile>(const std::string&)>& open_shard);
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, Entry> entries_;
  std::string description_;
};

// Builds a .safetensors file in memory and writes it atomically (temp file + rename).
class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);
  void add_f32(const std::string& name, std::vector<int64_t> shape, const float* data);
  void add_i64(const std::string& name, std::vector<int64_t> shape, const int64_t* data);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void write(const std::string& path) const;
  std::string serialize() const;  // the file's bytes

 private:
  struct Item {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Item> items_;
  std::map<std::string, std::string> metadata_;
};

// Exact conversions used by the reader (exposed for kernels and tests).
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);  // round to nearest even
uint16_t f32_to_f16(float f);   // round to nearest even

}  // namespace medenc
