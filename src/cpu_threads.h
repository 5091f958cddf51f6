// Internal: the CPU's one threading model. normrt parallelises its CPU ops itself with OpenMP (over images, planes,
// rows) and runs the BLAS single-threaded inside those loops: two thread pools on the same cores (OpenBLAS's
// pthreads and libgomp's spinning workers) otherwise steal each other's time slices, which measured 20-40% of a
// CNN step as system time on the 2-core build machine. Work is split by the shape alone, so results do not depend
// on the number of threads.
#pragma once
#include <cstdint>

namespace normrt::cpu {

// Makes the BLAS single-threaded (OpenBLAS's openblas_set_num_threads(1); other BLAS libraries are left alone).
// Idempotent; every op that calls the BLAS calls it first.
void single_threaded_blas();

// Whether a loop over `work` elements is worth waking OpenMP's team for.
inline bool worth_parallel(int64_t work) { return work >= (int64_t{1} << 16); }

}  // namespace normrt::cpu
