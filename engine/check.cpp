#include "engine/check.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "engine/errors.hpp"
#include "engine/graph.hpp"
#include "engine/kernels.hpp"
#include "ops/elementwise.hpp"
#include "ops/matmul.hpp"
#include "ops/reduce.hpp"
#include "ops/shape.hpp"

namespace gradlab {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::match: return "match";
    case Verdict::wrong: return "wrong";
    case Verdict::not_differentiable: return "not differentiable here";
  }
  return "?";
}

namespace {

std::string format(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string element(const std::string& name, const std::vector<std::int64_t>& index) {
  return name + to_string(index);
}

// How a value of the graph is called in a sentence: its name, else the op that made it.
std::string describe(const Tensor& t) {
  if (!t.name().empty()) return t.name();
  if (t.node()) return "the output of a " + std::string(t.node()->op->name) + " node";
  return "a constant " + to_string(t.shape());
}

// The checks below compare whole tensors with one tolerance: |a − b| ≤ atol + rtol·|b|.
class Comparer {
 public:
  explicit Comparer(const CheckOptions& o) : o_(o) {}

  bool close(const Tensor& a, const Tensor& b) const {
    if (a.shape() != b.shape()) return false;
    const std::vector<double> va = a.values(), vb = b.values();
    for (std::size_t i = 0; i < va.size(); ++i)
      if (!(std::abs(va[i] - vb[i]) <= o_.atol + o_.rtol * std::abs(vb[i]))) return false;
    return true;
  }

  // a ∘ f, when f broadcasts to a's shape (as a factor in a formula would).
  static std::optional<Tensor> times(const Tensor& a, const Tensor& f) {
    try {
      if (kernels::broadcast_shapes("check", a.shape(), f.shape()) != a.shape()) return {};
    } catch (const ShapeError&) {
      return {};
    }
    return a * f;
  }

 private:
  const CheckOptions& o_;
};

bool constant(const Tensor& t) {
  const std::vector<double> v = t.values();
  return std::all_of(v.begin(), v.end(), [&](double x) { return std::abs(x - v[0]) <= 1e-12; });
}

// A factor the hand derivation may have left out (or put in twice): the local derivative of
// an elementwise node, or e^(±z) of a value z of the graph.
struct Factor {
  Tensor value;
  std::string missing, extra;  // the sentence when the claim lacks it, and when it has it
};

std::vector<Factor> factors_of(const std::vector<Tensor>& graph) {
  std::vector<Factor> factors;
  for (const Tensor& t : graph) {
    const Node* n = t.node();
    if (!n || !n->backward) continue;
    // With G = 1 everywhere, the backward of an op whose input and output have one shape
    // returns its local derivative ∂y/∂x elementwise (for elementwise ops, which are the
    // ones whose derivatives hand derivations multiply in with ∘).
    Grads local;
    try {
      const Tensor ones = ones_like(t);
      local = n->backward(BackwardContext{ones, t, n->inputs(), n->saved()});
    } catch (const Error&) {
      continue;
    }
    for (std::size_t i = 0; i < n->inputs().size() && i < local.size(); ++i) {
      if (!local[i].defined() || n->inputs()[i].shape() != t.shape() || constant(local[i])) continue;
      const std::string what =
          "the local derivative of the " + std::string(n->op->name) + " node" +
          (t.name().empty() ? "" : " " + t.name()) + " (" +
          (i < n->op->gradients.size() ? n->op->gradients[i] : "its backward with G = 1") + ")";
      factors.push_back({local[i], "it lacks the factor " + what,
                         "it has an extra factor " + what});
    }
  }
  for (const Tensor& z : graph) {
    if (z.numel() < 2 || constant(z)) continue;
    for (const double sign : {1.0, -1.0}) {
      const std::string e = std::string(sign > 0 ? "e^(" : "e^(−") + describe(z) + ")";
      const Tensor value = exp(sign * z);
      factors.push_back({value, "it lacks a factor " + e + ": is a sign flipped inside an exp?",
                         "it has an extra factor " + e + ": is a sign flipped inside an exp?"});
    }
  }
  return factors;
}

class Checker {
 public:
  Checker(const Function& f, const std::vector<Tensor>& inputs, const CheckOptions& o)
      : f_(f), o_(o), compare_(o) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& x = inputs[i];
      if (!x.defined()) throw ValueError("check_gradient: input " + std::to_string(i) + " is undefined");
      if (x.dtype() == DType::float32)
        warnings_.push_back("input " + name_of(x, i) +
                            " is float32: checked in float64 copies, but a float32 program "
                            "differs from them by rounding of about 1e-7 relative");
      Tensor leaf = to(x.detach(), DType::float64).clone();
      leaf.set_requires_grad().name(name_of(x, i));
      leaves_.push_back(leaf);
    }
    {
      enable_grad recording;  // also when called inside no_grad
      output_ = f_(leaves_);
    }
    if (!output_.defined() || output_.numel() != 1)
      throw ShapeError("check_gradient: the function must return one number (a loss), got " +
                       (output_.defined() ? to_string(output_.shape()) : std::string("nothing")));
    if (!output_.requires_grad())
      throw GraphError("check_gradient: the output does not depend on any input");
    graph_ = topological_order({output_});
    for (const Tensor& t : graph_)
      if (!t.name().empty() && t.requires_grad()) named_.try_emplace(t.name(), t);
  }

