#include "gradlab/tools/check.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "gradlab/core/errors.hpp"
#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/core/reference_backward.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/matmul.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

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

using Values = std::vector<double>;
constexpr double unit_roundoff = std::numeric_limits<double>::epsilon() / 2;

std::string format(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string element(const std::string& name, const std::vector<std::int64_t>& index) {
  return name + to_string(index);
}

// t's numbers as doubles; a copy of the memory when t is float64 (values() reads them one
// by one, slow for the million elements of a large check).
Values numbers(const Tensor& t) {
  if (t.dtype() != DType::float64) return t.values();
  const double* p = t.data<double>();
  return Values(p, p + t.numel());
}

double norm_inf(const Values& v) {
  double m = 0;
  for (const double x : v) m = std::max(m, std::abs(x));
  return m;
}
double norm_inf(const Tensor& t) { return norm_inf(t.values()); }

bool all_zero(const Values& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return x == 0; });
}

// One number everywhere (to rounding)?
bool constant(const Values& v) {
  return std::all_of(v.begin(), v.end(), [&](double x) { return std::abs(x - v[0]) <= 1e-12 * (1 + std::abs(v[0])); });
}

// Only 0s and 1s, and both of them: a mask.
bool is_mask(const Values& v) {
  bool zero = false, one = false;
  for (const double x : v) {
    if (x == 0) zero = true;
    else if (x == 1) one = true;
    else return false;
  }
  return zero && one;
}

// The same numbers with the axes in the order `perm` (perm[i]: which old axis is new axis i).
Tensor permuted(const Tensor& t, const std::vector<std::int64_t>& perm) {
  const Values v = t.values();
  const std::int64_t d = t.dim();
  Shape shape;
  for (const std::int64_t p : perm) shape.push_back(t.size(p));
  std::vector<std::int64_t> strides(d, 1);
  for (std::int64_t k = d - 2; k >= 0; --k) strides[k] = strides[k + 1] * t.size(k + 1);
  Values out(v.size());
  std::vector<std::int64_t> index(d, 0);
  for (std::size_t flat = 0; flat < out.size(); ++flat) {
    std::int64_t from = 0;
    for (std::int64_t k = 0; k < d; ++k) from += index[k] * strides[perm[k]];
    out[flat] = v[from];
    for (std::int64_t k = d - 1; k >= 0 && ++index[k] == shape[k]; --k) index[k] = 0;
  }
  return from_vector(out, shape);
}

// The comparisons of Note [Verdicts], and of the candidate explanations against a claim.
struct Tolerance {
  double rtol, atol;
  // |a − b| ≤ atol + rtol · max(‖a‖∞, ‖b‖∞) everywhere, shapes equal.
  bool close(const Tensor& a, const Tensor& b) const {
    if (!a.defined() || !b.defined() || a.shape() != b.shape()) return false;
    const Values va = a.values(), vb = b.values();
    const double bound = atol + rtol * std::max(norm_inf(va), norm_inf(vb));
    for (std::size_t i = 0; i < va.size(); ++i)
      if (!(std::abs(va[i] - vb[i]) <= bound)) return false;
    return true;
  }
  // The k with claim ≈ k · candidate (least squares, then checked everywhere).
  std::optional<double> scale(const Tensor& claim, const Tensor& candidate) const {
    if (!candidate.defined() || claim.shape() != candidate.shape()) return {};
    const Values c = claim.values(), a = candidate.values();
    double ca = 0, aa = 0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      ca += c[i] * a[i];
      aa += a[i] * a[i];
    }
    if (!(aa > 0)) return {};
    const double k = ca / aa;
    if (!close(claim, candidate * k)) return {};
    return k;
  }
};

// a ∘ f, when f broadcasts to a's shape (as a factor in a formula would).
std::optional<Tensor> times(const Tensor& a, const Tensor& f) {
  try {
    if (kernels::broadcast_shapes("check", a.shape(), f.shape()) != a.shape()) return {};
  } catch (const ShapeError&) {
    return {};
  }
  return a * f;
}

// A fresh leaf that requires grad, with x's numbers: what a backward formula is given in
// place of one of its inputs when the checker asks "what if this input were …".
Tensor stand_in(const Tensor& x) {
  Tensor t = x.detach().clone();
  t.set_requires_grad();
  return t;
}

// The local derivatives a learner writes for an activation, as functions of the value they
// are evaluated at (the activation's input or output); Note [Diagnoses], family 4.
struct Form {
  const char* name;                       // "σ′"
  std::function<std::string(const std::string&)> text;  // "y ∘ (1 − y)" for "y"
  std::function<Tensor(const Tensor&)> of;              // the numbers
};
const std::vector<Form>& forms() {
  static const std::vector<Form> all = {
      {"σ′ in terms of σ", [](const std::string& p) { return p + " ∘ (1 − " + p + ")"; },
       [](const Tensor& p) { return p * (1.0 - p); }},
      {"tanh′ in terms of tanh", [](const std::string& p) { return "1 − " + p + "²"; },
       [](const Tensor& p) { return 1.0 - p * p; }},
      {"σ′", [](const std::string& p) { return "σ(" + p + ") ∘ (1 − σ(" + p + "))"; },
       [](const Tensor& p) { return sigmoid(p) * (1.0 - sigmoid(p)); }},
      {"tanh′", [](const std::string& p) { return "1 − tanh(" + p + ")²"; },
       [](const Tensor& p) { return 1.0 - tanh(p) * tanh(p); }},
      {"(1 − ·) alone", [](const std::string& p) { return "1 − " + p; },
       [](const Tensor& p) { return 1.0 - p; }},
      {"· alone", [](const std::string& p) { return p; }, [](const Tensor& p) { return p; }},
  };
  return all;
}

// The window of a pooling: rows and columns.
struct Window {
  std::int64_t h, w;
};

// What one candidate explanation says, and the value of the graph it points at.
struct Finding {
  std::string text;
  Tensor culprit;
};

class Checker {
 public:
  Checker(const Function& f, const std::vector<Tensor>& inputs, const CheckOptions& o)
      : f_(f), o_(o) {
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
    if (o_.seed.defined()) seed_ = to(o_.seed.detach(), DType::float64).clone();
    {
      enable_grad recording;  // also when called inside no_grad
      loss_ = loss_of(leaves_, &value_);
    }
    if (!loss_.requires_grad())
      throw GraphError("check_gradient: the output does not depend on any input");
    graph_ = topological_order({loss_});
    for (std::size_t k = 0; k < graph_.size(); ++k) {
      index_[graph_[k].impl()] = k;
      const Tensor& t = graph_[k];
      if (!t.name().empty() && t.requires_grad()) named_.try_emplace(t.name(), t);
    }
    if (seed_.defined()) seed_node_ = index_.at(loss_.node()->inputs()[0].impl());
  }

  CheckReport run(const std::map<std::string, Tensor>& claims) {
    CheckReport report;
    report.output = loss_;
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
      return grad({loss_}, targets, {.retain_graph = true});
    }();
    for (std::size_t i = 0; i < names.size(); ++i) truth_[names[i]] = truths[i];

