// The cpu:: kernel entry points, forwarded to one instruction-set level's compilation of the
// kernels (isa.h, cmake/cpu_kernels.cmake), chosen once per process.
#include "ops/cpu/isa_dispatch.h"

#include <atomic>
#include <cstdlib>

#include <fmt/format.h>

#include "medenc/error.h"
#include "ops/cpu/backward_kernels.h"
#include "ops/cpu/cpu_kernels.h"

#define MEDENC_CPU_KERNEL(name, params, args) void name params;
#ifdef MEDENC_CPU_ISA_HAS_NATIVE
namespace medenc::ops::cpu::native {
#include "ops/cpu/isa_kernels.inc"
}
#endif
#ifdef MEDENC_CPU_ISA_HAS_BASELINE
namespace medenc::ops::cpu::baseline {
#include "ops/cpu/isa_kernels.inc"
}
#endif
#ifdef MEDENC_CPU_ISA_HAS_AVX2
namespace medenc::ops::cpu::avx2 {
#include "ops/cpu/isa_kernels.inc"
}
#endif
#ifdef MEDENC_CPU_ISA_HAS_AVX512
namespace medenc::ops::cpu::avx512 {
#include "ops/cpu/isa_kernels.inc"
}
#endif
#undef MEDENC_CPU_KERNEL

namespace medenc::ops::cpu {

namespace {

struct KernelTable {
  const char* level;
  bool (*supported)();
#define MEDENC_CPU_KERNEL(name, params, args) void(*name) params;
#include "ops/cpu/isa_kernels.inc"
#undef MEDENC_CPU_KERNEL
};

[[maybe_unused]] bool always() { return true; }
#if defined(__x86_64__) || defined(__i386__)
// __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 registers.
[[maybe_unused]] bool has_x86_64_v3() { return __builtin_cpu_supports("x86-64-v3") != 0; }
[[maybe_unused]] bool has_x86_64_v4() { return __builtin_cpu_supports("x86-64-v4") != 0; }
#endif

#define MEDENC_CPU_KERNEL(name, params, args) &MEDENC_TABLE_NS::name,
// Best first.
const KernelTable kTables[] = {
#ifdef MEDENC_CPU_ISA_HAS_NATIVE
#define MEDENC_TABLE_NS native
    {"native", always,
#include "ops/cpu/isa_kernels.inc"
    },
#undef MEDENC_TABLE_NS
#endif
#ifdef MEDENC_CPU_ISA_HAS_AVX512
#define MEDENC_TABLE_NS avx512
    {"avx512", has_x86_64_v4,
#include "ops/cpu/isa_kernels.inc"
    },
#undef MEDENC_TABLE_NS
#endif
#ifdef MEDENC_CPU_ISA_HAS_AVX2
#define MEDENC_TABLE_NS avx2
    {"avx2", has_x86_64_v3,
#include "ops/cpu/isa_kernels.inc"
    },
#undef MEDENC_TABLE_NS
#endif
#ifdef MEDENC_CPU_ISA_HAS_BASELINE
#define MEDENC_TABLE_NS baseline
    {"baseline", always,
#include "ops/cpu/isa_kernels.inc"
    },
#undef MEDENC_TABLE_NS
#endif
};
#undef MEDENC_CPU_KERNEL

const KernelTable* find_table(const std::string& level) {
  for (const KernelTable& t : kTables)
    if (level == t.level) return &t;
  return nullptr;
}

std::string levels_list() {
  std::string s;
  for (const KernelTable& t : kTables) s += std::string(s.empty() ? "" : ", ") + t.level;
  return s;
}

const KernelTable& usable_table(const std::string& level, const char* source) {
  const KernelTable* t = find_table(level);
  if (!t) throw Error(fmt::format("{}: no CPU kernels for '{}' in this build (built: {})", source, level, levels_list()));
  if (!t->supported()) throw Error(fmt::format("{}: this CPU does not support the '{}' kernels", source, level));
  return *t;
}

std::atomic<const KernelTable*> g_active{nullptr};

const KernelTable& active() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (t) return *t;
  if (const char* env = std::getenv("MEDENC_CPU_ISA"); env && *env) {
    t = &usable_table(env, "MEDENC_CPU_ISA");
  } else {
    for (const KernelTable& candidate : kTables)
      if (candidate.supported()) {
        t = &candidate;
        break;
      }
  }
  // Racing first calls all pick the same table; the first store wins.
  const KernelTable* expected = nullptr;
  g_active.compare_exchange_strong(expected, t, std::memory_order_acq_rel);
  return *g_active.load(std::memory_order_acquire);
}

}  // namespace

std::vector<std::string> isa_levels_built() {
  std::vector<std::string> levels;
  for (const KernelTable& t : kTables) levels.push_back(t.level);
  return levels;
}

bool isa_level_supported(const std::string& level) {
  const KernelTable* t = find_table(level);
  return t && t->supported();
}

std::string active_isa_level() { return active().level; }

void select_isa_level(const std::string& level) {
  g_active.store(&usable_table(level, "select_isa_level"), std::memory_order_release);
}

#define MEDENC_CPU_KERNEL(name, params, args) \
  void name params { active().name args; }
#include "ops/cpu/isa_kernels.inc"
#undef MEDENC_CPU_KERNEL

}  // namespace medenc::ops::cpu
