// NumPy .npy files (format 1.0/2.0/3.0, C order, little-endian float32 '<f4', int64 '<i8', float16 '<f2' or bool
// '|b1'), so tensors move to and from NumPy and PyTorch. NumPy has no bfloat16: a bfloat16 tensor is saved as its
// bits, uint16 '<u2' (read back with `np.load(f).view(ml_dtypes.bfloat16)`, or
// `torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)`), and a '<u2' file loads as bfloat16. Loading always
// returns a CPU tensor.
#pragma once
#include <string>
#include <string_view>

#include "normrt/tensor.h"

namespace normrt {

// Reads a .npy file. Every malformed, truncated or oversized file is refused with a normrt::Error naming the file
// and the problem; nothing is allocated beyond the file's own size.
Tensor load_npy(const std::string& path);
// The tensor encoded by the bytes of a .npy file; `name` labels the errors.
Tensor decode_npy(std::string_view bytes, const std::string& name);
// Writes `tensor` (any device) to `path`, replacing it atomically (write_file_atomic).
void save_npy(const std::string& path, const Tensor& tensor);
// The bytes of a version 1.0 .npy file holding `tensor` (any dtype, any device).
std::string encode_npy(const Tensor& tensor);

}  // namespace normrt
