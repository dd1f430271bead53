// Softmax and the losses a network is trained with.
#pragma once

#include <cstdint>
#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// softmax(x)ᵢ = e^(xᵢ) / Σⱼ e^(xⱼ) along `axis` (each slice sums to 1).
Tensor softmax(const Tensor& x, std::int64_t axis = -1, Here where = Here::current());
// log softmax(x), computed as x − max − log Σ e^(x − max) so that it never overflows.
Tensor log_softmax(const Tensor& x, std::int64_t axis = -1, Here where = Here::current());

// Mean squared error: mean((prediction − target)²) over all elements of the two broadcast
// together (as torch, which warns when the shapes differ: [N, 1] against [N] gives [N, N]).
Tensor mse_loss(const Tensor& prediction, const Tensor& target, Here where = Here::current());

struct CrossEntropyOptions {
  // Examples whose target is this class contribute nothing, and the mean is over the others
  // (torch's default, -100, is no class at all). All of them ignored: 0/0, NaN, as torch.
  std::int64_t ignore_index = -100;
};

// Softmax cross-entropy of logits [N, C] against integer class indices (N of them, each in
// [0, C)), averaged over the batch: mean over i of −log softmax(logitsᵢ)[targetᵢ].
Tensor cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& targets,
                     const CrossEntropyOptions& options = {}, Here where = Here::current());
// The same with the classes given as a 1-D tensor of whole numbers; or, with targets of the
// logits' shape [N, C], rows of class probabilities p: −mean over i of Σ_c pᵢ_c log softmax(xᵢ)_c
// (composed from log_softmax, so p too gets a gradient; ignore_index does not apply).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options = {}, Here where = Here::current());
// The same with the classes written in place: cross_entropy(logits, {0, 2}).
Tensor cross_entropy(const Tensor& logits, std::initializer_list<std::int64_t> targets,
                     const CrossEntropyOptions& options = {}, Here where = Here::current());

}  // namespace gradlab