  CheckReport run(const std::map<std::string, Tensor>& claims) {
    CheckReport report;
    report.output = output_;
    report.warnings = warnings_;

    // The true gradients of every claimed value and every input, in one backward pass.
    std::vector<Tensor> targets;
    std::vector<std::string> names;
    for (const auto& [name, claim] : claims) {
      const auto it = named_.find(name);
      if (it == named_.end()) throw ValueError("check_gradient: " + unknown(name));
      if (!claim.defined()) throw ValueError("check_gradient: the claim for '" + name + "' is undefined");
      targets.push_back(it->second);
      names.push_back(name);
      report.values[name] = it->second;
    }
    for (const Tensor& x : leaves_)
      if (!claims.contains(x.name())) {
        targets.push_back(x);
        names.push_back(x.name());
      }
    const std::vector<Tensor> truths = [&] {
      no_grad plain;  // the gradients as plain numbers
      return grad({output_}, targets, {.retain_graph = true});
    }();
    for (std::size_t i = 0; i < names.size(); ++i) truth_[names[i]] = truths[i];

    // In the order backward visits them: later in the forward order first.
    std::unordered_map<const TensorImpl*, std::size_t> position;
    for (std::size_t k = 0; k < graph_.size(); ++k) position[graph_[k].impl()] = k;
    std::vector<std::string> order;
    for (const auto& [name, claim] : claims) order.push_back(name);
    std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
      return position.at(named_.at(a).impl()) > position.at(named_.at(b).impl());
    });

    for (const std::string& name : order) {
      ClaimReport c = compare(name, to(claims.at(name).detach(), DType::float64));
      if (c.verdict == Verdict::wrong && report.first_wrong_step.empty())
        report.first_wrong_step = name;
      report.claims.push_back(std::move(c));
    }
    return report;
  }

 private:
  static std::string name_of(const Tensor& x, std::size_t i) {
    return x.name().empty() ? "input " + std::to_string(i) : x.name();
  }

  std::string unknown(const std::string& name) const {
    std::string known;
    for (const auto& [n, t] : named_) known += (known.empty() ? "" : ", ") + n;
    return "no value named '" + name + "' with a gradient (the named values that have one: " +
           known + ")";
  }

  ClaimReport compare(const std::string& name, const Tensor& claim) {
    no_grad plain;
    ClaimReport c;
    c.name = name;
    c.claimed = claim;
    c.truth = truth_.at(name);
    c.claimed_shape = claim.shape();
    c.true_shape = c.truth.shape();
    if (claim.shape() == c.truth.shape()) {
      measure(c);
      if (compare_.close(claim, c.truth)) return c;
      c.verdict = Verdict::wrong;
      if (kink(c)) return c;
      same_shape_diagnoses(c);
    } else {
      c.verdict = Verdict::wrong;
      c.diagnoses.push_back("its shape is " + to_string(claim.shape()) + ", but the gradient of " +
                            name + " has the shape of " + name + ": " + to_string(c.truth.shape()));
      shape_diagnoses(c);
    }
    wrong_variable(c);
    if (c.diagnoses.size() == (claim.shape() == c.truth.shape() ? 0u : 1u))
      c.diagnoses.push_back("no simple pattern explains the difference; compare element by "
                            "element, starting with the worst one");
    return c;
  }

  // The errors, and the element where the claim is furthest off.
  static void measure(ClaimReport& c) {
    const std::vector<double> a = c.claimed.values(), t = c.truth.values();
    double worst = -1;
    for (std::size_t i = 0; i < a.size(); ++i) {
      double diff = std::abs(a[i] - t[i]);
      if (std::isnan(diff)) diff = INFINITY;
      // Relative to the true value where it is not ~0 (a relative error of 0 is meaningless).
      if (std::abs(t[i]) > 1e-12) c.max_rel_error = std::max(c.max_rel_error, diff / std::abs(t[i]));
      if (diff > worst) {
        worst = diff;
        c.worst_index = unravel_index(static_cast<std::int64_t>(i), c.truth.shape());
        c.claimed_at_worst = a[i];
        c.true_at_worst = t[i];
      }
    }
    c.max_abs_error = std::max(worst, 0.0);
  }

  // Is every element where the claim is off a kink of the function, with the claim between
  // the left and right derivatives there? Only inputs can be nudged one element at a time.
  bool kink(ClaimReport& c) {
    const auto leaf = std::find_if(leaves_.begin(), leaves_.end(),
                                   [&](const Tensor& x) { return x.name() == c.name; });
    if (leaf == leaves_.end()) return false;
    const std::size_t which = leaf - leaves_.begin();
    const std::vector<double> a = c.claimed.values(), t = c.truth.values();
    std::vector<std::string> kinks;
    for (std::size_t j = 0; j < a.size(); ++j) {
      if (std::abs(a[j] - t[j]) <= o_.atol + o_.rtol * std::abs(t[j])) continue;
      const auto [left, right] = one_sided(which, static_cast<std::int64_t>(j));
      // One-sided quotients are off by O(ε·f''); a kink makes them differ by O(1).
      const double slack = o_.atol + 1e3 * o_.eps + o_.rtol * std::max(std::abs(left), std::abs(right));
      const bool between = a[j] >= std::min(left, right) - slack && a[j] <= std::max(left, right) + slack;
      if (std::abs(left - right) <= slack || !between) return false;
      kinks.push_back(element(c.name, unravel_index(static_cast<std::int64_t>(j), c.truth.shape())) +
                      ": left derivative " + format(left) + ", right derivative " + format(right) +
                      ", your claim " + format(a[j]));
    }
    c.verdict = Verdict::not_differentiable;
    for (const std::string& k : kinks) c.diagnoses.push_back("not differentiable at " + k);
    return true;
  }

  // (L(x) − L(x − ε·eⱼ))/ε and (L(x + ε·eⱼ) − L(x))/ε for element j of input `which`.
  std::pair<double, double> one_sided(std::size_t which, std::int64_t j) {
    // Leaves like the ones f first got, in grad mode: f may itself take gradients inside.
    enable_grad recording;
    std::vector<Tensor> xs;
    for (const Tensor& x : leaves_) xs.push_back(x.detach().clone().set_requires_grad().name(x.name()));
    double* p = xs[which].data<double>();
    const double saved = p[j];
    const double here = f_(xs).item();
    p[j] = saved + o_.eps;
    const double up = f_(xs).item();
    p[j] = saved - o_.eps;
    const double down = f_(xs).item();
    return {(here - down) / o_.eps, (up - here) / o_.eps};
  }

  void same_shape_diagnoses(ClaimReport& c) {
    const Tensor &claim = c.claimed, &truth = c.truth;
    if (claim.dim() == 2 && claim.size(0) == claim.size(1) && compare_.close(claim, transpose(truth)))
      c.diagnoses.push_back("it equals the true gradient transposed");
    // claim = k·truth for the best k (least squares), then check that it fits everywhere.
    const std::vector<double> a = claim.values(), t = truth.values();
    double at = 0, tt = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
      at += a[i] * t[i];
      tt += t[i] * t[i];
    }
    if (tt > 0) {
      const double k = at / tt;
      if (std::abs(k - 1) > 1e-9 && compare_.close(claim, truth * k)) {
        if (std::abs(k) < 1e-12)
          c.diagnoses.push_back("it is zero, but the true gradient is not");
        else if (std::abs(k + 1) < 1e-6)
          c.diagnoses.push_back("its sign is flipped: it is −1 times the true gradient");
        else
          c.diagnoses.push_back("it is " + format(k) + " times the true gradient" +
                                (std::abs(k - 2) < 1e-6 || std::abs(k - 0.5) < 1e-6
                                     ? " (a factor 2 from d(x²)/dx = 2x, or the ½ in ½‖·‖²?)"
                                     : ""));
      }
    }
    // The first factor that explains it is enough (e^z too many is e^(−z) too few).
    for (const Factor& f : factors()) {
      if (const auto fixed = Comparer::times(claim, f.value); fixed && compare_.close(*fixed, truth)) {
        c.diagnoses.push_back(f.missing);
        return;
      }
      if (const auto extra = Comparer::times(truth, f.value); extra && compare_.close(claim, *extra)) {
        c.diagnoses.push_back(f.extra);
        return;
      }
    }
  }

  void shape_diagnoses(ClaimReport& c) {
    const Tensor &claim = c.claimed, &truth = c.truth;
    if (claim.dim() == 2 && truth.dim() == 2 && claim.size(0) == truth.size(1) &&
        claim.size(1) == truth.size(0) && compare_.close(transpose(claim), truth)) {
      c.diagnoses.push_back("it equals the true gradient transposed");
      return;
    }
    // A broadcast input's gradient adds up the gradients of all its copies.
    for (std::int64_t axis = 0; axis < claim.dim(); ++axis)
      for (const bool keepdim : {true, false})
        if (compare_.close(sum(claim, axis, keepdim), truth)) {
          c.diagnoses.push_back(
              "summing it over axis " + std::to_string(axis) + " gives the true gradient: " +
              c.name + " was broadcast along that axis, so its gradient must add up the "
              "gradients of all its copies (a missing broadcast reduction)");
          return;
        }
    // A matrix product left out: truth = aᵀ · claim or claim · aᵀ for a value a of the graph.
    for (const Tensor& a : graph_) {
      if (a.dim() != 2 || claim.dim() != 2) continue;
      if (a.size(0) == claim.size(0) && Shape{a.size(1), claim.size(1)} == truth.shape() &&
          compare_.close(matmul(transpose(a), claim), truth)) {
        c.diagnoses.push_back("the true gradient is " + describe(a) + "ᵀ · (your claim): the " +
                              "product with " + describe(a) + " is missing");
        return;
      }
      if (a.size(1) == claim.size(1) && Shape{claim.size(0), a.size(0)} == truth.shape() &&
          compare_.close(matmul(claim, transpose(a)), truth)) {
        c.diagnoses.push_back("the true gradient is (your claim) · " + describe(a) + "ᵀ: the " +
                              "product with " + describe(a) + " is missing");
        return;
      }
    }
  }

  // The claim is the gradient with respect to another claimed value or input.
  void wrong_variable(ClaimReport& c) {
    for (const auto& [other, truth] : truth_)
      if (other != c.name && compare_.close(c.claimed, truth)) {
        c.diagnoses.push_back("it is the gradient with respect to " + other + ", not " + c.name);
        return;
      }
  }

  const std::vector<Factor>& factors() {
    if (!factors_) factors_ = factors_of(graph_);
    return *factors_;
  }

  const Function& f_;
  const CheckOptions& o_;
  Comparer compare_;
  std::vector<Tensor> leaves_;
  Tensor output_;
  std::vector<Tensor> graph_;
  std::map<std::string, Tensor> named_;
  std::map<std::string, Tensor> truth_;
  std::vector<std::string> warnings_;
  std::optional<std::vector<Factor>> factors_;
};

}  // namespace

