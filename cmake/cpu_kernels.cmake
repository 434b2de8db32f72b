# CPU kernels with run-time instruction-set dispatch (src/ops/cpu/isa.h).
#
# The kernel sources below are taken out of medenc_core's own sources and compiled once per level,
# each into its own namespace (MEDENC_CPU_ISA_NS): baseline (plain x86-64, or the target's default
# elsewhere), avx2 (x86-64-v3: AVX2 + FMA) and avx512 (x86-64-v4: AVX-512 F/BW/DQ/VL/CD). The level
# is switched on inside each file by a target pragma (isa.h), so no -m flag reaches the headers.
# src/ops/cpu/isa_dispatch.cpp forwards the cpu:: entry points to the best level the CPU supports,
# or to the one MEDENC_CPU_ISA names. With MEDENC_NATIVE=ON they are compiled once, for the host
# (-march=native), as the single level "native".
# Included from CMakeLists.txt after medenc_core is defined.

set(MEDENC_CPU_KERNEL_SOURCES
  src/ops/cpu/activation_backward.cpp
  src/ops/cpu/adamw_update.cpp
  src/ops/cpu/attention.cpp
  src/ops/cpu/attention_bf16.cpp
  src/ops/cpu/attention_backward.cpp
  src/ops/cpu/bf16_rows.cpp
  src/ops/cpu/int8_rows.cpp
  src/ops/cpu/elementwise.cpp
  src/ops/cpu/layernorm_backward.cpp)

if(MEDENC_NATIVE)
  set(MEDENC_CPU_ISA_LEVELS native)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(MEDENC_CPU_ISA_LEVELS baseline avx2 avx512)
else()
  set(MEDENC_CPU_ISA_LEVELS baseline)  # other targets, and compilers without GCC's target pragma
endif()

# Out of medenc_core's glob: they are compiled per level instead.
get_target_property(_medenc_core_sources medenc_core SOURCES)
foreach(_source ${MEDENC_CPU_KERNEL_SOURCES})
  list(REMOVE_ITEM _medenc_core_sources ${CMAKE_CURRENT_SOURCE_DIR}/${_source})
endforeach()
set_property(TARGET medenc_core PROPERTY SOURCES ${_medenc_core_sources})

set(_medenc_isa_first TRUE)
foreach(_level ${MEDENC_CPU_ISA_LEVELS})
  string(TOUPPER ${_level} _LEVEL)
  set(_target medenc_cpu_kernels_${_level})
  add_library(${_target} OBJECT ${MEDENC_CPU_KERNEL_SOURCES})
  set_target_properties(${_target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${_target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/include ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_definitions(${_target} PRIVATE MEDENC_CPU_ISA_NS=${_level} MEDENC_CPU_ISA_${_LEVEL})
  if(_medenc_isa_first)  # this compilation also defines the few functions that are not per level
    target_compile_definitions(${_target} PRIVATE MEDENC_CPU_ISA_SHARED)
    set(_medenc_isa_first FALSE)
  endif()
  target_compile_options(${_target} PRIVATE ${MEDENC_WARNINGS} ${MEDENC_FLOAT_FLAGS} $<$<CONFIG:Release>:${MEDENC_OPT_FLAGS}>)
  target_link_libraries(${_target} PRIVATE OpenMP::OpenMP_CXX DNNL::dnnl nlohmann_json::nlohmann_json fmt::fmt)
  target_sources(medenc_core PRIVATE $<TARGET_OBJECTS:${_target}>)
  set_property(SOURCE src/ops/cpu/isa_dispatch.cpp TARGET_DIRECTORY medenc_core APPEND PROPERTY
               COMPILE_DEFINITIONS MEDENC_CPU_ISA_HAS_${_LEVEL})
endforeach()
