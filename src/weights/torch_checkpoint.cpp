// pytorch_model.bin without Python: the zip container (libzip) or the legacy stream, and a pickle
// machine restricted to a state dict. Nothing is ever called: the only "callables" are four known
// globals whose effect is reimplemented here (an empty OrderedDict, a tensor view of a storage),
// every other global is refused by name at the moment it is named, before any REDUCE.
#include "medenc/torch_checkpoint.h"

#include <zip.h>

#include <cstring>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "medenc/error.h"
#include "util/fs.h"

namespace medenc {
namespace {

struct Storage {
  DType dtype = DType::U8;
  std::string key;
  int64_t numel = 0;  // elements, as the persistent id announces
};

struct Value;
using Ref = std::shared_ptr<Value>;

struct Value {
  enum Kind { None, Bool, Int, BigInt, Float, Str, Tuple, List, Dict, Global, StorageV, Tensor } kind = None;
  int64_t i = 0;
  double f = 0;
  std::string s;  // Str; BigInt's little-endian bytes; Global's "module.name"
  std::vector<Ref> items;
  std::vector<std::pair<Ref, Ref>> dict;
  std::shared_ptr<Storage> storage;
  // Tensor: a view of storage.
  int64_t offset = 0;
  std::vector<int64_t> shape, stride;
};

const char* kind_name(Value::Kind k) {
  static const char* names[] = {"None", "bool", "int", "int", "float", "str", "tuple", "list", "dict", "global",
                                "storage", "tensor"};
  return names[k];
}

// The globals a state dict may name. Storage classes map to the element type they hold.
bool storage_dtype(const std::string& global, DType* out) {
  static const std::pair<const char*, DType> table[] = {
      {"torch.FloatStorage", DType::F32},    {"torch.HalfStorage", DType::F16},
      {"torch.BFloat16Storage", DType::BF16}, {"torch.DoubleStorage", DType::F64},
      {"torch.LongStorage", DType::I64},     {"torch.IntStorage", DType::I32},
      {"torch.ShortStorage", DType::I16},    {"torch.CharStorage", DType::I8},
      {"torch.ByteStorage", DType::U8},      {"torch.BoolStorage", DType::BOOL},
      {"torch.UntypedStorage", DType::U8},   {"torch.storage.UntypedStorage", DType::U8}};
  for (auto& [name, d] : table)
    if (global == name) {
      *out = d;
      return true;
    }
  return false;
}

bool allowed_callable(const std::string& g) {
  return g == "collections.OrderedDict" || g == "torch._utils._rebuild_tensor_v2" ||
         g == "torch._utils._rebuild_tensor" || g == "torch._utils._rebuild_parameter";
}

class Unpickler {
 public:
  Unpickler(const std::string& where, const uint8_t* data, size_t size, std::map<std::string, std::shared_ptr<Storage>>* storages)
      : where_(where), begin_(data), p_(data), end_(data + size), storages_(storages) {}