CheckReport check_gradient(const Function& f, const std::vector<Tensor>& inputs,
                           const std::map<std::string, Tensor>& claims,
                           const CheckOptions& options) {
  if (claims.empty()) throw ValueError("check_gradient: no claims to check");
  return Checker(f, inputs, options).run(claims);
}

std::ostream& operator<<(std::ostream& out, const CheckReport& report) {
  std::size_t wrong = 0;
  for (const ClaimReport& c : report.claims) wrong += c.verdict == Verdict::wrong;
  out << "check_gradient: " << report.claims.size() << " claim"
      << (report.claims.size() == 1 ? "" : "s") << ", " << wrong << " wrong";
  if (!report.first_wrong_step.empty())
    out << "; the first wrong step is " << report.first_wrong_step
        << " (every claim between it and the output agrees)";
  out << "\n";
  for (const std::string& w : report.warnings) out << "  warning: " << w << "\n";
  for (const ClaimReport& c : report.claims) {
    out << "  " << c.name << ": " << to_string(c.verdict);
    if (c.claimed_shape == c.true_shape)
      out << " (max abs error " << c.max_abs_error << ", max rel error " << c.max_rel_error
          << (c.verdict == Verdict::match
                  ? ")"
                  : "; worst at " + element(c.name, c.worst_index) + ": claimed " +
                        format(c.claimed_at_worst) + ", true " + format(c.true_at_worst) + ")");
    out << "\n";
    for (const std::string& d : c.diagnoses) out << "    - " << d << "\n";
  }
  return out;
}

std::string check_diagram(const CheckReport& report, DotOptions options) {
  for (const ClaimReport& c : report.claims) {
    const char* colour = c.verdict == Verdict::match   ? "#c8ecc4"
                         : c.verdict == Verdict::wrong ? "#f6b8b8"
                                                       : "#dddddd";
    options.colours.emplace_back(report.values.at(c.name), colour);
  }
  if (options.title.empty())
    options.title = report.first_wrong_step.empty()
                        ? "Gradient check: every claim agrees"
                        : "Gradient check: the first wrong step is " + report.first_wrong_step;
  return to_dot({report.output}, options);
}

}  // namespace gradlab
