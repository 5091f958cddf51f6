// Rearrangements with PyTorch 1.13's semantics and errors, on the CPU and CUDA, every dtype: flip and roll (in the
// input's memory format, as PyTorch's), repeat and repeat_interleave (contiguous), tril and triu (contiguous). Each is
// composed of the library's device-ready copies (index_select, cat, broadcast_to, where), so both devices give the
// same elements.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::ops {

// torch.flip: the elements reversed along each of `dims` (negative from the end; a dim twice is refused).
Tensor flip(const Tensor& t, const std::vector<int64_t>& dims);

// torch.roll: each dims[k] rotated by shifts[k] (element i moves to (i + shift) mod size); without dims, the flattened
// tensor rotated by the one shift, in t's shape. An empty t comes back as it is, its dims unchecked (PyTorch's).
Tensor roll(const Tensor& t, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims = {});

// Tensor.repeat: t tiled repeats[k] times along each dimension (leading repeats add dimensions).
Tensor repeat(const Tensor& t, const std::vector<int64_t>& repeats);

// torch.repeat_interleave: each element along dim (the flattened tensor without dim) repeated `repeats` times in
// place, or repeats[i] times for a tensor of counts (int64, 0-dim or one per element along dim; read back to the host
// on a device, as PyTorch sizes its output).
Tensor repeat_interleave(const Tensor& t, int64_t repeats, std::optional<int64_t> dim = std::nullopt);
Tensor repeat_interleave(const Tensor& t, const Tensor& repeats, std::optional<int64_t> dim = std::nullopt);
// torch.repeat_interleave(repeats): index i repeated repeats[i] times (int64).
Tensor repeat_interleave(const Tensor& repeats);

// torch.tril / triu over the last two dimensions: the elements on and below (above) the diagonal-th diagonal kept,
// the others 0 (NaNs too). An empty t of any rank comes back as it is (PyTorch's).
Tensor tril(const Tensor& t, int64_t diagonal = 0);
Tensor triu(const Tensor& t, int64_t diagonal = 0);

}  // namespace normrt::ops
