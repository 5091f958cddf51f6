// CUDA kernels of the selections (src/nonzero.cpp): nonzero's positions, masked_select's values and masked_scatter's
// placements, each selected element ranked by its flat index without atomics, so the same order every run.
//
// Elements are walked by flat index i over a cmpmath::Plan (its operands broadcast and in any memory order), in tiles
// of select_tile_elements(): count_selected counts each tile's selected elements and turns the counts into each
// tile's first place (an exclusive scan, the total last); the writing kernels then place a tile's selected elements
// from there, in order.
#pragma once
#include <cstdint>

#include "comparison_math.cuh"
#include "cuda_compat.cuh"
#include "nonzero_math.cuh"

namespace normrt::NORMRT_KERNEL_NS {

// The tiles over n flat indices; count_selected's `starts` holds select_tiles(n) + 1 int64.
int64_t select_tiles(int64_t n);

// starts[k] = the number of selected elements in tiles before k, for k <= select_tiles(p.numel) (so the total last):
// element i is selected where nzmath::nonzero_bits(flags[at[0]], value_bits), at its plan offsets. U is an unsigned
// integer of the elements' size (1, 2, 4 or 8 bytes).
template <typename U>
void count_selected(const U* flags, U value_bits, const cmpmath::Plan& p, int64_t* starts, cudaStream_t stream);

// positions[j * s.ndim + d]: the coordinates in `s` of the j-th selected element of `flags` (count_selected's terms,
// with its starts): nonzero's result.
template <typename U>
void selected_positions(const U* flags, U value_bits, const cmpmath::Plan& p, const nzmath::Sizes& s,
                        const int64_t* starts, int64_t* positions, cudaStream_t stream);

// The j-th element whose mask[at[1]] is true, over the plan's flat indices (the starts count_selected gave for the
// mask at operand 0 of a plan of the same flat order), moved: gathered, to[j] = from[at[0]] (masked_select), or
// scattered, to[at[0]] = from[j], the rest of `to` kept (masked_scatter_). V is an unsigned integer of the elements'
// size.
template <typename V>
void move_selected(const bool* mask, const V* from, const cmpmath::Plan& p, const int64_t* starts, V* to, bool scatter,
                   cudaStream_t stream);

}  // namespace normrt::NORMRT_KERNEL_NS
