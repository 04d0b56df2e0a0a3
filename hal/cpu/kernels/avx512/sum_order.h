// The order in which the AVX-512 Q4_0 / Q8_0 products (gemv.cpp for up to 4 activation
// columns, tile.cpp's panels for more) add up one output, so that a row of activations
// gets the same bits whatever else shares the call: a decode step of one sequence and a
// verify or batched step that holds the same row agree exactly, and greedy decoding does
// not depend on the batch.
//
// Per 32-block b: the exact integer dot of the block, converted to float, times the
// weight scale, then fused-multiply-added with the activation scale into chain b % 4 of
// its chunk. Chunks are kChunkBlocks blocks of K; a chunk's value is (c0 + c1) + (c2 + c3),
// and the output is chunk 0, then + chunk 1, and so on.
#pragma once

#include <cstdint>

namespace airt::hal::avx512 {

constexpr int kChains = 4;
constexpr int64_t kChunkBlocks = 128;

}  // namespace airt::hal::avx512
