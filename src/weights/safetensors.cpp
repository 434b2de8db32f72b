#include "medenc/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "medenc/error.h"
#include "util/bf16.h"
#include "medenc/torch_checkpoint.h"
#include "util/fs.h"

namespace medenc {

using nlohmann::json;

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

static bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> table[] = {
      {"F64", DType::F64}, {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16},
      {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16}, {"I8", DType::I8},
      {"U8", DType::U8},   {"BOOL", DType::BOOL}};
  for (auto& [name, d] : table)
    if (s == name) {
      *out = d;
      return true;
    }
  return false;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ---- exact half-precision conversions ----

float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      mant &= 0x3ffu;
      bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t b) { return bf16::to_f32(b); }

uint16_t f32_to_bf16(float f) { return bf16::bits(f); }

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
  uint32_t absb = bits & 0x7fffffffu;
  if (absb > 0x7f800000u) return sign | 0x7e00u;
  if (absb >= 0x477ff000u) return sign | 0x7c00u;  // rounds to inf
  if (absb < 0x38800000u) {                        // subnormal or zero in half
    float a;
    std::memcpy(&a, &absb, 4);
    // scale so that the half subnormal unit (2^-24) becomes 1, then round to nearest even
    float scaled = a * 16777216.0f;
    uint32_t m = (uint32_t)std::nearbyint(scaled);
    return sign | (uint16_t)m;
  }
  uint32_t mant = absb & 0x7fffffu;
  uint32_t exp = (absb >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return sign | (uint16_t)h;
}

// ---- reader ----

namespace {

[[noreturn]] void header_error(const std::string& path, const std::string& what) {
  throw Error(fmt::format("{}: invalid safetensors file: {}", path, what));
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(fmt::format("{}: not a regular file", path));
  }
  const uint64_t file_size = (uint64_t)st.st_size;
  if (file_size < 8) {
    ::close(fd);
    header_error(path, fmt::format("file is {} bytes, too short for the 8-byte header length", file_size));
  }
  // Populated up front: every tensor is copied out right after, and one batched read of the mapping
  // is cheaper than a page fault per 4 KB during the copies (ModernBERT-base: ~0.40 s instead of ~0.47).
  void* map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error(fmt::format("{}: mmap failed: {}", path, std::strerror(errno)));
  f->map_ = map;
  f->map_size_ = file_size;
  f->parse(static_cast<const uint8_t*>(map), file_size);
  return f;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_bytes(const std::string& name, std::string bytes) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = name;
  f->owned_ = std::move(bytes);
  if (f->owned_.size() < 8)
    header_error(name, fmt::format("{} bytes, too short for the 8-byte header length", f->owned_.size()));
  f->parse(reinterpret_cast<const uint8_t*>(f->owned_.data()), f->owned_.size());
  return f;
}

