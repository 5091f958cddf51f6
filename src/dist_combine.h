// What every dist backend computes from the ranks' inputs (host tensors, in rank order), so that each rank gets the
// same bits whichever backend carried them.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "normrt/config.h"
#include "normrt/dist.h"
#include "normrt/tensor.h"

namespace normrt::dist::detail {

// The elementwise sum: int64 exactly; floating dtypes in float32, added in rank order and rounded once to the dtype.
// Inputs: contiguous host tensors, or (rows) each rank's elements of `sizes` and `dtype` in host memory.
Tensor sum_in_rank_order(const std::vector<Tensor>& inputs);
Tensor sum_rows_in_rank_order(const std::vector<const void*>& rows, const Shape& sizes, DType dtype);
// The inputs stacked: shape [ranks, *sizes].
Tensor stack_in_rank_order(const std::vector<Tensor>& inputs);
// "[4, 3] float32", for error messages.
std::string describe(const Tensor& t);
// `bytes` as the int count of an MPI call; more than INT_MAX would wrap (a tensor moved in part, or an MPI count
// error), so it throws, naming the collective and the tensor (`described`).
int mpi_byte_count(std::size_t bytes, const std::string& op, const std::string& described);

#if NORMRT_WITH_MPI
// src/dist_mpi.cpp: a group over a duplicate of MPI_COMM_WORLD (MPI initialised on first use, finalised at exit).
std::unique_ptr<ProcessGroup> mpi_world_group(std::chrono::milliseconds timeout);
#endif

}  // namespace normrt::dist::detail
