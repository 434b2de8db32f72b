#pragma once
// Which instruction-set level's CPU kernels run (see isa.h). The cpu:: entry points in
// cpu_kernels.h and backward_kernels.h forward to the level chosen once per process: the best one
// this CPU supports, or the one MEDENC_CPU_ISA names (baseline, avx2, avx512; native in
// MEDENC_NATIVE builds, which have only that one).
#include <string>
#include <vector>

namespace medenc::ops::cpu {

// The levels this build has kernels for, best first.
std::vector<std::string> isa_levels_built();
// Whether this CPU and OS can run the kernels of `level` (false for a level not built).
bool isa_level_supported(const std::string& level);
// The level in use (choosing it on the first call; throws Error if MEDENC_CPU_ISA names a level
// that is not built or not supported here).
std::string active_isa_level();
// Runs `level`'s kernels from now on, in every thread (for tests and benchmarks; not while kernels
// run). Throws Error if the level is not built or not supported here.
void select_isa_level(const std::string& level);

}  // namespace medenc::ops::cpu
