// The checks of detect_anomaly (Note [Anomaly mode] in src/gradlab/core/graph.hpp), for the backward
// pass; record() calls detail::check_forward, declared in src/gradlab/core/graph.hpp.
#pragma once

#include <cstddef>
#include <source_location>
#include <span>

#include "gradlab/core/graph.hpp"

namespace gradlab::detail {

// Throws AnomalyError if the gradient that op's backward returned for its input `input`
// holds a NaN or an infinity, naming the op, the input and where the op was called.
void check_backward(const OpInfo& op, const Tensor& gradient, std::size_t input,
                    std::span<const Tensor> inputs, const std::source_location& where);

}  // namespace gradlab::detail
