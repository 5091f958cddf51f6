// Internal: the mask of a dropout that drops whole slices of its input (a sample's channel for Dropout1d/2d/3d, a
// whole sample or batch for StochasticDepth): one value per element of mask_shape, which broadcasts to the input,
// each 0 or 1 / (1 - p), from the layer's Philox stream (advanced past the values drawn), so the masks are equal on
// every device.
#pragma once
#include "normrt/generator.h"
#include "normrt/ops/nn.h"
#include "normrt/tensor.h"

namespace normrt::detail {

inline Tensor draw_slice_mask(Generator& gen, const Shape& mask_shape, double p, const Tensor& input) {
  const int64_t values = shape_numel(mask_shape);
  const uint64_t offset = gen.offset();
  gen.skip(static_cast<uint64_t>((values + 3) / 4));
  return ops::dropout(ones(mask_shape, input.device()), p, gen.seed(), offset).to(input.dtype());
}

}  // namespace normrt::detail