  Ref run() {
    while (true) {
      if (p_ >= end_) fail("pickle ends without STOP");
      const uint8_t op = *p_++;
      switch (op) {
        case 0x80: take(1); break;  // PROTO
        case 0x95: take(8); break;  // FRAME (a length hint)
        case '(': marks_.push_back(stack_.size()); break;
        case '.': {
          if (stack_.size() != 1) fail("STOP with a stack of " + std::to_string(stack_.size()));
          return stack_.back();
        }
        case 'N': push(make(Value::None)); break;
        case 0x88: case 0x89: { auto v = make(Value::Bool); v->i = op == 0x88; push(v); break; }
        case 'J': { int32_t x; std::memcpy(&x, take(4), 4); push_int(x); break; }
        case 'K': push_int(*take(1)); break;
        case 'M': { uint16_t x; std::memcpy(&x, take(2), 2); push_int(x); break; }
        case 0x8a: {  // LONG1
          const size_t n = *take(1);
          const uint8_t* b = take(n);
          if (n <= 8) {
            uint64_t u = 0;
            for (size_t k = 0; k < n; ++k) u |= (uint64_t)b[k] << (8 * k);
            if (n > 0 && n < 8 && (b[n - 1] & 0x80)) u |= ~0ull << (8 * n);  // sign-extend
            push_int((int64_t)u);
          } else {
            auto v = make(Value::BigInt);
            v->s.assign(reinterpret_cast<const char*>(b), n);
            push(v);
          }
          break;
        }
        case 'G': {
          const uint8_t* b = take(8);
          uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = (u << 8) | b[k];
          auto v = make(Value::Float);
          std::memcpy(&v->f, &u, 8);
          push(v);
          break;
        }
        case 'X': { uint32_t n; std::memcpy(&n, take(4), 4); push_str(take(n), n); break; }
        case 0x8c: { size_t n = *take(1); push_str(take(n), n); break; }
        case 0x8d: { uint64_t n; std::memcpy(&n, take(8), 8); push_str(take(n), n); break; }
        case ')': push(make(Value::Tuple)); break;
        case 't': { auto v = make(Value::Tuple); v->items = pop_mark(); push(v); break; }
        case 0x85: case 0x86: case 0x87: {
          auto v = make(Value::Tuple);
          v->items.resize(op - 0x84);
          for (size_t k = v->items.size(); k-- > 0;) v->items[k] = pop();
          push(v);
          break;
        }
        case ']': push(make(Value::List)); break;
        case 'l': { auto v = make(Value::List); v->items = pop_mark(); push(v); break; }
        case '}': push(make(Value::Dict)); break;
        case 'd': {
          auto items = pop_mark();
          if (items.size() % 2) fail("DICT with an odd number of items");
          auto v = make(Value::Dict);
          for (size_t k = 0; k < items.size(); k += 2) v->dict.emplace_back(items[k], items[k + 1]);
          push(v);
          break;
        }
        case 'a': { Ref x = pop(); list_target("APPEND")->items.push_back(x); break; }
        case 'e': {
          auto items = pop_mark();
          Ref l = list_target("APPENDS");
          for (auto& x : items) l->items.push_back(x);
          break;
        }
        case 's': { Ref val = pop(); Ref key = pop(); set_item(dict_target("SETITEM"), key, val); break; }
        case 'u': {
          auto items = pop_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of items");
          Ref d = dict_target("SETITEMS");
          for (size_t k = 0; k < items.size(); k += 2) set_item(d, items[k], items[k + 1]);
          break;
        }
        case 'q': memo_put(*take(1)); break;
        case 'r': { uint32_t k; std::memcpy(&k, take(4), 4); memo_put(k); break; }
        case 0x94: memo_put((uint32_t)memo_.size()); break;
        case 'h': memo_get(*take(1)); break;
        case 'j': { uint32_t k; std::memcpy(&k, take(4), 4); memo_get(k); break; }
        case 'c': {
          std::string module = line(), name = line();
          push_global(module + "." + name);
          break;
        }
        case 0x93: {
          Ref name = pop(), module = pop();
          if (name->kind != Value::Str || module->kind != Value::Str) fail("STACK_GLOBAL of non-strings");
          push_global(module->s + "." + name->s);
          break;
        }
        case 'Q': persistent_load(pop()); break;
        case 'R': reduce(); break;
        case 'b': build(); break;
        default:
          fail(fmt::format("pickle opcode 0x{:02x}{} is not allowed in a state dict", op,
                           std::isprint(op) ? fmt::format(" ('{}')", (char)op) : std::string()));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: refused: {} (pickle byte {})", where_, what, (size_t)(p_ - begin_)));
  }

  const uint8_t* take(size_t n) {
    if ((size_t)(end_ - p_) < n) fail("pickle is truncated");
    const uint8_t* b = p_;
    p_ += n;
    return b;
  }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) fail("GLOBAL without a newline");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }
  static Ref make(Value::Kind k) {
    auto v = std::make_shared<Value>();
    v->kind = k;
    return v;
  }
  void push(Ref v) {
    if (stack_.size() > (1u << 20)) fail("pickle stack too deep");
    stack_.push_back(std::move(v));
  }
  void push_int(int64_t x) { auto v = make(Value::Int); v->i = x; push(v); }
  void push_str(const uint8_t* b, size_t n) {
    auto v = make(Value::Str);
    v->s.assign(reinterpret_cast<const char*>(b), n);
    push(v);
  }
  Ref pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pickle stack underflow");
    Ref v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  Ref top(const char* op) {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail(std::string(op) + " on an empty stack");
    return stack_.back();
  }
  Ref list_target(const char* op) {
    Ref t = top(op);
    if (t->kind != Value::List) fail(fmt::format("{} to a {}", op, kind_name(t->kind)));
    return t;
  }
  Ref dict_target(const char* op) {
    Ref t = top(op);
    if (t->kind != Value::Dict) fail(fmt::format("{} on a {}", op, kind_name(t->kind)));
    return t;
  }
  void set_item(const Ref& d, const Ref& key, const Ref& val) {
    if (d->dict.size() > (1u << 24)) fail("dict too large");
    d->dict.emplace_back(key, val);
  }
  void memo_put(uint32_t k) {
    if (stack_.empty()) fail("memo store on an empty stack");
    memo_[k] = stack_.back();
  }
  void memo_get(uint32_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail(fmt::format("memo key {} used before it was stored", k));
    push(it->second);
  }

