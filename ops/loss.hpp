// Softmax and the losses a network is trained with.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.hpp"

namespace gradlab {

// softmax(x)ᵢ = e^(xᵢ) / Σⱼ e^(xⱼ) along `axis` (each slice sums to 1).
Tensor softmax(const Tensor& x, std::int64_t axis = -1, Here where = Here::current());
// log softmax(x), computed as x − max − log Σ e^(x − max) so that it never overflows.
Tensor log_softmax(const Tensor& x, std::int64_t axis = -1, Here where = Here::current());

// Mean squared error: mean((prediction − target)²) over all elements; shapes must match.
Tensor mse_loss(const Tensor& prediction, const Tensor& target, Here where = Here::current());

// Softmax cross-entropy of logits [N, C] against integer class indices (N of them, each in
// [0, C)), averaged over the batch: mean over i of −log softmax(logitsᵢ)[targetᵢ].
Tensor cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& targets,
                     Here where = Here::current());
// The same with the classes given as a 1-D tensor of whole numbers.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, Here where = Here::current());
// The same with the classes written in place: cross_entropy(logits, {0, 2}).
Tensor cross_entropy(const Tensor& logits, std::initializer_list<std::int64_t> targets,
                     Here where = Here::current());

}  // namespace gradlab
