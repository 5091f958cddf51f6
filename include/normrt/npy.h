// NumPy .npy files (format 1.0/2.0, C order, little-endian float32 '<f4' or int64 '<i8'), so tensors move to and
// from NumPy and PyTorch. Loading always returns a CPU tensor.
#pragma once
#include <string>

#include "normrt/tensor.h"

namespace normrt {

Tensor load_npy(const std::string& path);
// Writes `tensor` (any device) to `path`, replacing it atomically (temporary file, then rename).
void save_npy(const std::string& path, const Tensor& tensor);

}  // namespace normrt
