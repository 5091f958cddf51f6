// Internal: the CPU's one threading model. normrt parallelises its CPU ops itself with OpenMP (over images, planes,
// rows) and runs the BLAS single-threaded inside those loops: two thread pools on the same cores (OpenBLAS's
// pthreads and libgomp's spinning workers) otherwise steal each other's time slices, which measured 20-40% of a
// CNN step as system time on the 2-core build machine. Work is split by the shape alone, so results do not depend
// on the number of threads.
#pragma once
#include <cstddef>
#include <cstdint>

namespace normrt::cpu {

// Readies the BLAS, once; every op that calls the BLAS calls it first. With OpenBLAS (other BLAS libraries are left
// alone): single-threaded (openblas_set_num_threads(1)), and its kernels chosen by the CPU's instruction set where
// its own detection, by CPU model, fell back to pre-AVX2 kernels on a CPU it does not know (see blas_kernels_for).
void prepare_blas();

// The OpenBLAS core whose kernels to use instead of `detected` (its openblas_get_corename()), or null to keep it:
// an AVX-512 or AVX2 core when `detected` is one of the pre-AVX2 cores (Prescott is OpenBLAS 0.3.21's fallback for
// unknown models) and the CPU and OS support the wider instructions.
const char* blas_kernels_for(const char* detected);

// OpenMP threads for each of `local_processes` processes that share this machine, given the CPUs this process may run
// on (its affinity mask) and the machine's online CPUs; 0: leave OpenMP's default (one thread per allowed CPU).
// The processes are taken to be spread evenly: a mask of a quarter of the machine is shared by a quarter of them
// (mpirun binds to a core up to 2 processes, to a socket beyond), the whole machine by all; each gets an even share
// of its mask, at least one thread. (torchrun sets OMP_NUM_THREADS=1 for the same reason.)
int threads_per_local_process(int allowed_cpus, int online_cpus, int local_processes);

// Under a launch of several processes on this machine (local_processes > 1), without OMP_NUM_THREADS and while the
// calling thread's OpenMP thread count is still the default, sets it to the process's share
// (threads_per_local_process) and says so in the debug log.
void share_cpus_with_local_processes(int local_processes);

// Whether a loop over `work` elements is worth waking OpenMP's team for.
inline bool worth_parallel(int64_t work) { return work >= (int64_t{1} << 16); }

// Copies `rows` rows of `width` bytes from `from` to `to`, each side's rows `pitch` bytes apart; from 4 MB in all, in
// 1 MB slices of the rows' bytes over the threads (one core's memcpy reaches about half of what two do: a clone of
// 25 MB took 2.0-2.5 ms on one core of the 2-core build machine, PyTorch's parallel copy 1.1-1.3 ms).
void copy_rows(char* to, std::size_t to_pitch, const char* from, std::size_t from_pitch, std::size_t width,
               std::size_t rows);

}  // namespace normrt::cpu