// Validates the whole header of the file image at base (see the class comment).
void SafetensorsFile::parse(const uint8_t* base, uint64_t file_size) {
  SafetensorsFile* f = this;
  const std::string& path = path_;

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > file_size - 8)
    header_error(path, fmt::format("header length {} exceeds the {} bytes after the length field", header_len,
                                   file_size - 8));
  if (header_len > 100u * 1024u * 1024u) header_error(path, fmt::format("header length {} is over 100 MB", header_len));
  const std::string_view header_text(reinterpret_cast<const char*>(base + 8), header_len);
  const uint64_t data_size = file_size - 8 - header_len;
  f->data_ = base + 8 + header_len;

  // Parse, rejecting duplicate top-level names (the JSON library would silently keep the last).
  std::set<std::string> seen_keys;
  std::string duplicate;
  json header;
  try {
    header = json::parse(
        header_text.begin(), header_text.end(),
        [&](int depth, json::parse_event_t event, json& parsed) {
          if (event == json::parse_event_t::key && depth == 1) {
            const std::string& key = parsed.get_ref<const std::string&>();
            if (!seen_keys.insert(key).second && duplicate.empty()) duplicate = key;
          }
          return true;
        });
  } catch (const json::exception& e) {
    header_error(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) header_error(path, fmt::format("tensor '{}' appears twice in the header", duplicate));
  if (!header.is_object()) header_error(path, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) header_error(path, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) header_error(path, fmt::format("__metadata__ value '{}' is not a string", m.key()));
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { header_error(path, fmt::format("tensor '{}': {}", name, what)); };
    if (!v.is_object()) bad("entry is not an object");
    TensorInfo info;
    info.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) bad("missing dtype");
    if (!parse_dtype(dt->get<std::string>(), &info.dtype)) bad(fmt::format("unknown dtype '{}'", dt->get<std::string>()));
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) bad("missing shape");
    for (const json& d : *sh) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) bad("shape has a non-integer or negative dimension");
      info.shape.push_back(d.get<int64_t>());
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      bad("data_offsets must be two non-negative integers");
    uint64_t b = (*off)[0].get<uint64_t>(), e = (*off)[1].get<uint64_t>();
    if (b > e) bad(fmt::format("data_offsets [{}, {}] are reversed", b, e));
    if (e > data_size) bad(fmt::format("data_offsets [{}, {}] run past the {}-byte data section", b, e, data_size));
    uint64_t expected = dtype_size(info.dtype);
    for (int64_t d : info.shape)
      if (!checked_mul(expected, (uint64_t)d, &expected)) bad("shape size overflows");
    if (expected != e - b)
      bad(fmt::format("shape {} x {} needs {} bytes but data_offsets give {}", shape_string(info.shape),
                      dtype_name(info.dtype), expected, e - b));
    info.begin = b;
    info.end = e;
    f->tensors_.push_back(std::move(info));
  }

  // No two tensors may share bytes.
  std::vector<const TensorInfo*> by_offset;
  for (auto& t : f->tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo* prev = by_offset[i - 1];
    const TensorInfo* cur = by_offset[i];
    if (cur->begin < prev->end && cur->end > cur->begin)
      header_error(path, fmt::format("tensors '{}' and '{}' overlap (bytes [{}, {}) and [{}, {}))", prev->name,
                                     cur->name, prev->begin, prev->end, cur->begin, cur->end));
  }
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->index_[f->tensors_[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void SafetensorsFile::read_f32(const TensorInfo& info, float* out) const {
  const uint8_t* src = bytes(info);
  const int64_t n = info.numel();
  // Large tensors are read on all cores: a load is bound by copying (and first-touching) hundreds of
  // megabytes, which one core does at a fraction of the memory bandwidth.
  constexpr int64_t kParallelFrom = int64_t{1} << 18;
  constexpr int64_t kCopyChunk = int64_t{1} << 16;  // floats per memcpy
  switch (info.dtype) {
    case DType::F32: {
      const int64_t chunks = (n + kCopyChunk - 1) / kCopyChunk;  // an empty tensor's `out` may be null
      #pragma omp parallel for schedule(static) if (n >= kParallelFrom)
      for (int64_t c = 0; c < chunks; ++c) {
        const int64_t begin = c * kCopyChunk, count = std::min(kCopyChunk, n - begin);
        std::memcpy(out + begin, src + 4 * begin, (size_t)count * 4);
      }
      return;
    }
    case DType::F16:
      #pragma omp parallel for schedule(static) if (n >= kParallelFrom)
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
      #pragma omp parallel for schedule(static) if (n >= kParallelFrom)
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      return;
    case DType::F64:
      #pragma omp parallel for schedule(static) if (n >= kParallelFrom)
      for (int64_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        out[i] = (float)d;
      }
      return;
    default:
      throw Error(fmt::format("{}: tensor '{}' has dtype {}, expected a floating-point dtype", path_, info.name,
                              dtype_name(info.dtype)));
  }
}

std::vector<float> SafetensorsFile::read_f32(const TensorInfo& info) const {
  std::vector<float> out((size_t)info.numel());
  read_f32(info, out.data());
  return out;
}

std::vector<int64_t> SafetensorsFile::read_i64(const TensorInfo& info) const {
  const uint8_t* src = bytes(info);
  const int64_t n = info.numel();
  std::vector<int64_t> out((size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    switch (info.dtype) {
      case DType::I64: { int64_t v; std::memcpy(&v, src + 8 * i, 8); out[i] = v; break; }
      case DType::I32: { int32_t v; std::memcpy(&v, src + 4 * i, 4); out[i] = v; break; }
      case DType::I16: { int16_t v; std::memcpy(&v, src + 2 * i, 2); out[i] = v; break; }
      case DType::I8: out[i] = (int8_t)src[i]; break;
      case DType::U8: case DType::BOOL: out[i] = src[i]; break;
      default:
        throw Error(fmt::format("{}: tensor '{}' has dtype {}, expected an integer dtype", path_, info.name,
                                dtype_name(info.dtype)));
    }
  }
  return out;
}

// ---- checkpoint (single file or shards) ----

Checkpoint Checkpoint::open_file(const std::string& path) {
  Checkpoint c;
  c.description_ = path;
  auto f = SafetensorsFile::open(path);
  for (auto& t : f->tensors()) c.entries_[t.name] = Entry{f.get(), &t};
  c.files_.push_back(std::move(f));
  return c;
}

Checkpoint Checkpoint::open_dir(const std::string& dir) {
  const std::string single = join_path(dir, "model.safetensors");
  const std::string index_path = join_path(dir, "model.safetensors.index.json");
  if (file_exists(single)) return open_file(single);
  if (file_exists(index_path)) return open_index(dir, index_path, SafetensorsFile::open);
  // PyTorch checkpoints: converted in memory to the same validated form, never unpickled freely.
  const std::string bin = join_path(dir, "pytorch_model.bin");
  const std::string bin_index = join_path(dir, "pytorch_model.bin.index.json");
  if (file_exists(bin)) {
    Checkpoint c;
    c.description_ = bin;
    c.files_.push_back(read_torch_checkpoint(bin));
    for (auto& t : c.files_[0]->tensors()) c.entries_[t.name] = Entry{c.files_[0].get(), &t};
    return c;
  }
  if (file_exists(bin_index)) return open_index(dir, bin_index, read_torch_checkpoint);
  throw Error(dir + ": no model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
              "pytorch_model.bin.index.json");
}

Checkpoint Checkpoint::open_index(const std::string& dir, const std::string& index_path,
                                  const std::function<std::shared_ptr<SafetensorsFile>(const std::string&)>& open_shard) {
  json index;
  try {
    index = json::parse(read_text_file(index_path));
  } catch (const json::exception& e) {
    throw Error(index_path + ": not valid JSON: " + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw Error(index_path + ": missing \"weight_map\" object");
  Checkpoint c;
  c.description_ = index_path;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it.value().is_string()) throw Error(fmt::format("{}: weight_map entry '{}' is not a file name", index_path, it.key()));
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard == "." || shard == ".." || shard.find_first_of(std::string("/\\\0", 3)) != std::string::npos)
      throw Error(fmt::format("{}: shard name '{}' must be a plain file name", index_path, shard));
    if (!shards.count(shard)) {
      const std::string shard_path = join_path(dir, shard);
      if (!file_exists(shard_path))
        throw Error(fmt::format("{}: shard '{}' (listed for tensor '{}') does not exist", index_path, shard, it.key()));
      shards[shard] = open_shard(shard_path);
    }
  }
  for (auto& [shard_name, file] : shards) {
    for (auto& t : file->tensors()) {
      auto [pos, inserted] = c.entries_.emplace(t.name, Entry{file.get(), &t});
      if (!inserted)
        throw Error(fmt::format("{}: tensor '{}' is stored in both {} and {}", index_path, t.name,
                                pos->second.file->path(), file->path()));
    }
    c.files_.push_back(file);
  }
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    auto e = c.entries_.find(it.key());
    if (e == c.entries_.end())
      throw Error(fmt::format("{}: tensor '{}' is listed in the index but missing from shard '{}'", index_path,
                              it.key(), it.value().get<std::string>()));
    if (std::filesystem::path(e->second.file->path()).filename() != it.value().get<std::string>())
      throw Error(fmt::format("{}: tensor '{}' is listed in shard '{}' but stored in {}", index_path, it.key(),
                              it.value().get<std::string>(), e->second.file->path()));
  }
  if (c.entries_.size() != index["weight_map"].size()) {
    for (auto& [name, e] : c.entries_)
      if (!index["weight_map"].contains(name))
        throw Error(fmt::format("{}: tensor '{}' in {} is not listed in the index", index_path, name, e.file->path()));
  }
  return c;
}

const Checkpoint::Entry* Checkpoint::find(std::string_view name) const {
  auto it = entries_.find(std::string(name));
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (auto& [k, v] : entries_) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

// ---- writer ----

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* data,
                            size_t nbytes) {
  Item item{name, dtype, std::move(shape), {}};
  item.bytes.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + nbytes);
  items_.push_back(std::move(item));
}

void SafetensorsWriter::add_f32(const std::string& name, std::vector<int64_t> shape, const float* data) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  add(name, DType::F32, std::move(shape), data, (size_t)n * 4);
}

void SafetensorsWriter::add_i64(const std::string& name, std::vector<int64_t> shape, const int64_t* data) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  add(name, DType::I64, std::move(shape), data, (size_t)n * 8);
}

void SafetensorsWriter::write(const std::string& path) const { write_file_atomic(path, serialize()); }

std::string SafetensorsWriter::serialize() const {
  // HF writes tensors sorted by name; offsets follow that order.
  std::vector<const Item*> order;
  for (auto& it : items_) order.push_back(&it);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  json header = json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  size_t offset = 0;
  for (auto* it : order) {
    header[it->name] = {{"dtype", dtype_name(it->dtype)}, {"shape", it->shape}, {"data_offsets", {offset, offset + it->bytes.size()}}};
    offset += it->bytes.size();
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // align the data section
  std::string out;
  out.reserve(8 + text.size() + offset);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back((char)((n >> (8 * i)) & 0xff));
  out += text;
  for (auto* it : order) out.append(reinterpret_cast<const char*>(it->bytes.data()), it->bytes.size());
  return out;
}

}  // namespace medenc
