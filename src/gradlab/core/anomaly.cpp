// Note [Anomaly mode] (src/gradlab/core/graph.hpp): the checks every op makes inside a
// detect_anomaly scope, on what its forward produced and what its backward returned.
#include "gradlab/core/anomaly.hpp"

#include <cmath>
#include <optional>
#include <string>

#include "gradlab/core/errors.hpp"

namespace gradlab {

namespace {

using detail::modes;

// The first element of t that is NaN or infinite, if any.
std::optional<std::int64_t> first_non_finite(const Tensor& t) {
  if (!t.defined()) return {};
  std::optional<std::int64_t> found;
  dispatch(t.dtype(), [&]<class T>(T) {
    const T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel() && !found; ++i)
      if (!std::isfinite(p[i])) found = i;
  });
  return found;
}

std::string shapes_of(std::span<const Tensor> inputs) {
  std::string s;
  for (const Tensor& t : inputs)
    s += (s.empty() ? "" : ", ") + (t.defined() ? to_string(t.shape()) : std::string("none"));
  return s.empty() ? "none" : s;
}

std::string value_at(const Tensor& t, std::int64_t i) {
  const double v = t.values()[static_cast<std::size_t>(i)];
  return std::isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf";
}

// Forward: the op's output must be finite when its inputs are.
void check_forward(const OpInfo& op, const Tensor& output, std::span<const Tensor> inputs) {
  const auto bad = first_non_finite(output);
  if (!bad) return;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (first_non_finite(inputs[i]) && !inputs[i].node())
      throw AnomalyError("anomaly: input " + std::to_string(i) +
                         (inputs[i].name().empty() ? "" : " ('" + inputs[i].name() + "')") +
                         " of " + op.name + " already holds " +
                         value_at(inputs[i], *first_non_finite(inputs[i])) +
                         ": it came into the graph that way; " + op.name + " was called at " +
                         (modes.site_open ? to_string(modes.site) : "an unknown place"));
  const std::string during =
      modes.backward_of ? " in the backward of " + std::string(modes.backward_of->name) + ", whose forward was"
                  : ";";
  throw AnomalyError("anomaly: " + std::string(op.name) + " produced " + value_at(output, *bad) +
                     " at element " + std::to_string(*bad) + " of its output " +
                     to_string(output.shape()) + " from inputs " + shapes_of(inputs) + during +
                     " called at " +
                     (modes.site_open ? to_string(modes.site) : "an unknown place"));
}

}  // namespace

void detail::check_forward(const OpInfo& op, const Tensor& output,
                           std::initializer_list<TensorRef> inputs) {
  TensorList list;
  for (const TensorRef& t : inputs) list.push_back(t.tensor);
  gradlab::check_forward(op, output, list);
}

void detail::check_forward(const OpInfo& op, const Tensor& output, std::span<const Tensor> inputs) {
  gradlab::check_forward(op, output, inputs);
}

void detail::check_backward(const OpInfo& op, const Tensor& gradient, std::size_t input,
                            std::span<const Tensor> inputs, const std::source_location& where) {
  if (const auto bad = first_non_finite(gradient))
    throw AnomalyError("anomaly: the backward of " + std::string(op.name) + " returned " +
                       value_at(gradient, *bad) + " at element " + std::to_string(*bad) +
                       " of the gradient of its input " + std::to_string(input) + " " +
                       to_string(inputs[input].shape()) + " (inputs " + shapes_of(inputs) +
                       "); that " + op.name + " was called at " + to_string(where));
}

}  // namespace gradlab