  void push_global(const std::string& g) {
    DType d;
    if (!allowed_callable(g) && !storage_dtype(g, &d))
      fail(fmt::format("global '{}' is not allowed in a state dict (medenc never runs code from a checkpoint)", g));
    auto v = make(Value::Global);
    v->s = g;
    push(v);
  }

  // ('storage', <storage class>, key, location, numel[, view metadata])
  void persistent_load(const Ref& pid) {
    if (pid->kind != Value::Tuple || pid->items.size() < 5 || pid->items[0]->kind != Value::Str ||
        pid->items[0]->s != "storage")
      fail("persistent id is not a ('storage', ...) tuple");
    const Ref& type = pid->items[1];
    DType dtype;
    if (type->kind != Value::Global || !storage_dtype(type->s, &dtype)) fail("persistent id without a storage class");
    const Ref& key = pid->items[2];
    if (key->kind != Value::Str || key->s.empty() || key->s.size() > 64) fail("storage key is not a short string");
    for (char c : key->s)
      if (!std::isalnum((unsigned char)c) && c != '_') fail(fmt::format("storage key '{}' is not a plain name", key->s));
    if (pid->items[4]->kind != Value::Int || pid->items[4]->i < 0) fail("storage size is not a count");
    if (pid->items.size() > 5 && pid->items[5]->kind != Value::None) fail("storage views are not supported");
    auto& slot = (*storages_)[key->s];
    if (!slot) {
      slot = std::make_shared<Storage>();
      slot->dtype = dtype;
      slot->key = key->s;
      slot->numel = pid->items[4]->i;
    } else if (slot->dtype != dtype) {
      fail(fmt::format("storage '{}' is used as both {} and {}", key->s, dtype_name(slot->dtype), dtype_name(dtype)));
    }
    auto v = make(Value::StorageV);
    v->storage = slot;
    push(v);
  }

  static bool int_tuple(const Ref& v, std::vector<int64_t>* out) {
    if (v->kind != Value::Tuple) return false;
    out->clear();
    for (auto& x : v->items) {
      if (x->kind != Value::Int || x->i < 0) return false;
      out->push_back(x->i);
    }
    return true;
  }

