// LayerNorm / GroupNorm arithmetic shared by the CPU path (src/norms_cpu.cpp) and the CUDA kernels (norms.cu): the
// rows' geometry and the per-element formulas, so both backends compute each element the same way.
#pragma once
#include <cstdint>

#include "hd.h"

namespace normrt::normmath {

// Rows of `length` contiguous elements, each normalised by its own mean and biased variance. The parameters of
// element e of row r are at index parameter(r, e) = (r % groups) * (length / segment) + e / segment: LayerNorm's rows
// have one parameter per element (segment 1, groups 1); GroupNorm's row (n, g) covers channels g * C / G ... of HW
// elements each (segment HW, groups G).
struct RowGeometry {
  int64_t rows = 0, length = 0, segment = 1, groups = 1;
  NORMRT_HD int64_t per_group() const { return length / segment; }
  NORMRT_HD int64_t parameters() const { return groups * per_group(); }
  // parameter(r, e) split into the row's part and the element's: kernels take the first once per row, and the second
  // costs no division in LayerNorm's rows (a 64-bit division per element made a kernel spill on sm_120).
  NORMRT_HD int64_t row_offset(int64_t r) const { return (r % groups) * per_group(); }
  NORMRT_HD int64_t segment_of(int64_t e) const { return segment == 1 ? e : e / segment; }
  NORMRT_HD int64_t parameter(int64_t r, int64_t e) const { return row_offset(r) + segment_of(e); }
};

// y = (x - mean) * scale + shift, where scale = rstd * weight and shift = bias (rstd and 0 without parameters).
NORMRT_HD inline float normalized(float x, float mean, float scale, float shift) { return (x - mean) * scale + shift; }

NORMRT_HD inline float xhat(float x, float mean, float rstd) { return (x - mean) * rstd; }

// The training-mode input gradient of a normalised row: with g = dy * weight over the row,
// dx = rstd * (g - mean(g) - x-hat * mean(g * x-hat)).
NORMRT_HD inline float input_grad(float rstd, float g, float mean_g, float xhat, float mean_gx) {
  return rstd * (g - mean_g - xhat * mean_gx);
}

}  // namespace normrt::normmath
