// The CPU path's threading set-up: OpenBLAS's kernels are replaced only where its detection fell back to pre-AVX2
// ones, and only by kernels whose instructions this CPU has; processes sharing the machine share its CPUs.
#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu_threads.h"
#include "test_util.h"

extern "C" char* openblas_get_corename(void) __attribute__((weak));

namespace normrt {
namespace {

const char* const kPreAvx2Cores[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge"};

bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

TEST(BlasKernels, CoresOpenBlasRecognisedAreKept) {
  for (const char* core : {"SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen", "Generic"})
    EXPECT_EQ(cpu::blas_kernels_for(core), nullptr) << core;
}

TEST(BlasKernels, FallbackCoresGetKernelsForInstructionsTheCpuHas) {
  __builtin_cpu_init();
  for (const char* core : kPreAvx2Cores) {
    SCOPED_TRACE(core);
    const char* chosen = cpu::blas_kernels_for(core);
    EXPECT_EQ(chosen != nullptr, has_avx2());
    if (chosen == nullptr) continue;
    if (std::strcmp(chosen, "SkylakeX") == 0) {
      EXPECT_TRUE(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"));
    } else {
      EXPECT_STREQ(chosen, "Haswell");
    }
  }
}

TEST(BlasKernels, PreparedBlasRunsKernelsForThisCpu) {
  if (openblas_get_corename == nullptr) GTEST_SKIP() << "the BLAS is not OpenBLAS";
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) GTEST_SKIP() << "OPENBLAS_CORETYPE chooses the kernels";
  cpu::prepare_blas();
  const std::string core = openblas_get_corename();
  bool pre_avx2 = false;
  for (const char* name : kPreAvx2Cores) pre_avx2 = pre_avx2 || core == name;
  EXPECT_FALSE(pre_avx2 && has_avx2()) << "OpenBLAS runs its " << core << " kernels on an AVX2 CPU";
}

// Processes of one launch on one machine share the CPUs of their masks evenly, at least one thread each; processes
// bound to CPUs of their own, and a process alone, keep OpenMP's default.
TEST(ProcessThreads, LocalProcessesSplitTheCpusTheyMayAllRunOn) {
  EXPECT_EQ(cpu::threads_per_local_process(2, 2, 2), 1);  // unbound
  EXPECT_EQ(cpu::threads_per_local_process(2, 2, 3), 1);  // oversubscribed
  EXPECT_EQ(cpu::threads_per_local_process(64, 64, 8), 8);
  EXPECT_EQ(cpu::threads_per_local_process(64, 64, 3), 21);
  EXPECT_EQ(cpu::threads_per_local_process(32, 64, 8), 8);  // bound to one of two sockets, four processes each
  EXPECT_EQ(cpu::threads_per_local_process(1, 2, 2), 0);    // bound to a core each
  EXPECT_EQ(cpu::threads_per_local_process(8, 64, 8), 0);   // bound to an eighth each
  EXPECT_EQ(cpu::threads_per_local_process(64, 64, 1), 0);
}

}  // namespace
}  // namespace normrt