    // In the order backward visits them: later in the forward order first.
    std::vector<std::string> order;
    for (const auto& [name, claim] : claims) order.push_back(name);
    std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
      return position(named_.at(a)) > position(named_.at(b));
    });

    for (const std::string& name : order) {
      ClaimReport c = compare(name, claims.at(name));
      if (c.verdict == Verdict::wrong && report.first_wrong_step.empty())
        report.first_wrong_step = name;
      report.claims.push_back(std::move(c));
    }
    return report;
  }

 private:
  // ---- the function and its graph ----

  // The loss: f's one number, or sum(f(xs) ∘ seed). `value`, if given, gets f(xs).
  Tensor loss_of(const std::vector<Tensor>& xs, Tensor* value = nullptr) const {
    const Tensor result = f_(xs);
    if (!result.defined()) throw ShapeError("check_gradient: the function returned nothing");
    // In float64, without a node of its own when it already is (to() always makes one).
    const Tensor v = result.dtype() == DType::float64 ? result : to(result, DType::float64);
    if (value) *value = v;
    if (seed_.defined()) {
      if (v.shape() != seed_.shape())
        throw ShapeError("check_gradient: the function returned " + to_string(v.shape()) +
                         ", but the seed (the upstream gradient) is " + to_string(seed_.shape()));
      return sum(v * seed_);
    }
    if (v.numel() != 1)
      throw ShapeError("check_gradient: the function must return one number (a loss), got " +
                       to_string(v.shape()) + "; give CheckOptions::seed for a larger result");
    return v;
  }

  static std::string name_of(const Tensor& x, std::size_t i) {
    return x.name().empty() ? "input " + std::to_string(i) : x.name();
  }

  std::string unknown(const std::string& name) const {
    std::string known;
    for (const auto& [n, t] : named_) known += (known.empty() ? "" : ", ") + n;
    return "no value named '" + name + "' with a gradient (the named values that have one: " +
           known + ")";
  }

  std::size_t position(const Tensor& t) const { return index_.at(t.impl()); }

  // How a value of the graph reads in a sentence: its name; a number; else the expression
  // that made it, a few ops deep ("lam / 2 ∘ sum(W²)").
  std::string describe(const Tensor& t, int depth = 3) const {
    if (!t.name().empty()) return t.name();
    const Node* n = t.node();
    if (!n) return t.numel() == 1 ? format(t.item()) : "a constant " + to_string(t.shape());
    if (depth == 0) return "…";
    const std::string op = n->op->name;
    const auto arg = [&](std::size_t i) {
      const Tensor& x = n->inputs()[i];
      const bool infix = x.node() && x.name().empty() &&
                         std::string_view("add sub hadamard div matmul").find(x.node()->op->name) !=
                             std::string_view::npos;
      const std::string s = describe(x, depth - 1);
      return infix ? "(" + s + ")" : s;
    };
    static const std::map<std::string, std::string> infix = {
        {"add", " + "}, {"sub", " − "}, {"hadamard", " ∘ "}, {"div", " / "}, {"matmul", " · "}};
    if (const auto it = infix.find(op); it != infix.end() && n->inputs().size() == 2)
      return arg(0) + it->second + arg(1);
    if (op == "neg") return "−" + arg(0);
    if (op == "pow")
      if (const std::optional<double> p = power(graph_index(t))) return arg(0) + "^" + format(*p);
    if (op == "transpose" && n->inputs().size() == 1) return arg(0) + "ᵀ";
    std::string s = op + "(";
    for (std::size_t i = 0; i < n->inputs().size(); ++i) s += (i ? ", " : "") + describe(n->inputs()[i], depth - 1);
    return s + ")";
  }

  std::size_t graph_index(const Tensor& t) const { return index_.at(t.impl()); }

  // The local derivative of node k's output with respect to its input i, elementwise: its
  // backward with G = 1, for an input of the output's shape.
  std::optional<Tensor> local_derivative(std::size_t k, std::size_t i) const {
    const Tensor& y = graph_[k];
    const Node* n = y.node();
    if (!n || i >= n->inputs().size() || n->inputs()[i].shape() != y.shape() ||
        !n->inputs()[i].requires_grad())
      return {};
    try {
      const Tensor ones = ones_like(y);
      const Grads g = n->backward(BackwardContext{ones, y, n->inputs(), n->saved()});
      if (i < g.size() && g[i].defined()) return g[i];
    } catch (const Error&) {
    }
    return {};
  }

  // p, when node k computes x^p elementwise (its local derivative is p·y/x).
  std::optional<double> power(std::size_t k) const {
    const Node* n = graph_[k].node();
    if (!n || n->inputs().size() != 1) return {};
    const std::optional<Tensor> d = local_derivative(k, 0);
    if (!d) return {};
    const Values dv = d->values(), x = n->inputs()[0].values(), y = graph_[k].values();
    std::optional<double> p;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (std::abs(y[i]) < 1e-300 || std::abs(x[i]) < 1e-300) continue;
      const double here = dv[i] * x[i] / y[i];
      if (p && std::abs(here - *p) > 1e-9 * std::abs(*p)) return {};
      p = here;
    }
    if (!p || std::abs(*p - 1) < 1e-12 || std::abs(*p) < 1e-12) return {};
    return std::abs(std::round(*p) - *p) < 1e-9 ? std::round(*p) : *p;  // 2, not 1.9999999999
  }

  // ---- the backward walk the candidates are made with ----

  // A change to what node `node` sends back: given its context and what it truly sends,
  // what it sends instead.
  using Alteration = std::function<Grads(const BackwardContext&, const Grads&)>;

  // ∂(⟨seed, graph_[from]⟩)/∂ every tensor of the graph, by the plain reverse walk
  // (src/gradlab/core/reference_backward.hpp), with the nodes in `alter` changed.
  using Alterations = std::vector<std::pair<std::size_t, Alteration>>;
  std::vector<Tensor> walk(std::size_t from, const Tensor& seed, const Alterations& alter = {}) const {
    if (alter.empty()) return reference::walk(graph_, from, seed);
    return reference::walk(graph_, from, seed, [&](std::size_t k, const BackwardContext& ctx, const Grads& sent) {
      Grads g = sent;
      for (const auto& [node, change] : alter)
        if (node == k) g = change(ctx, g);
      return g;
    });
  }
  std::vector<Tensor> walk_altered(const Alterations& alter) const {
    return walk(graph_.size() - 1, ones_like(loss_), alter);
  }
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  // Does graph_[k] depend on graph_[v]?
  std::vector<bool> depends_on(std::size_t v) const {
    std::vector<bool> dep(graph_.size(), false);
    dep[v] = true;
    for (std::size_t k = v + 1; k < graph_.size(); ++k)
      if (const Node* n = graph_[k].node())
        for (const Tensor& x : n->inputs())
          if (dep[index_.at(x.impl())]) dep[k] = true;
    return dep;
  }

  // ---- the verdict ----

  ClaimReport compare(const std::string& name, const Tensor& given) {
    no_grad plain;
    ClaimReport c;
    c.name = name;
    c.claimed = to(given.detach(), DType::float64);
    c.truth = truth_.at(name);
    c.claimed_shape = c.claimed.shape();
    c.true_shape = c.truth.shape();
    c.rtol = given.dtype() == DType::float32 ? std::max(o_.rtol, o_.float32_rtol) : o_.rtol;
    const std::size_t v = position(named_.at(name));
    const double truth_norm = norm_inf(c.truth);
    // The rounding floor of each element (Note [Rounding floor]).
    const double everywhere = std::max(truth_norm, largest_term(v));
    const Values& terms = term_sizes(v);
    Values floor(static_cast<std::size_t>(c.truth.numel()));
    for (std::size_t e = 0; e < floor.size(); ++e)
      floor[e] = 1e3 * unit_roundoff * std::max(everywhere, e < terms.size() ? terms[e] : 0.0);
    c.rounding = from_vector(floor, c.truth.shape());
    c.atol = std::max(o_.atol, norm_inf(floor));
    c.tolerance = c.atol + c.rtol * truth_norm;
    if (c.claimed.shape() == c.truth.shape()) {
      measure(c, truth_norm);
      const Values a = c.claimed.values(), t = c.truth.values();
      bool within = true, beyond_floor = false;
      for (std::size_t e = 0; e < a.size(); ++e) {
        if (!(std::abs(a[e] - t[e]) <= allowed(c, e))) within = false;
        if (std::abs(t[e]) > floor[e]) beyond_floor = true;
      }
      // A claim of zeros for a gradient that is not zero is wrong at any atol.
      if (within && !(all_zero(a) && beyond_floor)) return c;
      c.verdict = Verdict::wrong;
      if (kink(c)) return c;
    } else {
      c.verdict = Verdict::wrong;
      c.diagnoses.push_back("its shape is " + to_string(c.claimed.shape()) + ", but the gradient of " +
                            name + " has the shape of " + name + ": " + to_string(c.truth.shape()));
    }
    diagnose(c, v);
    return c;
  }

  // The largest of the terms the gradient of graph_[v] is the sum of (what each of its
  // consumers sends back): the scale of its rounding error when they cancel.
  double largest_term(std::size_t v) const {
    double m = 0;
    for (const auto& [k, i] : uses(v)) {
      const Node* n = graph_[k].node();
      const std::vector<Tensor>& g = true_walk();
      if (!g[k].defined()) continue;
      const Grads sent = n->backward(BackwardContext{g[k], graph_[k], n->inputs(), n->saved()});
      if (i < sent.size() && sent[i].defined()) m = std::max(m, norm_inf(sent[i]));
    }
    return m;
  }

  // The largest |claim − true| element e of claim c may have and match: the larger of the
  // user's atol and its rounding floor, plus rtol · ‖true‖∞.
  double allowed(const ClaimReport& c, std::size_t e) const {
    return std::max(o_.atol, c.rounding.data<double>()[e]) + (c.tolerance - c.atol);
  }

  // Is the true gradient zero but for rounding (within its floor everywhere)?
  static bool noise(const ClaimReport& c) {
    if (!c.rounding.defined() || c.rounding.shape() != c.truth.shape()) return false;
    const Values t = c.truth.values(), floor = c.rounding.values();
    for (std::size_t e = 0; e < t.size(); ++e)
      if (std::abs(t[e]) > floor[e]) return false;
    return true;
  }

  // Note [Rounding floor]
  // A gradient that is zero by cancellation comes out of the engine as rounding noise: for
  // sum(A·x) with A = (0.1, 0.2, −0.3)ᵀ, ∂x = 0.1 + 0.2 − 0.3 is 5.6e-17, not 0, and the noise is
  // of the size of the terms summed (0.3 · 2⁻⁵³), however small their sum. So the floor of
  // each element is set by the size of the terms its gradient is made of, through every op
  // of the backward pass, not by the size of what arrives: a claim of 0 there is right, and a
  // claim off by 1e-10 where the terms are ~1 is still wrong (the floor is ~1e-13 of them).
  // Measuring the noise instead (backward run again with its seed scaled by a number that is
  // not a power of two, so that every rounding changes) would not do: two noisy numbers can
  // agree by chance, and what was rounded in the forward pass is not drawn again. Nor would
  // the claim's own rounding: a claim given as numbers has none to see.
  //
  // The size: rounding errors are independent, so they add in quadrature, and an element of
  // what node k sends back, Σⱼ Jⱼᵢ Gⱼ (J its Jacobian, G what it receives), has terms of root
  // sum of squares √(Σⱼ Jⱼᵢ² Gⱼ²). Walking the graph like backward does, with s² in place of
  // G: s²(input) = Σ over its uses of (J²)ᵀ s²(output), where s(output) is at least |G|, so
  // that each op's own terms and the noise it carries from above are both counted; the loss
  // starts at 1. Quadrature, not Σ |Jⱼᵢ| s: the absolute values of a product of signed
  // matrices grow like √n per layer faster than the product, and a deep network's floor
  // would swallow its slips. (J²)ᵀ s² is exact for an elementwise op (s² ∘ its local
  // derivative²) and for a small one (its Jacobian, one backward per output element); for a
  // large one it is the mean of (Jᵀ(r ∘ s))² over random signs r (its expectation; exact
  // where no element sums several terms, about 30% off where many do, and 0 only when a few
  // terms cancel under all 24 draws, one chance in 2²⁴ for two). The floor is 10³ rounding
  // units of the largest of: that size, ‖true‖∞ and the largest term from one use (the floor
  // before this one, kept so that no verdict it gave changes except where cancellation made
  // it too low). A sum of n terms rounds to about √n · u of their root sum of squares, so the
  // 10³ holds for up to ~10⁶ terms summed in one op (more when summed in blocks, as BLAS does).
  const Values& term_sizes(std::size_t v) const {
    if (!term_sizes_) {
      no_grad plain;
      const std::vector<Tensor>& g = true_walk();
      std::vector<Values> s2(graph_.size());
      s2.back().assign(static_cast<std::size_t>(loss_.numel()), 1.0);
      for (std::size_t k = graph_.size(); k-- > 0;) {
        const Node* n = graph_[k].node();
        if (!n || s2[k].empty() || !g[k].defined()) continue;
        const Values gk = numbers(g[k]);
        for (std::size_t e = 0; e < gk.size(); ++e) s2[k][e] = std::max(s2[k][e], gk[e] * gk[e]);
        const std::vector<Values> sent = squared_backward(k, s2[k]);
        for (std::size_t i = 0; i < sent.size(); ++i) {
          if (sent[i].empty()) continue;
          Values& to = s2[index_.at(n->inputs()[i].impl())];
          if (to.empty()) to.assign(sent[i].size(), 0.0);
          for (std::size_t e = 0; e < to.size(); ++e) to[e] += sent[i][e];
        }
      }
      for (Values& s : s2)
        for (double& x : s) x = std::sqrt(x);
      term_sizes_ = std::move(s2);
    }
    return (*term_sizes_)[v];
  }

  // (Jᵢ²)ᵀ w for each input i of node k (Jᵢ: the Jacobian of its output with respect to
  // input i; w ≥ 0, of the output's shape); empty for inputs without a gradient, or when
  // the backward cannot be called so (then the floor falls back to the rest of its terms).
  std::vector<Values> squared_backward(std::size_t k, const Values& w) const {
    const Node* n = graph_[k].node();
    const Tensor& y = graph_[k];
    const std::size_t m = n->inputs().size();
    std::vector<Values> out(m);
    const auto sends = [&](std::size_t i, const Grads& g) {
      return n->inputs()[i].requires_grad() && i < g.size() && g[i].defined() &&
             g[i].shape() == n->inputs()[i].shape();
    };
    const auto add_squares = [&](const Grads& g, const std::function<double(std::size_t)>& weight) {
      for (std::size_t i = 0; i < m; ++i) {
        if (!sends(i, g)) continue;
        const Values r = numbers(g[i]);
        if (out[i].empty()) out[i].assign(r.size(), 0.0);
        for (std::size_t e = 0; e < r.size(); ++e) out[i][e] += r[e] * r[e] * weight(e);
      }
    };
    const auto back = [&](const Values& grad) {
      const Tensor G = to(from_vector(grad, y.shape()), y.dtype());
      return n->backward(BackwardContext{G, y, n->inputs(), n->saved()});
    };
    try {
      if (const std::optional<Grads> d = diagonal(k)) {  // J is diagonal: the local derivatives
        add_squares(*d, [&](std::size_t e) { return w[e]; });
        return out;
      }
      std::int64_t inputs = 0;
      for (const Tensor& x : n->inputs()) inputs += x.numel();
      const std::int64_t outputs = y.numel();
      if (outputs <= 1024 && outputs * inputs <= (std::int64_t(1) << 22)) {
        // Row by row: the backward of each unit gradient is the row of J it picks.
        Values unit(static_cast<std::size_t>(outputs), 0.0);
        for (std::size_t j = 0; j < unit.size(); ++j) {
          if (w[j] == 0) continue;
          unit[j] = 1;
          add_squares(back(unit), [&](std::size_t) { return w[j]; });
          unit[j] = 0;
        }
        return out;
      }
      // Random signs: E[(Jᵀ(r ∘ √w))²] = (J²)ᵀ w. Drawn the same way every time, so that a
      // check gives the same verdict twice.
      constexpr int probes = 24;
      std::uint64_t state = 0x9e3779b97f4a7c15ull ^ std::uint64_t(k);
      Values probe(w.size());
      for (int p = 0; p < probes; ++p) {
        for (std::size_t j = 0; j < probe.size(); ++j) {
          state = state * 6364136223846793005ull + 1442695040888963407ull;
          probe[j] = (state >> 63 ? 1.0 : -1.0) * std::sqrt(w[j]);
        }
        add_squares(back(probe), [](std::size_t) { return 1.0 / probes; });
      }
    } catch (const Error&) {
      return std::vector<Values>(m);
    }
    return out;
  }

  // The local derivative of node k with respect to each input that has a gradient, when it
  // acts elementwise on all of them (relu; a product a ∘ b of two equal shapes).
  std::optional<Grads> diagonal(std::size_t k) const {
    const Node* n = graph_[k].node();
    Grads local(n->inputs().size());
    for (std::size_t i = 0; i < local.size(); ++i) {
      if (!n->inputs()[i].requires_grad()) continue;
      const std::optional<Tensor> d = local_derivative(k, i);
      if (!d) return {};
      local[i] = *d;
    }
    Values probe(graph_[k].numel());
    for (std::size_t e = 0; e < probe.size(); ++e) probe[e] = 1.0 + 0.618 * double(e % 7) - 0.25 * double(e % 3);
    const Tensor g = to(from_vector(probe, graph_[k].shape()), graph_[k].dtype());
    const Grads sent = n->backward(BackwardContext{g, graph_[k], n->inputs(), n->saved()});
    for (std::size_t i = 0; i < local.size(); ++i) {
      if (!local[i].defined()) continue;
      if (i >= sent.size() || !sent[i].defined() || sent[i].shape() != local[i].shape()) return {};
      const Values got = numbers(sent[i]), d = numbers(local[i]);
      for (std::size_t e = 0; e < got.size(); ++e)
        if (!(std::abs(got[e] - probe[e] * d[e]) <= 1e-9 * std::abs(probe[e] * d[e]) + 1e-300)) return {};
    }
    return local;
  }

  // The edges (node, input) along which graph_[v] is used.
  const std::vector<std::pair<std::size_t, std::size_t>>& uses(std::size_t v) const {
    if (!uses_) {  // once for the whole graph: a check may have thousands of claims
      uses_.emplace(graph_.size());
      for (std::size_t k = 0; k < graph_.size(); ++k)
        if (const Node* n = graph_[k].node())
          for (std::size_t i = 0; i < n->inputs().size(); ++i)
            (*uses_)[index_.at(n->inputs()[i].impl())].emplace_back(k, i);
    }
    return (*uses_)[v];
  }

  const std::vector<Tensor>& true_walk() const {
    if (!true_walk_) true_walk_ = walk(graph_.size() - 1, ones_like(loss_));
    return *true_walk_;
  }
  // The true gradient with respect to graph_[k] (zeros where none flows).
  Tensor true_at(std::size_t k) const {
    const Tensor& g = true_walk()[k];
    return g.defined() ? g : zeros_like(graph_[k]);
  }

  // The errors, and the element where the claim is furthest off.
  static void measure(ClaimReport& c, double truth_norm) {
    const Values a = c.claimed.values(), t = c.truth.values();
    double worst = -1;
    for (std::size_t i = 0; i < a.size(); ++i) {
      double diff = std::abs(a[i] - t[i]);
      if (std::isnan(diff)) diff = INFINITY;
      // Relative to the true value where it is not ~0 (a relative error of 0 is meaningless).
      if (std::abs(t[i]) > 1e-12 * truth_norm && t[i] != 0)
        c.max_rel_error = std::max(c.max_rel_error, diff / std::abs(t[i]));
      if (diff > worst) {
        worst = diff;
        c.worst_index = unravel_index(static_cast<std::int64_t>(i), c.truth.shape());
        c.claimed_at_worst = a[i];
        c.true_at_worst = t[i];
      }
    }
    c.max_abs_error = std::max(worst, 0.0);
    c.rel_error = truth_norm > 0 ? c.max_abs_error / truth_norm : (c.max_abs_error > 0 ? INFINITY : 0);
  }

  // ---- kinks ----

  // Is every element where the claim is off a kink of the function, with the claim between
  // the left and right derivatives there? Only inputs can be nudged. The one-sided
  // derivatives of all those elements come from two gradients, at x − ε and x + ε on them
  // (linear in their number); where that cannot tell (a tie in max pooling moves with both
  // of its elements), one element at a time, for at most a few hundred.
  bool kink(ClaimReport& c) {
    const auto leaf = std::find_if(leaves_.begin(), leaves_.end(),
                                   [&](const Tensor& x) { return x.name() == c.name; });
    if (leaf == leaves_.end()) return false;
    const std::size_t which = leaf - leaves_.begin();
    const Values a = c.claimed.values(), t = c.truth.values();
    std::vector<std::size_t> off;
    for (std::size_t j = 0; j < a.size(); ++j)
      if (!(std::abs(a[j] - t[j]) <= allowed(c, j))) off.push_back(j);
    if (off.empty()) return false;  // wrong as a whole (zeros for a gradient that is not zero)
    const Values left = gradient_nudged(which, off, -o_.eps), right = gradient_nudged(which, off, o_.eps);
    std::vector<std::string> kinks;
    std::size_t one_by_one = 0;
    for (const std::size_t j : off) {
      double l = left[j], r = right[j];
      // One-sided derivatives are off by O(ε·f''); a kink makes them differ by O(1).
      const auto slack = [&] { return c.atol + 1e3 * o_.eps + c.rtol * std::max(std::abs(l), std::abs(r)); };
      if (std::abs(l - r) <= slack()) {
        if (++one_by_one > 256) return false;
        std::tie(l, r) = one_sided(which, static_cast<std::int64_t>(j));
      }
      const bool between = a[j] >= std::min(l, r) - slack() && a[j] <= std::max(l, r) + slack();
      if (std::abs(l - r) <= slack() || !between) return false;
      if (kinks.size() < 8)
        kinks.push_back(element(c.name, unravel_index(static_cast<std::int64_t>(j), c.truth.shape())) +
                        ": left derivative " + format(l) + ", right derivative " + format(r) +
                        ", your claim " + format(a[j]));
    }
    c.verdict = Verdict::not_differentiable;
    for (const std::string& k : kinks) c.diagnoses.push_back("not differentiable at " + k);
    if (off.size() > kinks.size())
      c.diagnoses.push_back("… and at " + std::to_string(off.size() - kinks.size()) + " more elements");
    return true;
  }

  // Leaves like the ones f first got, in grad mode (f may itself take gradients inside).
  std::vector<Tensor> fresh_leaves() const {
    std::vector<Tensor> xs;
    for (const Tensor& x : leaves_) xs.push_back(x.detach().clone().set_requires_grad().name(x.name()));
    return xs;
  }

  // The gradient with respect to input `which` at the point where elements `at` of it are
  // moved by `step`.
  Values gradient_nudged(std::size_t which, const std::vector<std::size_t>& at, double step) const {
    enable_grad recording;
    std::vector<Tensor> xs = fresh_leaves();
    double* p = xs[which].data<double>();
    for (const std::size_t j : at) p[j] += step;
    const Tensor l = loss_of(xs);
    if (!l.requires_grad()) return Values(xs[which].numel(), 0.0);
    no_grad plain;
    return grad({l}, {xs[which]})[0].values();
  }

  // (L(x) − L(x − ε·eⱼ))/ε and (L(x + ε·eⱼ) − L(x))/ε for element j of input `which`.
  std::pair<double, double> one_sided(std::size_t which, std::int64_t j) const {
    enable_grad recording;
    std::vector<Tensor> xs = fresh_leaves();
    double* p = xs[which].data<double>();
    const double saved = p[j];
    const double here = loss_of(xs).item();
    p[j] = saved + o_.eps;
    const double up = loss_of(xs).item();
    p[j] = saved - o_.eps;
    const double down = loss_of(xs).item();
    return {(here - down) / o_.eps, (up - here) / o_.eps};
  }

  // ---- the diagnoses (Note [Diagnoses]) ----

  // The families, each tried in turn; every candidate that fits is reported, the simplest
  // (whole-claim relations) first.
  void diagnose(ClaimReport& c, std::size_t v) {
    const Tolerance tol{std::max(c.rtol, 1e-9), c.atol};
    std::vector<Finding> found;
    const auto add = [&](std::string text, Tensor culprit = {}) {
      for (const Finding& f : found)
        if (f.text == text) return;
      found.push_back({std::move(text), std::move(culprit)});
    };
    whole_claim(c, v, tol, add);
    if (found.empty()) terms(c, v, tol, add);
    if (found.empty()) reductions(c, v, tol, add);
    if (found.empty()) alterations(c, v, tol, add);
    if (found.empty()) exp_factors(c, tol, add);
    if (found.empty()) upstream(c, v, tol, add);
    if (found.empty()) other_variable(c, v, tol, add);
    if (found.empty()) one_hot_difference(c, tol, add);
    if (found.empty() && noise(c))
      add("the true gradient is zero: its terms cancel (what is left, at most " + format(norm_inf(c.truth)) +
              ", is rounding), but your claim is not",
          {});
    for (const Finding& f : found) {
      c.diagnoses.push_back(f.text);
      if (!c.culprit.defined() && f.culprit.defined()) c.culprit = f.culprit;
    }
    c.explained = !found.empty();
    if (found.empty()) unexplained(c);
  }
  using Add = std::function<void(std::string, Tensor)>;

  // Family 1: the claim is the true gradient transformed as a whole: scaled (and by which
  // constant of the graph), transposed, its axes in another order, flipped, reshaped, or
  // lacking a sum over the axes of a broadcast or a product with a value of the graph.
  void whole_claim(const ClaimReport& c, std::size_t v, const Tolerance& tol, const Add& add) const {
    const Tensor &claim = c.claimed, &truth = c.truth;
    if (claim.shape() == truth.shape()) {
      if (norm_inf(claim) <= 1e-9 * norm_inf(truth)) {  // zero, or zero but for rounding
        add("it is zero, but the true gradient is not", {});
        return;
      }
      // (Not when the true gradient is rounding noise: k times noise says nothing.)
      if (const std::optional<double> k = tol.scale(claim, truth); k && std::abs(*k - 1) > 1e-9 && !noise(c))
        add(scale_story(*k, v), {});
    }
    bool transposed_found = false;
    if (claim.dim() >= 2 && claim.numel() > 1) {
      // Every order of the axes that gives the claim's shape (rank ≤ 4: at most 24).
      std::vector<std::int64_t> perm(truth.dim());
      std::iota(perm.begin(), perm.end(), 0);
      if (truth.dim() <= 4 && truth.dim() == claim.dim())
        while (std::next_permutation(perm.begin(), perm.end())) {
          const Tensor p = permuted(truth, perm);
          if (p.shape() != claim.shape() || !tol.close(claim, p) || tol.close(claim, truth)) continue;
          const bool last_two = perm.size() >= 2 && perm[perm.size() - 2] == std::int64_t(perm.size()) - 1 &&
                                perm.back() == std::int64_t(perm.size()) - 2 &&
                                std::is_sorted(perm.begin(), perm.end() - 2);
          transposed_found = true;
          add(last_two ? std::string("it equals the true gradient transposed")
                       : "it is the true gradient with its axes in another order (axis k of your "
                         "claim is axis " + to_string(perm) + "[k] of the true one): are two "
                         "axes swapped, such as the input and output channels?",
              {});
          break;
        }
      if (claim.shape() == truth.shape()) {
        const Tensor flipped = flip(flip(truth, -1), -2);
        if (tol.close(claim, flipped) && !tol.close(claim, truth))
          add("it is the true gradient flipped along its last two axes (rotated by 180°): the "
              "kernel is not flipped — convolution flips it, cross-correlation does not",
              {});
      }
    }
    if (claim.shape() != truth.shape() && !transposed_found) {
      if (claim.numel() == truth.numel() && tol.close(reshape(claim, truth.shape()), truth)) {
        add("it has the right numbers in the wrong shape: reshape it to " + to_string(truth.shape()) +
                ", the shape of " + c.name,
            {});
        return;
      }
      if (!broadcast_sums(c, tol, add)) products(c, tol, add);
    }
  }

  // The true gradient is your claim summed over some axes: the value was broadcast.
  bool broadcast_sums(const ClaimReport& c, const Tolerance& tol, const Add& add) const {
    const Tensor& claim = c.claimed;
    if (claim.dim() > 6) return false;
    for (std::uint32_t mask = 1; mask < (1u << claim.dim()); ++mask)
      for (const bool keepdim : {true, false}) {
        Tensor s = claim;
        std::string axes;
        for (std::int64_t axis = claim.dim() - 1; axis >= 0; --axis)
          if (mask & (1u << axis)) {
            s = sum(s, axis, keepdim);
            axes = std::to_string(axis) + (axes.empty() ? "" : " and " + axes);
          }
        if (tol.close(s, c.truth)) {
          const bool one = std::has_single_bit(mask);
          add("summing it over axis " + axes + " gives the true gradient: " + c.name + " was broadcast along " +
                  (one ? "that axis" : "those axes") + ", so its gradient must add up the gradients of "
                  "all its copies (a missing broadcast reduction)",
              {});
          return true;
        }
      }
    return false;
  }

  // A matrix product left out: truth = aᵀ · claim or claim · aᵀ for a value a of the graph.
  void products(const ClaimReport& c, const Tolerance& tol, const Add& add) const {
    const Tensor &claim = c.claimed, &truth = c.truth;
    if (claim.dim() != 2 || truth.dim() != 2) return;
    for (const Tensor& a : graph_) {
      if (a.dim() != 2) continue;
      if (a.size(0) == claim.size(0) && Shape{a.size(1), claim.size(1)} == truth.shape() &&
          tol.close(matmul(transpose(a), claim), truth)) {
        add("the true gradient is " + describe(a) + "ᵀ · (your claim): the product with " +
                describe(a) + " is missing",
            a);
        return;
      }
      if (a.size(1) == claim.size(1) && Shape{claim.size(0), a.size(0)} == truth.shape() &&
          tol.close(matmul(claim, transpose(a)), truth)) {
        add("the true gradient is (your claim) · " + describe(a) + "ᵀ: the product with " +
                describe(a) + " is missing",
            a);
        return;
      }
    }
  }

  // The constants of the graph between graph_[v] and the loss, each a factor of the true
  // gradient: a mean's 1/N, a power's p, a number the function multiplies or divides by.
  std::vector<std::pair<double, std::string>> factors_between(std::size_t v) const {
    std::vector<std::pair<double, std::string>> out;
    const std::vector<bool> dep = depends_on(v);
    for (std::size_t k = v + 1; k < graph_.size(); ++k) {
      const Node* n = graph_[k].node();
      if (!n || !dep[k] || k == seed_node_) continue;
      const std::string op = n->op->name;
      const Tensor& x = n->inputs()[0];
      if (x.numel() > graph_[k].numel() && x.numel() > 1) {  // a reduction: a mean?
        const std::int64_t all = x.numel() / std::max<std::int64_t>(graph_[k].numel(), 1);
        bool averages = std::string_view(n->op->formula).find("mean") != std::string_view::npos;
        try {
          const Grads g = n->backward(BackwardContext{ones_like(graph_[k]), graph_[k], n->inputs(), n->saved()});
          if (!g.empty() && g[0].defined() && constant(g[0].values()) &&
              std::abs(g[0].values()[0] * double(all) - 1) < 1e-9)
            averages = true;
        } catch (const Error&) {
        }
        if (averages) {
          const std::string in = op == "mean" ? "" : " in " + op;
          out.emplace_back(1.0 / double(all), "the 1/" + std::to_string(all) + " of the mean" + in +
                                                  " (over its " + std::to_string(all) + " elements)");
          if (x.dim() >= 2 && x.size(0) != all)
            out.emplace_back(1.0 / double(x.size(0)), "the 1/" + std::to_string(x.size(0)) + " of the mean" +
                                                          in + " (over its " + std::to_string(x.size(0)) +
                                                          " rows)");
        }
      }
      if (const std::optional<double> p = power(k))
        out.emplace_back(*p, "the " + format(*p) + " of the power " + describe(graph_[k]) +
                                 " (d(x^p)/dx = p·x^(p−1))");
      for (std::size_t i = 0; i < n->inputs().size(); ++i) {
        const Tensor& a = n->inputs()[i];
        if (a.node() || a.requires_grad() || a.numel() != 1) continue;
        const double value = a.values()[0];
        if (value == 0 || std::abs(value) == 1) continue;
        if (op == "div" && i == 1)
          out.emplace_back(1.0 / value, "the division by " + describe(a));
        else if (op == "hadamard" || op == "div")
          out.emplace_back(value, "the factor " + describe(a) + (a.name().empty() ? "" : " = " + format(value)));
      }
    }
    return out;
  }

  // "it is k times the true gradient", and which constant of the graph that could be.
  std::string scale_story(double k, std::size_t v) const {
    if (std::abs(k + 1) < 1e-6) return "its sign is flipped: it is −1 times the true gradient";
    std::string s = "it is " + format(k) + " times the true gradient";
    std::vector<std::string> why;
    for (const auto& [c, what] : factors_between(v)) {
      if (std::abs(k * c - 1) < 1e-6) why.push_back(what + " is missing");
      else if (std::abs(k - c) < 1e-6 * std::abs(c)) why.push_back(what + " is applied twice");
      else if (std::abs(k * c + 1) < 1e-6) why.push_back(what + " is missing and the sign is flipped");
    }
    if (why.size() > 3) why.resize(3);
    for (std::size_t i = 0; i < why.size(); ++i) s += (i ? ", or " : ": ") + why[i];
    return s;
  }

  // Family 2: the gradient of graph_[v] is a sum of terms, one along each use of it (and
  // each summand of the loss that depends on it); a claim that lacks one, has it twice, or
  // has it scaled, is the true gradient plus a multiple of that term.
  void terms(const ClaimReport& c, std::size_t v, const Tolerance& tol, const Add& add) const {
    if (c.claimed.shape() != c.truth.shape()) return;
    const std::vector<Term> all = terms_of(v);
    const Tensor difference = c.claimed - c.truth;
    for (const Term& t : all) {
      const std::optional<double> alpha = tol.scale(difference, t.value);
      if (!alpha) continue;
      const std::string what = "the term " + t.what;
      if (std::abs(*alpha + 1) < 1e-6)
        add("your claim lacks " + what + ": the true gradient is (your claim) + that term's "
                "gradient" + t.remark,
            t.at);
      else if (std::abs(*alpha - 1) < 1e-6)
        add("in your claim " + what + " counts twice (it is 2 times what it should be)" + t.remark, t.at);
      else
        add("in your claim " + what + " is " + format(1 + *alpha) + " times what it should be" +
                t.remark,
            t.at);
      return;
    }
    // Two uses whose terms differ, counted as if they were the same one.
    std::vector<Term> two;
    std::copy_if(all.begin(), all.end(), std::back_inserter(two), [](const Term& t) { return t.use; });
    if (two.size() == 2)
      for (int j = 0; j < 2; ++j)
        if (const std::optional<double> k = tol.scale(c.claimed, two[j].value); k && std::abs(*k - 2) < 1e-6) {
          add("your claim is twice the term " + two[j].what + ", as if the other one, " +
                  two[1 - j].what + ", were the same: they differ" + symmetric_story(two, v),
              two[j].at);
          return;
        }
  }

  struct Term {
    Tensor value;        // its part of the gradient of graph_[v]
    std::string what;    // "through the use of x in xᵀ"
    std::string remark;  // e.g. " (the regularisation term)"
    Tensor at;           // the value of the graph it comes through
    bool use = false;    // the term of one use of the value (not of a branch above it)
  };

  // The terms of the gradient of graph_[v]: one per use of it, when it has several, and one
  // per input of a node that combines two branches that both depend on it (a sum of
  // losses, a skip connection, a product rule).
  std::vector<Term> terms_of(std::size_t v) const {
    std::vector<Term> out;
    const std::vector<bool> dep = depends_on(v);
    const std::vector<Tensor>& g = true_walk();
    const auto term = [&](std::size_t k, std::size_t i) -> Tensor {
      const Node* n = graph_[k].node();
      const Grads sent = n->backward(BackwardContext{g[k], graph_[k], n->inputs(), n->saved()});
      if (i >= sent.size() || !sent[i].defined()) return {};
      const std::size_t from = index_.at(n->inputs()[i].impl());
      const Tensor part = walk(from, sent[i])[v];
      return part.defined() ? part : zeros_like(graph_[v]);
    };
    for (std::size_t k = graph_.size(); k-- > v + 1;) {  // the summands nearest the loss first
      const Node* n = graph_[k].node();
      if (!n || !g[k].defined() || n->inputs().size() < 2 || k == seed_node_) continue;
      std::vector<std::size_t> branches;
      for (std::size_t i = 0; i < n->inputs().size(); ++i)
        if (dep[index_.at(n->inputs()[i].impl())] && n->inputs()[i].impl() != graph_[v].impl())
          branches.push_back(i);
      if (branches.size() < 2) continue;
      for (const std::size_t i : branches) {
        const Tensor& branch = n->inputs()[i];
        out.push_back({term(k, i), describe(branch) + (n->op->name == std::string("add") ||
                                                               n->op->name == std::string("sub")
                                                           ? ""
                                                           : " (through " + describe(graph_[k]) + ")"),
                       penalty(branch) ? " (the regularisation term: a penalty on the parameters alone)" : "",
                       branch});
      }
    }
    const auto& uses_of_v = uses(v);
    if (uses_of_v.size() >= 2)
      for (const auto& [k, i] : uses_of_v)
        if (g[k].defined())
          out.push_back({term(k, i), "through the use of " + describe(graph_[v]) + " in " +
                                         describe(graph_[k]), "", graph_[k], true});
    // Terms equal to the whole gradient, or to nothing, explain nothing.
    const Tolerance exact{1e-9, 0};
    std::erase_if(out, [&](const Term& t) {
      return !t.value.defined() || all_zero(t.value.values()) || exact.close(t.value, true_at(v));
    });
    return out;
  }

  // A summand made of the inputs (parameters) and numbers only, no data: a penalty term.
  bool penalty(const Tensor& t) const {
    if (t.numel() != 1) return false;  // a summand of the loss is one number
    bool parameter = false;
    for (const Tensor& u : topological_order({t})) {
      if (u.node()) continue;
      if (u.requires_grad()) parameter = true;
      else if (u.numel() > 1) return false;
    }
    return parameter;
  }

  // Why two terms that differ might have been taken as one: a square matrix of the
  // function taken as symmetric (xᵀBx's two terms Bx and Bᵀx are one only when B = Bᵀ).
  // A matrix other than graph_[v] first: the claim is a formula for any value of the
  // variable, and it is the other matrix that makes the terms one (tr(XᵀAX)'s AX and AᵀX
  // when A = Aᵀ, whatever X). The variable itself only when no other is there (sum(X·X)'s
  // 𝟙Xᵀ and Xᵀ𝟙 are one when X = Xᵀ).
  std::string symmetric_story(const std::vector<Term>& both, std::size_t v) const {
    const Tolerance exact{1e-9, 0};
    for (const bool itself : {false, true})
      for (const Term& t : both)
        for (const Tensor& a : topological_order({t.at}))
          if ((a.impl() == graph_[v].impl()) == itself && !a.node() && !a.name().empty() && a.dim() == 2 &&
              a.size(0) == a.size(1) && a.size(0) > 1 && !exact.close(a, transpose(a)))
            return " (they would be equal if " + a.name() + " were symmetric, " + a.name() + " = " +
                   a.name() + "ᵀ; it is not)";
    return "";
  }

  // Family 3: the backward pass with one node changed: its local derivative left out,
  // applied twice, inverted (a mask), replaced by another activation's or evaluated at its
  // input instead of its output; an input used untransposed, or unflipped, where the
  // backward uses it transposed or flipped; the gradient it sends transposed; only the
  // diagonal of its Jacobian used.
  void alterations(const ClaimReport& c, std::size_t v, const Tolerance& tol, const Add& add) const {
    if (c.claimed.shape() != c.truth.shape()) return;
    const std::vector<bool> dep = depends_on(v);
    const auto fits_all = [&](const Alterations& alter, bool transposed = false) {
      const std::vector<Tensor> g = walk_altered(alter);
      Tensor got = g[v];
      if (!got.defined() || tol.close(got, c.truth)) return false;
      if (transposed) {
        if (got.dim() != 2 || got.size(0) != got.size(1)) return false;
        got = transpose(got);
      }
      return tol.close(c.claimed, got);
    };
    const auto fits = [&](std::size_t k, const Alteration& alter) { return fits_all({{k, alter}}); };
    // The inputs a backward uses transposed (k, i, j: node k's gradient for input i uses
    // input j transposed), for the slips of two transposes at once.
    struct Untransposed {
      std::size_t k, i, j;
      Alteration alter;
      std::string what;
    };
    std::vector<Untransposed> untransposed;
    for (std::size_t k = graph_.size(); k-- > v + 1;) {
      const Node* n = graph_[k].node();
      if (!n || !dep[k] || k == seed_node_ || !true_walk()[k].defined()) continue;
      const Tensor& y = graph_[k];
      const std::string node = "the " + std::string(n->op->name) + " node" + (y.name().empty() ? "" : " " + y.name());
      for (std::size_t i = 0; i < n->inputs().size(); ++i) {
        const Tensor& x = n->inputs()[i];
        if (!x.requires_grad() || !dep[index_.at(x.impl())]) continue;
        const std::string formula = i < n->op->gradients.size() ? n->op->gradients[i] : "its backward";
        if (const std::optional<Tensor> local = local_derivative(k, i)) {
          const Values lv = local->values();
          if (constant(lv) && std::abs(lv[0] - 1) < 1e-12) continue;  // ∂y/∂x = 1: nothing to leave out
          const std::string factor =
              n->op->name == std::string("hadamard") ? describe(n->inputs()[1 - i]) + ", " : "";
          if (fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
                Grads g = sent;
                g[i] = ctx.grad;
                return g;
              })) {
            add("it lacks the factor " + factor + "the local derivative of " + node + " (" + formula + ")", y);
            return;
          }
          if (fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
                Grads g = sent;
                g[i] = sent[i] * *local;
                (void)ctx;
                return g;
              })) {
            add("it has an extra factor " + factor + "the local derivative of " + node + " (" + formula +
                    "): it is multiplied in twice",
                y);
            return;
          }
          if (is_mask(lv) && fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
                Grads g = sent;
                g[i] = ctx.grad * (1.0 - *local);
                return g;
              })) {
            add("its mask is inverted at " + node + ": the gradient passes where " + node +
                    " blocks it (where its input is ≤ 0, x < 0 for relu) and is blocked where it passes",
                y);
            return;
          }
          if (n->inputs().size() == 1 && elementwise(k) && replaced_derivative(c, k, *local, fits, node, add))
            return;
        }
        // Inputs of the node used as they are where its backward has them transposed or
        // flipped (Wᵀ in δ·Wᵀ; the kernel flipped in a convolution's input gradient).
        for (std::size_t j = 0; j < n->inputs().size(); ++j) {
          if (j == i) continue;
          const Tensor& other = n->inputs()[j];
          if (other.dim() >= 2 && other.size(-1) == other.size(-2) && other.size(-1) > 1) {
            const Alteration alter = [i, j](const BackwardContext& ctx, const Grads& sent) {
              return with_input(ctx, sent, i, j, transpose(ctx.inputs[j]));
            };
            untransposed.push_back({k, i, j, alter, describe(other)});
            if (fits(k, alter)) {
              add("the true gradient uses " + describe(other) + "ᵀ where your claim uses " + describe(other) +
                      ": a transpose is missing in the backward of " + node + " (" + formula + ")",
                  other);
              return;
            }
          }
          if (other.dim() == 4 && other.size(0) == other.size(1) && other.size(0) > 1 &&
              fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
                return with_input(ctx, sent, i, j, transpose(ctx.inputs[j], 0, 1));
              })) {
            add("the true gradient uses " + describe(other) + " with its first two axes swapped (its "
                    "input and output channels) where your claim uses it as it is, in the backward of " +
                    node + " (" + formula + ")",
                other);
            return;
          }
          if (other.dim() == 4 && (other.size(-1) > 1 || other.size(-2) > 1)) {
            if (fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
                  return with_input(ctx, sent, i, j, flip(flip(other, -1), -2));
                })) {
              add("the kernel " + describe(other) + " is not flipped: in the backward of " + node + " (" +
                      formula + ") the kernel is rotated by 180° (a convolution of G with the flipped "
                      "kernel), and your claim uses it as it is",
                  other);
              return;
            }
          }
        }
        // The gradient sent along this edge transposed (a transpose inside the chain).
        const Tensor& sent_here = sent_along(k, i);
        if (sent_here.defined() && sent_here.dim() >= 2 && sent_here.size(-1) == sent_here.size(-2) &&
            sent_here.size(-1) > 1 && fits(k, [&](const BackwardContext&, const Grads& sent) {
              Grads g = sent;
              g[i] = transpose(sent[i]);
              return g;
            })) {
          add("a transpose inside the chain: the gradient " + node + " sends back to " + describe(x) +
                  " (" + formula + ") is transposed in your claim",
              y);
          return;
        }
        // A node that maps each window of the last two axes to one element (pooling): its
        // gradient spread evenly over each window, or copied to all of it.
        if (const std::optional<Window> window = window_of(x, y)) {
          const double size = double(window->h * window->w);
          for (const double each : {1.0 / size, 1.0})
            if (fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
                  Grads g = sent;
                  g[i] = spread(ctx.grad, *window) * each;
                  return g;
                })) {
              add("your claim spreads the gradient of each output of " + node + " over its whole " +
                      std::to_string(window->h) + "×" + std::to_string(window->w) + " window" +
                      (each < 1 ? ", evenly (average pooling's gradient, G/" + format(size) + " each)"
                                : ", a copy to every position") +
                      ", but " + node + " sends it to one element of the window only (for max pooling: "
                      "to the window's maximum, the argmax; the rest get 0)",
                  y);
              return;
            }
          if (fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
                Grads g = sent;
                g[i] = to_window_maxima(ctx.grad, x, *window);
                return g;
              })) {
            add("your claim sends the gradient of each output of " + node + " to the largest input of "
                    "its " + std::to_string(window->h) + "×" + std::to_string(window->w) +
                    " window (max pooling's rule, the argmax), but " + node + " takes every input of the "
                    "window into account (for average pooling: G/" + format(double(window->h * window->w)) +
                    " to each)",
                y);
            return;
          }
        }
        // Only the diagonal of a Jacobian that is not diagonal (softmax taken elementwise).
        if (x.shape() == y.shape() && y.numel() <= 512 && y.numel() > 1) {
          const std::optional<Tensor> diagonal = jacobian_diagonal(k, i);
          if (diagonal && fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
                Grads g = sent;
                g[i] = ctx.grad * *diagonal;
                return g;
              })) {
            add("it treats " + node + " as if it were elementwise: only the diagonal ∂yᵢ/∂xᵢ of its "
                    "Jacobian is used, its off-diagonal part is missing (" + formula + ")",
                y);
            return;
          }
        }
      }
    }
    // Two transposes missing at once (AXB's ∂X written as A · B), or the product of the
    // true factors taken in the reverse order ((Aᵀ · Bᵀ)ᵀ = B · A).
    for (std::size_t p = 0; p < untransposed.size(); ++p)
      for (std::size_t q = p + 1; q < untransposed.size(); ++q) {
        const Untransposed &a = untransposed[p], &b = untransposed[q];
        if (a.k == b.k) continue;
        const Alterations both = {{a.k, a.alter}, {b.k, b.alter}};
        if (fits_all(both)) {
          add("the true gradient uses " + a.what + "ᵀ and " + b.what + "ᵀ where your claim uses " + a.what +
                  " and " + b.what + ": two transposes are missing (as if d(a·x·b)/dx = a·b held for "
                  "matrices)",
              {});
          return;
        }
        if (fits_all(both, true)) {
          add("it has the factors of the true gradient in the reverse order: the true gradient is "
              "(your claim)ᵀ with " + a.what + " and " + b.what + " transposed, and transposing a "
              "product reverses its order, (P·Q)ᵀ = Qᵀ·Pᵀ",
              {});
          return;
        }
      }
  }

  // The window (h, w) when y's last two axes are x's divided by whole numbers, the axes
  // before them equal: the shape of a pooling with stride = kernel.
  static std::optional<Window> window_of(const Tensor& x, const Tensor& y) {
    if (x.dim() < 2 || x.dim() != y.dim() || y.size(-1) == 0 || y.size(-2) == 0) return {};
    for (std::int64_t a = 0; a + 2 < x.dim(); ++a)
      if (x.size(a) != y.size(a)) return {};
    if (x.size(-1) % y.size(-1) || x.size(-2) % y.size(-2)) return {};
    const Window w{x.size(-2) / y.size(-2), x.size(-1) / y.size(-1)};
    if (w.h * w.w < 2) return {};
    return w;
  }

  // Each element of g repeated over a window of its last two axes: [.., h, w] → [.., h·kh, w·kw].
  static Tensor spread(const Tensor& g, Window window) {
    Shape lead;
    for (std::int64_t a = 0; a + 2 < g.dim(); ++a) lead.push_back(g.size(a));
    const std::int64_t h = g.size(-2), w = g.size(-1);
    Shape apart = lead, wide = lead, out = lead;
    for (const std::int64_t d : {h, std::int64_t(1), w, std::int64_t(1)}) apart.push_back(d);
    for (const std::int64_t d : {h, window.h, w, window.w}) wide.push_back(d);
    out.push_back(h * window.h);
    out.push_back(w * window.w);
    return reshape(expand(reshape(g, apart), wide).clone(), out);
  }

  // Each element of g sent to the largest element of x in its window (the first of a tie).
  static Tensor to_window_maxima(const Tensor& g, const Tensor& x, Window window) {
    const Values gv = g.values(), xv = x.values();
    Values out(xv.size(), 0.0);
    const std::int64_t h = g.size(-2), w = g.size(-1), W = x.size(-1), planes = g.numel() / std::max<std::int64_t>(h * w, 1);
    for (std::int64_t p = 0; p < planes; ++p)
      for (std::int64_t i = 0; i < h; ++i)
        for (std::int64_t j = 0; j < w; ++j) {
          std::int64_t best = -1;
          for (std::int64_t r = i * window.h; r < (i + 1) * window.h; ++r)
            for (std::int64_t q = j * window.w; q < (j + 1) * window.w; ++q) {
              const std::int64_t at = p * h * window.h * W + r * W + q;
              if (best < 0 || xv[at] > xv[best]) best = at;
            }
          out[best] += gv[(p * h + i) * w + j];
        }
    return from_vector(out, x.shape());
  }

  // Does node k act elementwise on its one input (its backward is G ∘ its local derivative)?
  bool elementwise(std::size_t k) const {
    const Node* n = graph_[k].node();
    const std::optional<Tensor> local = local_derivative(k, 0);
    if (!local) return false;
    Values probe(graph_[k].numel());
    for (std::size_t e = 0; e < probe.size(); ++e) probe[e] = 1.0 + 0.618 * double(e % 7) - 0.25 * double(e % 3);
    const Tensor g = from_vector(probe, graph_[k].shape());
    const Grads sent = n->backward(BackwardContext{g, graph_[k], n->inputs(), n->saved()});
    return !sent.empty() && Tolerance{1e-9, 1e-300}.close(sent[0], g * *local);
  }

  // What node k truly sends back along its input i.
  Tensor sent_along(std::size_t k, std::size_t i) const {
    const Node* n = graph_[k].node();
    const std::vector<Tensor>& g = true_walk();
    if (!g[k].defined()) return {};
    const Grads sent = n->backward(BackwardContext{g[k], graph_[k], n->inputs(), n->saved()});
    return i < sent.size() ? sent[i] : Tensor();
  }

  // Node's backward (keeping input i's gradient) with input j replaced by `instead`.
  static Grads with_input(const BackwardContext& ctx, const Grads& sent, std::size_t i, std::size_t j,
                          const Tensor& instead) {
    std::vector<Tensor> inputs(ctx.inputs.begin(), ctx.inputs.end());
    inputs[j] = stand_in(instead);
    inputs[i] = stand_in(ctx.inputs[i]);
    const Grads g = ctx.output.node()->backward(BackwardContext{ctx.grad, ctx.output, inputs, ctx.saved});
    Grads out = sent;
    if (i < g.size()) out[i] = g[i];
    return out;
  }

  // ∂yᵢ/∂xᵢ of node k for each element (one backward per element: small nodes only), when
  // its Jacobian is not diagonal.
  std::optional<Tensor> jacobian_diagonal(std::size_t k, std::size_t i) const {
    const Node* n = graph_[k].node();
    const Tensor& y = graph_[k];
    Values d(y.numel()), row_sums(y.numel(), 0.0);
    bool off_diagonal = false;
    try {
      for (std::int64_t e = 0; e < y.numel(); ++e) {
        Tensor unit = zeros_like(y);
        unit.data<double>()[e] = 1;
        const Grads g = n->backward(BackwardContext{unit, y, n->inputs(), n->saved()});
        if (i >= g.size() || !g[i].defined() || g[i].shape() != y.shape()) return {};
        const Values col = g[i].values();
        d[e] = col[e];
        for (std::size_t m = 0; m < col.size(); ++m)
          if (std::int64_t(m) != e && std::abs(col[m]) > 1e-12 * (1 + std::abs(col[e]))) off_diagonal = true;
      }
    } catch (const Error&) {
      return {};
    }
    if (!off_diagonal) return {};
    return from_vector(d, y.shape());
  }

  // Family 3, activations: the local derivative of a one-input node replaced by one of the
  // forms learners write (σ′ as y(1 − y), tanh′ as 1 − y², …) at its input or its output.
  template <class Fits>
  bool replaced_derivative(const ClaimReport&, std::size_t k, const Tensor& local, const Fits& fits,
                           const std::string& node, const Add& add) const {
    const Node* n = graph_[k].node();
    const Tensor &x = n->inputs()[0], &y = graph_[k];
    const std::string xs = describe(x), ys = describe(y);
    const Tolerance exact{1e-9, 1e-300};
    // Which form, at which point, is the node's own?
    std::string own;
    for (const Form& f : forms())
      for (const bool at_output : {true, false}) {
        if (!own.empty()) break;
        if (exact.close(f.of(at_output ? y : x), local)) own = f.text(at_output ? ys : xs);
      }
    for (const Form& f : forms())
      for (const bool at_output : {true, false}) {
        const Tensor instead = f.of(at_output ? y : x);
        if (exact.close(instead, local)) continue;
        if (!fits(k, [&](const BackwardContext& ctx, const Grads& sent) {
              Grads g = sent;
              g[0] = ctx.grad * instead;
              return g;
            }))
          continue;
        const std::string written = f.text(at_output ? ys : xs);
        std::string s = "the local derivative of " + node + " is written as " + written;
        if (!own.empty()) s += ", but it is " + own;
        if (!own.empty() && f.text(at_output ? xs : ys) == own)
          s += at_output ? ": evaluated at its output " + ys + " instead of its input " + xs
                         : ": evaluated at its input " + xs + " instead of its output " + ys;
        else
          s += std::string(" (") + f.name + " in place of " + n->op->name + "′)";
        add(s, y);
        return true;
      }
    return false;
  }

  // Family 4: a reduction over the wrong axes, or none, or a mean for a sum, where the
  // value was broadcast: against what the node that broadcast it receives.
  void reductions(const ClaimReport& c, std::size_t v, const Tolerance& tol, const Add& add) const {
    const Tensor& x = graph_[v];
    for (const auto& [k, i] : uses(v)) {
      const Tensor& y = graph_[k];
      if (x.shape() == y.shape() || !true_walk()[k].defined()) continue;
      const Node* n = y.node();
      // The node's backward with x already broadcast to y's shape: the gradient of every copy.
      Tensor copies;
      try {
        Tensor full = expand(x, y.shape());
        std::vector<Tensor> inputs(n->inputs().begin(), n->inputs().end());
        inputs[i] = stand_in(full);
        const Grads g = n->backward(BackwardContext{true_walk()[k], y, inputs, n->saved()});
        if (i < g.size() && g[i].defined() && g[i].shape() == y.shape()) copies = g[i];
      } catch (const Error&) {
      }
      if (!copies.defined()) continue;
      const std::string name = describe(x);
      if (const std::optional<double> s = tol.scale(c.claimed, copies)) {
        add("your claim is the gradient of each copy of " + name + ", not summed: " + name +
                " was broadcast to " + to_string(y.shape()) + ", so its gradient adds up all the copies' "
                "(a missing broadcast reduction: sum it" +
                (std::abs(*s - 1) > 1e-6 ? "; it is also " + format(*s) + " times too large" : "") + ")",
            y);
        return;
      }
      for (std::int64_t axis = 0; axis < copies.dim(); ++axis)
        for (const bool keepdim : {false, true}) {
          for (const bool average : {false, true}) {
            const Tensor r = average ? mean(copies, axis, keepdim) : sum(copies, axis, keepdim);
            if (r.shape() != c.claimed.shape() || !tol.close(c.claimed, r)) continue;
            add(std::string(average ? "it is a mean over axis " : "it sums over axis ") + std::to_string(axis) +
                    " of the broadcast copies of " + name + ", but " + name + " was broadcast to " +
                    to_string(y.shape()) + " from " + to_string(x.shape()) + ": its gradient sums the "
                    "copies over the broadcast axes (a reduction over the wrong axis" +
                    (average ? ", or a mean for a sum" : "") + ")",
                y);
            return;
          }
        }
    }
  }

  // Family 5: a factor e^(±z) for a value z of the graph (a sign flipped inside an exp).
  void exp_factors(const ClaimReport& c, const Tolerance& tol, const Add& add) const {
    if (c.claimed.shape() != c.truth.shape()) return;
    for (const Tensor& z : graph_) {
      if (z.numel() < 2 || constant(z.values())) continue;
      for (const double sign : {1.0, -1.0}) {
        const std::string e = std::string(sign > 0 ? "e^(" : "e^(−") + describe(z) + ")";
        const Tensor factor = exp(sign * z);
        if (const auto fixed = times(c.claimed, factor); fixed && tol.close(*fixed, c.truth)) {
          add("it lacks a factor " + e + ": is a sign flipped inside an exp?", z);
          return;
        }
        if (const auto extra = times(c.truth, factor); extra && tol.close(c.claimed, *extra)) {
          add("it has an extra factor " + e + ": is a sign flipped inside an exp?", z);
          return;
        }
      }
    }
  }

  // Family 6: the upstream gradient left out: the claim is the derivative of a value
  // above graph_[v] alone (as if the gradient arriving there were all ones), or of the
  // function's result without the seed.
  void upstream(const ClaimReport& c, std::size_t v, const Tolerance& tol, const Add& add) const {
    if (c.claimed.shape() != c.truth.shape()) return;
    const std::vector<bool> dep = depends_on(v);
    for (std::size_t k = graph_.size() - 1; k > v; --k) {
      const bool result = seed_.defined() && k == index_.at(value_.impl());
      if (!dep[k] || (!result && graph_[k].name().empty()) || graph_[k].numel() < 2) continue;
      const Tensor alone = walk(k, ones_like(graph_[k]))[v];
      if (!alone.defined() || tol.close(alone, c.truth)) continue;
      const std::optional<double> scale = tol.scale(c.claimed, alone);
      // One number is some multiple of any other: only the multiple 1 is evidence then.
      if (!scale || (c.claimed.numel() == 1 && std::abs(*scale - 1) > 1e-9)) continue;
      const std::string times = std::abs(*scale - 1) < 1e-9 ? "" : " (times " + format(*scale) + ")";
      add(result ? "it lacks the upstream gradient (the seed, dout): your claim is the local "
                   "derivative alone" + times + ", as if the gradient arriving at the output were all "
                   "ones; multiply by the upstream gradient"
                 : "it lacks the upstream gradient ∂L/∂" + describe(graph_[k]) +
                       ": your claim is the derivative of " + describe(graph_[k]) + " alone" + times +
                       ", as if the gradient arriving there were all ones",
          graph_[k]);
      return;
    }
  }

  // Family 7: the gradient with respect to another value of the graph.
  void other_variable(const ClaimReport& c, std::size_t v, const Tolerance& tol, const Add& add) const {
    for (const auto& [other, truth] : truth_)
      if (other != c.name && tol.close(c.claimed, truth)) {
        add("it is the gradient with respect to " + other + ", not " + c.name, named_.at(other));
        return;
      }
    // Not the loss itself: its gradient is the seed, 1, which says nothing of the claim.
    for (std::size_t k = 0; k + 1 < graph_.size(); ++k)
      if (k != v && graph_[k].requires_grad() && graph_[k].shape() == c.claimed.shape() &&
          true_walk()[k].defined() && tol.close(c.claimed, true_walk()[k])) {
        add("it is the gradient with respect to " + describe(graph_[k]) + ", not " + c.name, graph_[k]);
        return;
      }
  }

  // Family 8: the difference is one element per row, the same size everywhere: a one-hot
  // term (a target's indicator, the −1 at each row's correct class) left out or added.
  void one_hot_difference(const ClaimReport& c, const Tolerance& tol, const Add& add) const {
    if (c.claimed.shape() != c.truth.shape() || c.claimed.dim() < 1 || c.claimed.size(-1) < 2) return;
    const Values d = (c.claimed - c.truth).values();
    const std::int64_t cols = c.claimed.size(-1);
    double value = 0;
    for (std::size_t row = 0; row * cols < d.size(); ++row) {
      int nonzero = 0;
      for (std::int64_t j = 0; j < cols; ++j) {
        const double x = d[row * cols + j];
        if (std::abs(x) <= tol.atol + tol.rtol * norm_inf(d)) continue;
        ++nonzero;
        if (value == 0) value = x;
        if (std::abs(x - value) > 1e-9 * std::abs(value)) return;
      }
      if (nonzero != 1) return;
    }
    add("it differs from the true gradient by " + format(value) + " at one element of each row: a "
            "one-hot term is " + (value > 0 ? "missing (the −" + format(value) : "extra (the " + format(-value)) +
            " at each row's correct class, the one-hot Y)",
        {});
  }

  // Nothing explains it: say so, and show where it is furthest off.
  static void unexplained(ClaimReport& c) {
    std::string s = "no simple slip explains the difference";
    if (c.claimed.shape() == c.truth.shape()) {
      const Values a = c.claimed.values(), t = c.truth.values();
      std::vector<std::size_t> order(a.size());
      std::iota(order.begin(), order.end(), 0);
      const std::size_t shown = std::min<std::size_t>(3, a.size());
      std::partial_sort(order.begin(), order.begin() + shown, order.end(), [&](std::size_t i, std::size_t j) {
        return std::abs(a[i] - t[i]) > std::abs(a[j] - t[j]);
      });
      s += "; the worst elements:";
      for (std::size_t r = 0; r < shown; ++r) {
        const std::size_t i = order[r];
        s += (r ? "," : "") + std::string(" ") +
             element(c.name, unravel_index(static_cast<std::int64_t>(i), c.truth.shape())) +
             " claimed " + format(a[i]) + ", true " + format(t[i]);
      }
    }
    c.diagnoses.push_back(s + "; compare element by element, starting with the worst one");
  }

  const Function& f_;
  const CheckOptions& o_;
  std::vector<Tensor> leaves_;
  Tensor seed_, value_, loss_;
  std::vector<Tensor> graph_;
  std::unordered_map<const TensorImpl*, std::size_t> index_;
  std::size_t seed_node_ = npos;
  std::map<std::string, Tensor> named_;
  std::map<std::string, Tensor> truth_;
  std::vector<std::string> warnings_;
  mutable std::optional<std::vector<Tensor>> true_walk_;
  mutable std::optional<std::vector<Values>> term_sizes_;  // Note [Rounding floor]
  mutable std::optional<std::vector<std::vector<std::pair<std::size_t, std::size_t>>>> uses_;
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
          << ", tolerance " << c.tolerance
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
    const Tensor& at = report.values.at(c.name);
    const bool first = c.name == report.first_wrong_step;
    const char* colour = c.verdict == Verdict::match   ? "#c8ecc4"
                         : c.verdict == Verdict::wrong ? (first ? "#f08080" : "#f6c8c8")
                                                       : "#dddddd";
    options.colours.emplace_back(at, colour);
    std::string note = "claim: " + std::string(to_string(c.verdict));
    if (c.verdict != Verdict::match && c.claimed_shape == c.true_shape)
      note += ", max error " + format(c.max_abs_error);
    if (first) note += " (first wrong step)";
    options.notes.emplace_back(at, note);
    if (c.verdict == Verdict::wrong && !c.diagnoses.empty()) {
      std::string d = c.diagnoses.front();
      if (d.size() > 90) {  // cut at a character, not inside one (UTF-8)
        std::size_t cut = 87;
        while (cut > 0 && (static_cast<unsigned char>(d[cut]) & 0xC0) == 0x80) --cut;
        d = d.substr(0, cut) + "…";
      }
      options.notes.emplace_back(at, d);
    }
    if (first) options.borders.emplace_back(at, "penwidth=3, color=\"#8b0000\"");
    if (c.verdict == Verdict::wrong && c.culprit.defined() && c.culprit.impl() != at.impl()) {
      options.borders.emplace_back(c.culprit, "penwidth=2.5, color=\"#d2691e\", style=\"filled,dashed\"");
      options.notes.emplace_back(c.culprit, "the slip in " + c.name + " is here");
    }
  }
  if (options.title.empty())
    options.title = report.first_wrong_step.empty()
                        ? "Gradient check: every claim agrees"
                        : "Gradient check: the first wrong step is " + report.first_wrong_step;
  return to_dot({report.output}, options);
}

}  // namespace gradlab