  void reduce() {
    Ref args = pop();
    Ref fn = pop();
    if (fn->kind != Value::Global) fail(fmt::format("REDUCE calls a {}, not an allowed global", kind_name(fn->kind)));
    if (args->kind != Value::Tuple) fail(fmt::format("REDUCE of '{}' with {} arguments", fn->s, kind_name(args->kind)));
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict") {
      if (!a.empty()) fail("OrderedDict called with arguments");
      push(make(Value::Dict));
      return;
    }
    if (fn->s == "torch._utils._rebuild_parameter") {
      if (a.size() < 1 || a[0]->kind != Value::Tensor) fail("_rebuild_parameter without a tensor");
      push(a[0]);
      return;
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2" || fn->s == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
      if (a.size() < 4 || a[0]->kind != Value::StorageV || a[1]->kind != Value::Int || a[1]->i < 0)
        fail(fmt::format("{} with unexpected arguments", fn->s));
      auto t = make(Value::Tensor);
      t->storage = a[0]->storage;
      t->offset = a[1]->i;
      if (!int_tuple(a[2], &t->shape) || !int_tuple(a[3], &t->stride) || t->shape.size() != t->stride.size())
        fail(fmt::format("{}: size and stride must be tuples of equal length of non-negative ints", fn->s));
      if (a.size() > 5 && !(a[5]->kind == Value::Dict && a[5]->dict.empty()))
        fail("tensor with backward hooks");
      push(t);
      return;
    }
    fail(fmt::format("REDUCE of '{}' is not allowed", fn->s));
  }

  // BUILD sets state on an object. The one legitimate use is the state dict's `_metadata`
  // attribute (a dict on an OrderedDict): accepted and dropped. Anything else is a trick.
  void build() {
    Ref state = pop();
    Ref target = top("BUILD");
    if (target->kind != Value::Dict || state->kind != Value::Dict)
      fail(fmt::format("BUILD of a {} on a {} is not allowed", kind_name(state->kind), kind_name(target->kind)));
    for (auto& [k, v] : state->dict)
      if (k->kind != Value::Str || k->s != "_metadata")
        fail(fmt::format("BUILD sets attribute '{}' (only _metadata is allowed)", k->kind == Value::Str ? k->s : "?"));
  }

  std::string where_;
  const uint8_t* begin_;
  const uint8_t* p_;
  const uint8_t* end_;
  std::map<std::string, std::shared_ptr<Storage>>* storages_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Ref> memo_;
};

struct NamedTensor {
  std::string name;
  Ref tensor;
};

// Tensor names go into a JSON header (pickle strings are UTF-8 by construction; damage is not).
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = (unsigned char)s[i];
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if (((unsigned char)s[i + k] >> 6) != 2) return false;
    i += n;
  }
  return true;
}

std::vector<NamedTensor> state_dict_entries(const std::string& path, const Ref& root) {
  if (root->kind != Value::Dict)
    throw Error(fmt::format("{}: refused: the pickle holds a {}, not a state dict", path, kind_name(root->kind)));
  std::vector<NamedTensor> out;
  std::map<std::string, bool> seen;
  for (auto& [k, v] : root->dict) {
    if (k->kind != Value::Str) throw Error(fmt::format("{}: refused: a state dict key is a {}", path, kind_name(k->kind)));
    if (v->kind != Value::Tensor)
      throw Error(fmt::format("{}: refused: entry '{}' is a {}, not a tensor (a flat state dict is expected)", path,
                              k->s, kind_name(v->kind)));
    if (!valid_utf8(k->s)) throw Error(fmt::format("{}: refused: a tensor name is not valid UTF-8", path));
    if (seen[k->s]) throw Error(fmt::format("{}: tensor '{}' appears twice", path, k->s));
    seen[k->s] = true;
    out.push_back({k->s, v});
  }
  return out;
}

