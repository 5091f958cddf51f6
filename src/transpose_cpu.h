// Internal: the CPU's batched matrix transpose, the data movement of a memory-format conversion (an (N, C, S) tensor
// to (N, S, C) and back) and of the permutations that reduce to one (ops::permute(x, {0, 2, 3, 1})).
#pragma once
#include <cstdint>

namespace normrt::cpu {

// out[b][c][r] = in[b][r][c] for b < batch, r < rows, c < cols; T an unsigned integer of the element's size (1, 2, 4
// or 8 bytes: the move copies bits). In parallel over fixed tiles above 2^18 elements.
template <typename T>
void transpose_batched(const T* in, T* out, int64_t batch, int64_t rows, int64_t cols);

}  // namespace normrt::cpu
