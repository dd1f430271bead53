// fused(): a backward formula written once, evaluated as recorded ops or as one loop.
// It sits among the ops, not the kernels, because it asks the graph whether this pass
// records (kernels never do).
#pragma once

#include <tuple>

#include "gradlab/core/graph.hpp"
#include "gradlab/core/parallel.hpp"
#include "gradlab/core/tensor.hpp"
#include "gradlab/kernels/loops.hpp"

namespace gradlab {

// Note [Fused formulas]
// A backward formula such as σ's, G ∘ s ∘ (1 − s), written with gradlab's ops, makes a
// tensor for every step: 1 − s, G ∘ s, and their product. That is what lets a recorded
// backward pass be differentiated again, but when nothing is being recorded (a plain
// backward()) those tensors are pure cost. So a formula is written once, generically,
//     fused([](auto g, auto s) { return g * s * (1 - s); }, c.grad, c.output)
// and evaluated one of two ways: on the tensors, as ops, when grad mode is on and one of
// them requires grad (the steps are recorded); otherwise on their numbers, one element at
// a time in a single loop, when they share one shape and dtype. Anything else (broadcast
// operands, mixed dtypes) takes the first way, which also reports the errors; so does
// detect_anomaly, so that it can name the very step that made a NaN.
template <class F, class... Ts>
Tensor fused(F&& f, const Tensor& first, const Ts&... rest) {
  const bool recorded = records(first, rest...);
  const bool alike = ((rest.shape() == first.shape() && rest.dtype() == first.dtype()) && ...);
  if (recorded || !alike || detail::modes.anomaly) return f(first, rest...);
  Tensor out = empty_like(first);
  dispatch(first.dtype(), [&]<class T>(T) {
    T* o = out.data<T>();
    const T* p = first.data<T>();
    const std::tuple q{rest.template data<T>()...};
    kernels::for_each_piece(out.numel(), [&](std::int64_t begin, std::int64_t end) {
#pragma GCC ivdep  // out is new: it overlaps none of the inputs, so the loop may vectorise
      for (std::int64_t i = begin; i < end; ++i)
        o[i] = static_cast<T>(std::apply([&](const auto*... r) { return f(p[i], r[i]...); }, q));
    });
  });
  return out;
}

}  // namespace gradlab
