#include "cpu_threads.h"

#include <mutex>

// Declared weak: present when the BLAS is OpenBLAS, null otherwise (a user-chosen BLA_VENDOR).
extern "C" void openblas_set_num_threads(int num_threads) __attribute__((weak));

namespace normrt::cpu {

void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (openblas_set_num_threads != nullptr) openblas_set_num_threads(1);
  });
}

}  // namespace normrt::cpu
