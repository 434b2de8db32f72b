#pragma once
// Included last by every CPU kernel source that is compiled once per instruction-set level
// (cmake/cpu_kernels.cmake lists them). The build defines MEDENC_CPU_ISA_NS, the namespace of this
// compilation (baseline, avx2, avx512, or native in MEDENC_NATIVE builds), and for avx2/avx512 the
// macro MEDENC_CPU_ISA_AVX2/_AVX512. The level is switched on by a target pragma after every
// library header rather than by -m flags, so the standard library's and our headers' inline and
// template functions stay baseline code in every compilation: the linker keeps one copy of each,
// and it must run on any x86-64. Only what follows (the kernels, in MEDENC_CPU_ISA_NS) is compiled
// for the level; isa_dispatch.cpp picks the level at run time.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "ops/cpu/backward_kernels.h"
#include "ops/cpu/cpu_kernels.h"

#ifndef MEDENC_CPU_ISA_NS
#error "CPU kernel sources are built through cmake/cpu_kernels.cmake, which defines MEDENC_CPU_ISA_NS"
#endif

// x86-64-v3 (Haswell and later) and x86-64-v4 (AVX-512 F/BW/DQ/VL/CD). The ISA macros (__AVX2__...)
// do not follow a target pragma in C++, so the kernels test MEDENC_AVX2 / MEDENC_AVX512 instead.
#if defined(MEDENC_CPU_ISA_AVX512)
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512cd")
#define MEDENC_AVX2 1
#define MEDENC_AVX512 1
#elif defined(MEDENC_CPU_ISA_AVX2)
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,popcnt")
#define MEDENC_AVX2 1
#elif defined(MEDENC_CPU_ISA_NATIVE)  // -march=native build: whatever the host has
#if defined(__AVX2__) && defined(__FMA__)
#define MEDENC_AVX2 1
#endif
#if defined(__AVX512F__)
#define MEDENC_AVX512 1
#endif
#endif

namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS {
#define MEDENC_CPU_KERNEL(name, params, args) void name params;
#include "ops/cpu/isa_kernels.inc"
#undef MEDENC_CPU_KERNEL
}  // namespace medenc::ops::cpu::MEDENC_CPU_ISA_NS
