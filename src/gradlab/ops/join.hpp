// Joining tensors: concat and stack (torch.cat, torch.stack), upsample (nearest neighbour,
// the inverse of pooling's shrinking), and narrow, the slice that concat's backward cuts G
// into (torch.narrow).
#pragma once

#include <cstdint>
#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// The tensors joined end to end along an existing axis (torch.cat):
//   concat({a [2, 3], b [4, 3]}) → [6, 3];  concat({a [2, 3], c [2, 1]}, 1) → [2, 4].
// All sizes but the axis's must agree; an axis may be empty ([0, 3] joins [2, 3]). As in
// torch, a 1-D empty tensor [0] joins anything and adds nothing. The gradient of each
// tensor is its own slice of G: narrow(G, axis, where it starts, its size).
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis = 0,
              Here where = Here::current());

// Tensors of one shape put side by side along a new axis (torch.stack):
//   stack({a [2, 3], b [2, 3]}) → [2, 2, 3];  stack({a, b}, -1) → [2, 3, 2].
// The gradient of tensor i is G at position i of the new axis.
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis = 0,
             Here where = Here::current());

// Nearest-neighbour upsampling of the last two axes by a whole factor k ≥ 1: every element
// becomes a k × k block of copies. [..., H, W] → [..., H·k, W·k], any rank ≥ 2. The gradient
// adds up each k × k block of G (sum pooling, avg_pool2d times k²).
Tensor upsample(const Tensor& x, std::int64_t k, Here where = Here::current());

// The elements start, …, start + length − 1 of one axis (torch.narrow). Its gradient is G
// put back in place between zeros: concat({zeros, G, zeros}, axis).
Tensor narrow(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t length,
              Here where = Here::current());

}  // namespace gradlab