// Copies the elements of a (possibly strided, offset) view into a contiguous buffer.
std::string gather(const std::string& path, const std::string& name, const Value& t, const std::string& bytes) {
  const size_t es = dtype_size(t.storage->dtype);
  const int64_t storage_elems = (int64_t)(bytes.size() / es);
  int64_t numel = 1;
  for (int64_t d : t.shape) {
    if (d != 0 && numel > (int64_t(1) << 40) / d) throw Error(fmt::format("{}: tensor '{}' is too large", path, name));
    numel *= d;
  }
  std::string out((size_t)numel * es, '\0');
  if (numel == 0) return out;
  int64_t last = t.offset;
  bool overflow = false;
  for (size_t k = 0; k < t.shape.size(); ++k) {
    int64_t span;
    overflow |= __builtin_mul_overflow(t.shape[k] - 1, t.stride[k], &span) || __builtin_add_overflow(last, span, &last);
  }
  if (overflow || last >= storage_elems)
    throw Error(fmt::format("{}: tensor '{}' {} (offset {}, strides {}) reads element {} of a {}-element storage '{}'",
                            path, name, shape_string(t.shape), t.offset, shape_string(t.stride), last, storage_elems,
                            t.storage->key));
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t k = t.shape.size(); k-- > 0;) {
    if (t.shape[k] != 1 && t.stride[k] != expect) contiguous = false;
    expect *= t.shape[k];
  }
  if (contiguous) {
    std::memcpy(out.data(), bytes.data() + t.offset * es, out.size());
    return out;
  }
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (int64_t n = 0; n < numel; ++n) {
    int64_t src = t.offset;
    for (size_t k = 0; k < idx.size(); ++k) src += idx[k] * t.stride[k];
    std::memcpy(out.data() + n * es, bytes.data() + src * es, es);
    for (size_t k = idx.size(); k-- > 0;) {
      if (++idx[k] < t.shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

std::string to_safetensors(const std::string& path, const std::vector<NamedTensor>& entries,
                           const std::map<std::string, std::string>& storage_bytes) {
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (auto& e : entries) {
    const Value& t = *e.tensor;
    auto it = storage_bytes.find(t.storage->key);
    if (it == storage_bytes.end())
      throw Error(fmt::format("{}: tensor '{}' uses storage '{}', which the file does not hold", path, e.name,
                              t.storage->key));
    const std::string data = gather(path, e.name, t, it->second);
    w.add(e.name, t.storage->dtype, t.shape, data.data(), data.size());
  }
  return w.serialize();
}

// ---- zip container (torch >= 1.6) ----

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};

std::string read_entry(const std::string& path, zip_t* z, zip_uint64_t index, const std::string& name) {
  zip_stat_t st;
  if (zip_stat_index(z, index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    throw Error(fmt::format("{}: cannot stat zip entry '{}'", path, name));
  zip_file_t* f = zip_fopen_index(z, index, 0);
  if (!f) throw Error(fmt::format("{}: cannot open zip entry '{}': {}", path, name, zip_strerror(z)));
  std::string out(st.size, '\0');
  zip_int64_t got = out.empty() ? 0 : zip_fread(f, out.data(), out.size());
  zip_fclose(f);
  if (got < 0 || (zip_uint64_t)got != st.size)
    throw Error(fmt::format("{}: zip entry '{}' is truncated or corrupt", path, name));
  return out;
}

bool safe_entry_name(const std::string& n) {
  if (n.empty() || n.front() == '/' || n.find('\\') != std::string::npos || n.find(':') != std::string::npos) return false;
  size_t start = 0;
  while (start <= n.size()) {
    size_t end = n.find('/', start);
    if (end == std::string::npos) end = n.size();
    if (n.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

std::string zip_to_safetensors(const std::string& path) {
  int err = 0;
  std::unique_ptr<zip_t, ZipCloser> z(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!z) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = zip_error_strerror(&ze);
    zip_error_fini(&ze);
    throw Error(fmt::format("{}: not a readable PyTorch zip checkpoint: {}", path, msg));
  }
  const zip_int64_t n = zip_get_num_entries(z.get(), 0);
  std::map<std::string, zip_uint64_t> by_name;
  std::string pickle_name;
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* c = zip_get_name(z.get(), (zip_uint64_t)i, ZIP_FL_ENC_RAW);
    if (!c) throw Error(fmt::format("{}: zip entry {} has no name", path, i));
    const std::string name = c;
    if (!safe_entry_name(name)) throw Error(fmt::format("{}: refused: zip entry name '{}' is not a safe relative path", path, name));
    by_name[name] = (zip_uint64_t)i;
    const size_t slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash) == "/data.pkl") {
      if (!pickle_name.empty()) throw Error(fmt::format("{}: two state dict pickles ({}, {})", path, pickle_name, name));
      pickle_name = name;
    }
  }
  if (pickle_name.empty()) throw Error(fmt::format("{}: zip archive without <name>/data.pkl: not a torch.save file", path));
  const std::string prefix = pickle_name.substr(0, pickle_name.find('/') + 1);
  if (auto bo = by_name.find(prefix + "byteorder"); bo != by_name.end()) {
    std::string order = read_entry(path, z.get(), bo->second, bo->first);
    if (order != "little") throw Error(fmt::format("{}: byte order '{}' is not supported", path, order));
  }
  const std::string pickle = read_entry(path, z.get(), by_name[pickle_name], pickle_name);
  std::map<std::string, std::shared_ptr<Storage>> storages;
  Ref root = Unpickler(path + " (" + pickle_name + ")", reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size(),
                       &storages)
                 .run();
  const std::vector<NamedTensor> entries = state_dict_entries(path, root);
  std::map<std::string, std::string> bytes;
  for (auto& [key, s] : storages) {
    const std::string entry = prefix + "data/" + key;
    auto it = by_name.find(entry);
    if (it == by_name.end()) throw Error(fmt::format("{}: storage '{}' is missing (no zip entry {})", path, key, entry));
    bytes[key] = read_entry(path, z.get(), it->second, entry);
    if (bytes[key].size() < (size_t)s->numel * dtype_size(s->dtype))
      throw Error(fmt::format("{}: storage '{}' holds {} bytes, fewer than its {} {} elements", path, key,
                              bytes[key].size(), s->numel, dtype_name(s->dtype)));
  }
  return to_safetensors(path, entries, bytes);
}

// ---- legacy stream (torch < 1.6): magic, protocol, sys_info, the dict, storage keys, storages ----

constexpr uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

// Each part of the stream is its own pickle; find where one ends by running it.
class StreamCursor {
 public:
  StreamCursor(const std::string& data) : data_(data) {}
  Ref next(const std::string& where, std::map<std::string, std::shared_ptr<Storage>>* storages) {
    // The unpickler stops at STOP; measure consumption by scanning for the consumed length.
    LengthProbe probe(where, reinterpret_cast<const uint8_t*>(data_.data()) + pos_, data_.size() - pos_, storages);
    Ref v = probe.value;
    pos_ += probe.consumed;
    return v;
  }
  size_t pos() const { return pos_; }
  void skip(size_t n) { pos_ += n; }

 private:
  struct LengthProbe {
    Ref value;
    size_t consumed = 0;
    LengthProbe(const std::string& where, const uint8_t* d, size_t n, std::map<std::string, std::shared_ptr<Storage>>* s) {
      const uint8_t* stop = find_stop(where, d, n);
      consumed = (size_t)(stop - d) + 1;
      value = Unpickler(where, d, consumed, s).run();
    }
  };
  // Walks the opcodes (without interpreting them) to the STOP of this pickle.
  static const uint8_t* find_stop(const std::string& where, const uint8_t* d, size_t n) {
    const uint8_t* p = d;
    const uint8_t* end = d + n;
    auto need = [&](size_t k) {
      if ((size_t)(end - p) < k) throw Error(where + ": refused: pickle is truncated");
    };
    while (p < end) {
      const uint8_t op = *p++;
      size_t arg = 0;
      switch (op) {
        case '.': return p - 1;
        case 0x80: case 'K': case 'q': case 'h': arg = 1; break;
        case 'M': arg = 2; break;
        case 'J': case 'r': case 'j': arg = 4; break;
        case 0x95: case 'G': arg = 8; break;
        case 0x8a: need(1); arg = 1 + p[0]; break;
        case 0x8c: need(1); arg = 1 + p[0]; break;
        case 'X': { need(4); uint32_t l; std::memcpy(&l, p, 4); arg = 4 + (size_t)l; break; }
        case 0x8d: { need(8); uint64_t l; std::memcpy(&l, p, 8); if (l > n) throw Error(where + ": refused: pickle is truncated"); arg = 8 + l; break; }
        case 'c': {
          for (int k = 0; k < 2; ++k) {
            const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
            if (!nl) throw Error(where + ": refused: pickle is truncated");
            p = nl + 1;
          }
          break;
        }
        default: break;  // no argument; the interpreter refuses unknown opcodes itself
      }
      need(arg);
      p += arg;
    }
    throw Error(where + ": refused: pickle ends without STOP");
  }
  const std::string& data_;
  size_t pos_ = 0;
};

std::string legacy_to_safetensors(const std::string& path, const std::string& data) {
  StreamCursor cur(data);
  std::map<std::string, std::shared_ptr<Storage>> storages, none;
  Ref magic = cur.next(path, &none);
  if (magic->kind != Value::BigInt || magic->s != std::string(reinterpret_cast<const char*>(kLegacyMagic), 10))
    throw Error(path + ": not a PyTorch checkpoint (bad magic number)");
  Ref proto = cur.next(path, &none);
  if (proto->kind != Value::Int || proto->i != 1001)
    throw Error(fmt::format("{}: legacy protocol version {} is not supported", path, proto->i));
  Ref sys_info = cur.next(path, &none);
  if (sys_info->kind == Value::Dict)
    for (auto& [k, v] : sys_info->dict)
      if (k->kind == Value::Str && k->s == "little_endian" && v->kind == Value::Bool && !v->i)
        throw Error(path + ": big-endian checkpoints are not supported");
  Ref root = cur.next(path, &storages);
  const std::vector<NamedTensor> entries = state_dict_entries(path, root);
  Ref keys = cur.next(path, &none);
  if (keys->kind != Value::List) throw Error(path + ": refused: the storage key list is not a list");
  std::map<std::string, std::string> bytes;
  size_t pos = cur.pos();
  for (auto& k : keys->items) {
    if (k->kind != Value::Str) throw Error(path + ": refused: a storage key is not a string");
    auto it = storages.find(k->s);
    if (it == storages.end()) throw Error(fmt::format("{}: storage '{}' is listed but no tensor uses it", path, k->s));
    if (data.size() - pos < 8) throw Error(fmt::format("{}: truncated before storage '{}'", path, k->s));
    int64_t count;
    std::memcpy(&count, data.data() + pos, 8);
    pos += 8;
    const size_t nbytes = (size_t)count * dtype_size(it->second->dtype);
    if (count < 0 || data.size() - pos < nbytes) throw Error(fmt::format("{}: storage '{}' is truncated", path, k->s));
    bytes[k->s] = data.substr(pos, nbytes);
    pos += nbytes;
  }
  return to_safetensors(path, entries, bytes);
}

}  // namespace

std::string torch_checkpoint_to_safetensors(const std::string& path) {
  std::string head;
  {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw Error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    char b[4] = {0};
    const size_t got = std::fread(b, 1, 4, f);
    std::fclose(f);
    head.assign(b, got);
  }
  if (head.size() == 4 && head[0] == 'P' && head[1] == 'K') return zip_to_safetensors(path);
  if (head.size() >= 2 && (uint8_t)head[0] == 0x80) return legacy_to_safetensors(path, read_text_file(path));
  throw Error(fmt::format("{}: neither a PyTorch zip checkpoint nor a legacy torch.save stream", path));
}

std::shared_ptr<SafetensorsFile> read_torch_checkpoint(const std::string& path) {
  return SafetensorsFile::from_bytes(path, torch_checkpoint_to_safetensors(path));
}

}  // namespace medenc
