#include "cpu_threads.h"

#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "log.h"

// Declared weak: present when the BLAS is OpenBLAS (the last two only in its DYNAMIC_ARCH builds, as Debian's),
// null otherwise (a user-chosen BLA_VENDOR).
extern "C" void openblas_set_num_threads(int num_threads) __attribute__((weak));
extern "C" char* openblas_get_corename(void) __attribute__((weak));
extern "C" void gotoblas_dynamic_init(void) __attribute__((weak));
extern "C" void gotoblas_dynamic_quit(void) __attribute__((weak));

namespace normrt::cpu {

namespace {

// OpenBLAS 0.3.21 picks its kernels by CPU model and falls back to Prescott's SSE3 ones on models newer than it
// knows (an Emerald Rapids Xeon: a 512x512 sgemm 8.6 ms instead of 1.9 ms with its SkylakeX kernels, one thread).
// Its dynamic dispatch re-reads OPENBLAS_CORETYPE when re-initialised; this runs before normrt's first BLAS call.
void choose_blas_kernels() {
  if (openblas_get_corename == nullptr || gotoblas_dynamic_init == nullptr || gotoblas_dynamic_quit == nullptr) return;
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice
  const std::string detected = openblas_get_corename();
  const char* better = blas_kernels_for(detected.c_str());
  if (better == nullptr) return;
  setenv("OPENBLAS_CORETYPE", better, 0);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");
  detail::debug_log("OpenBLAS chose its " + detected + " kernels for a CPU it does not know; using its " +
                    openblas_get_corename() + " kernels (set OPENBLAS_CORETYPE to choose)");
}

}  // namespace

const char* blas_kernels_for(const char* detected) {
  static const char* const pre_avx2[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge"};
  bool old = false;
  for (const char* name : pre_avx2) old = old || std::strcmp(detected, name) == 0;
  if (!old) return nullptr;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

void prepare_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    choose_blas_kernels();
    if (openblas_set_num_threads != nullptr) openblas_set_num_threads(1);
  });
}

int threads_per_local_process(int allowed_cpus, int online_cpus, int local_processes) {
  if (local_processes <= 1 || allowed_cpus <= 0 || online_cpus <= 0) return 0;
  // The processes that share this process's CPUs, if the launcher spread them evenly over the machine.
  const int64_t sharing = std::max<int64_t>(
      1, (int64_t{local_processes} * std::min(allowed_cpus, online_cpus) + online_cpus - 1) / online_cpus);
  const int threads = static_cast<int>(std::max<int64_t>(1, allowed_cpus / sharing));
  return threads == allowed_cpus ? 0 : threads;
}

void share_cpus_with_local_processes(int local_processes) {
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;  // the user's choice
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0) return;
  const int allowed = CPU_COUNT(&mask), online = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  if (omp_get_max_threads() != allowed) return;  // not OpenMP's default: the program chose (or this ran before)
  const int threads = threads_per_local_process(allowed, online, local_processes);
  if (threads == 0) return;
  omp_set_num_threads(threads);
  detail::debug_log(std::to_string(local_processes) + " processes of this launch share this machine's " +
                    std::to_string(allowed) + " CPUs: " + std::to_string(threads) + " OpenMP " +
                    (threads == 1 ? "thread" : "threads") + " each (set OMP_NUM_THREADS to choose)");
}

void copy_rows(char* to, std::size_t to_pitch, const char* from, std::size_t from_pitch, std::size_t width,
               std::size_t rows) {
  constexpr std::size_t kSlice = std::size_t{1} << 20;
  const std::size_t total = width * rows;
  if (total == 0) return;
  const auto slices = static_cast<int64_t>((total + kSlice - 1) / kSlice);
#pragma omp parallel for schedule(static) if (total >= 4 * kSlice)
  for (int64_t k = 0; k < slices; ++k) {
    const std::size_t end = std::min(total, static_cast<std::size_t>(k + 1) * kSlice);
    for (std::size_t pos = static_cast<std::size_t>(k) * kSlice; pos < end;) {
      const std::size_t row = pos / width, column = pos % width, bytes = std::min(width - column, end - pos);
      std::memcpy(to + row * to_pitch + column, from + row * from_pitch + column, bytes);
      pos += bytes;
    }
  }
}

}  // namespace normrt::cpu
