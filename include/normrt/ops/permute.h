// Permutations of dimensions, with PyTorch's semantics and errors: permute and transpose, and the layers built on
// them, pixel_shuffle / pixel_unshuffle (sub-pixel convolution upsampling, ESPCN / EDSR) and channel_shuffle
// (ShuffleNet). normrt tensors are contiguous (or channels-last), so each returns a contiguous copy where PyTorch's
// permute and transpose return views: the values are PyTorch's, in any dtype, on either device.
#pragma once
#include <cstdint>
#include <vector>

#include "normrt/tensor.h"

namespace normrt::ops {

// Output dimension d is input dimension dims[d] (negative counts from the end).
Tensor permute(const Tensor& t, const std::vector<int64_t>& dims);
// Dimensions dim0 and dim1 swapped.
Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1);

// (*, C r^2, H, W) -> (*, C, H r, W r), and its inverse (*, C, H, W) -> (*, C r^2, H / r, W / r); each is the other's
// backward.
Tensor pixel_shuffle(const Tensor& t, int64_t upscale_factor);
Tensor pixel_unshuffle(const Tensor& t, int64_t downscale_factor);

// (N, C, *) with the channels regrouped: the channels of each of `groups` groups interleaved, channel g * (C / groups)
// + k moving to k * groups + g. Its backward is channel_shuffle with C / groups groups.
Tensor channel_shuffle(const Tensor& t, int64_t groups);

}  // namespace normrt::ops
