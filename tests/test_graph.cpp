#define BOOST_TEST_MODULE graph
#include <boost/test/unit_test.hpp>
#include <array>
#include <cmath>
#include <gradlab/gradlab.hpp>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;
namespace tt = boost::test_tools;

Tensor leaf(double v, const char* name) {
  Tensor t = tensor({v});
  t.set_requires_grad().name(name);
  return t;
}

BOOST_AUTO_TEST_CASE(ops_record_a_node_with_name_and_inputs) {
  Tensor a = leaf(2.0, "a"), b = leaf(3.0, "b");
  const Tensor c = tensor({4.0});  // a constant
  const Tensor y = a * b + c;
  BOOST_TEST(y.requires_grad());
  BOOST_TEST(y.node()->op->name == std::string("add"));
  BOOST_TEST(y.node()->inputs().size() == 2u);
  BOOST_TEST(y.node()->inputs()[0].node()->op->name == std::string("hadamard"));
  BOOST_TEST(y.node()->inputs()[1].impl() == c.impl());
  // Ops on constants record nothing.
  BOOST_TEST(!(c * c).requires_grad());
  BOOST_TEST((c * c).node() == nullptr);
}

// The chain rule on a three-node graph: y = (a·b + a)², so
// ∂y/∂a = 2(ab + a)(b + 1) and ∂y/∂b = 2(ab + a)a.
BOOST_AUTO_TEST_CASE(chain_rule_on_a_small_graph) {
  Tensor a = leaf(2.0, "a"), b = leaf(3.0, "b");
  const Tensor y = pow(a * b + a, 2);
  BOOST_TEST(y.item() == 64.0);
  y.backward();
  BOOST_TEST(a.grad().item() == 2 * 8.0 * 4.0);
  BOOST_TEST(b.grad().item() == 2 * 8.0 * 2.0);
}

BOOST_AUTO_TEST_CASE(a_value_used_twice_gets_both_gradients) {
  Tensor x = leaf(3.0, "x");
  (x * x).backward();  // d(x²)/dx = 2x
  BOOST_TEST(x.grad().item() == 6.0);

  Tensor z = leaf(1.0, "z");
  const Tensor s = sigmoid(z);
  (s + s * s).backward();  // d/dz (s + s²) = σ'(z)(1 + 2s)
  const double sv = 1 / (1 + std::exp(-1.0));
  BOOST_TEST(z.grad().item() == sv * (1 - sv) * (1 + 2 * sv), tt::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(gradients_accumulate_until_zero_grad) {
  Tensor x = leaf(2.0, "x");
  (3.0 * x).backward();
  (3.0 * x).backward();
  BOOST_TEST(x.grad().item() == 6.0);
  x.zero_grad();
  BOOST_TEST(x.grad().item() == 0.0);
  (x * x).backward();
  BOOST_TEST(x.grad().item() == 4.0);
}

BOOST_AUTO_TEST_CASE(gradient_of_one_leaf_does_not_alias_another) {
  // a + b hands the same gradient to both; accumulating into one must not change the other.
  Tensor a = leaf(1.0, "a"), b = leaf(1.0, "b");
  (a + b).backward();
  (2.0 * a).backward();
  BOOST_TEST(a.grad().item() == 3.0);
  BOOST_TEST(b.grad().item() == 1.0);
}

BOOST_AUTO_TEST_CASE(non_scalar_outputs_need_grad_output) {
  Tensor x = tensor({{1.0, 2.0, 3.0}});
  x.set_requires_grad();
  const Tensor y = x * x;
  BOOST_CHECK_EXCEPTION(y.backward(), GraphError,
                        says("the output has shape [1, 3]; only a one-element"));
  BOOST_CHECK_EXCEPTION(y.backward(tensor({1.0, 1.0, 1.0}), {.retain_graph = true}), ShapeError,
                        says("grad_output has shape [3] but the output has shape [1, 3]"));
  BOOST_CHECK_EXCEPTION(y.backward(tensor({{1.0, 1.0, 1.0}}, DType::float32)), DTypeError,
                        says("grad_output is float32"));
  y.backward(tensor({{1.0, 0.0, -1.0}}));  // ∂/∂x of Σ g∘x² = 2x∘g
  BOOST_TEST(x.grad().values() == std::vector<double>({2.0, 0.0, -6.0}));
}

BOOST_AUTO_TEST_CASE(backward_twice_needs_retain_graph) {
  Tensor x = leaf(2.0, "x");
  const Tensor y = sigmoid(x * x);
  y.backward({.retain_graph = true});
  const double once = x.grad().item();
  y.backward();  // allowed: the first call kept the graph; this one frees it
  BOOST_TEST(x.grad().item() == 2 * once);
  BOOST_CHECK_EXCEPTION(y.backward(), GraphError,
                        says("the graph through 'sigmoid' was freed by an earlier "
                             "backward; pass retain_graph = true"));
}

BOOST_AUTO_TEST_CASE(backward_on_a_constant_is_an_error) {
  const Tensor c = tensor({1.0}) * 2.0;
  BOOST_CHECK_EXCEPTION(c.backward(), GraphError,
                        says("backward: this tensor does not require grad"));
}

BOOST_AUTO_TEST_CASE(no_grad_records_nothing_and_restores_the_mode) {
  Tensor x = leaf(1.0, "x");
  {
    no_grad off;
    BOOST_TEST(!grad_enabled());
    const Tensor y = x * 2.0;
    BOOST_TEST(!y.requires_grad());
    BOOST_TEST(y.node() == nullptr);
    BOOST_CHECK_EXCEPTION(y.backward(), GraphError, says("inside no_grad"));
  }
  BOOST_TEST(grad_enabled());
  BOOST_TEST((x * 2.0).requires_grad());
}

BOOST_AUTO_TEST_CASE(detach_cuts_the_graph) {
  Tensor x = leaf(3.0, "x");
  // y = x · stop(x): only the first factor carries a gradient, so ∂y/∂x = x, not 2x.
  (x * x.detach()).backward();
  BOOST_TEST(x.grad().item() == 3.0);
}

BOOST_AUTO_TEST_CASE(retain_grad_keeps_an_intermediate_gradient) {
  Tensor x = leaf(0.5, "x");
  Tensor h = sigmoid(x);
  h.retain_grad();
  const Tensor y = 3.0 * h;
  y.backward();
  BOOST_TEST(h.grad().item() == 3.0);
  BOOST_TEST(!y.grad().defined());  // not retained
}

BOOST_AUTO_TEST_CASE(grad_returns_gradients_without_touching_dot_grad) {
  Tensor x = leaf(2.0, "x"), w = leaf(-1.0, "w");
  const Tensor h = x * w;
  const Tensor y = exp(h);
  const std::vector<Tensor> g = grad({y}, {x, h, w}, {.retain_graph = true});
  BOOST_TEST(g[0].item() == std::exp(-2.0) * -1.0, tt::tolerance(1e-15));  // e^(xw)·w
  BOOST_TEST(g[1].item() == std::exp(-2.0), tt::tolerance(1e-15));         // an intermediate
  BOOST_TEST(g[2].item() == std::exp(-2.0) * 2.0, tt::tolerance(1e-15));
  BOOST_TEST(!x.grad().defined());

  Tensor unused = leaf(5.0, "unused");
  BOOST_TEST(grad({y}, {unused}, {.retain_graph = true})[0].item() == 0.0);
  BOOST_CHECK_EXCEPTION(grad({y}, {tensor({1.0}).name("c")}), GraphError,
                        says("grad: input 0 ('c') does not require grad"));
}

// Grad-of-grad: the backward pass is recorded with create_graph, so it can be
// differentiated again. For y = x³: y' = 3x², y'' = 6x, y''' = 6.
BOOST_AUTO_TEST_CASE(create_graph_gives_higher_derivatives) {
  Tensor x = leaf(2.0, "x");
  const Tensor y = pow(x, 3);
  const Tensor d1 = grad({y}, {x}, {.create_graph = true})[0];
  BOOST_TEST(d1.item() == 12.0);
  BOOST_TEST(d1.requires_grad());
  const Tensor d2 = grad({d1}, {x}, {.create_graph = true})[0];
  BOOST_TEST(d2.item() == 12.0);
  const Tensor d3 = grad({d2}, {x})[0];
  BOOST_TEST(d3.item() == 6.0);

  // Without create_graph the gradient is a plain tensor.
  Tensor z = leaf(2.0, "z");
  BOOST_TEST(!grad({pow(z, 3)}, {z})[0].requires_grad());
}

BOOST_AUTO_TEST_CASE(backward_with_create_graph_fills_differentiable_grads) {
  Tensor x = leaf(0.3, "x");
  tanh(x).backward({.create_graph = true});
  const Tensor g = x.grad();  // 1 − tanh²x
  BOOST_TEST(g.requires_grad());
  const double t = std::tanh(0.3);
  BOOST_TEST(grad({g}, {x})[0].item() == -2 * t * (1 - t * t), tt::tolerance(1e-14));
  x.zero_grad();  // also breaks the x → grad → graph → x cycle
}

// Note [Iterative teardown] and [Backward scheduling]: a million-node chain must neither
// overflow the stack in backward nor when it is freed.
BOOST_AUTO_TEST_CASE(million_node_chain_backward_and_free) {
  const int n = 1'000'000;
  const double rate = 1.0 + 1e-6;
  Tensor x0 = leaf(0.5, "x0"), w = leaf(rate, "w");
  {
    Tensor x = x0;
    for (int i = 0; i < n; ++i) x = x * w;  // x = x0·wⁿ
    BOOST_TEST(x.item() == 0.5 * std::pow(rate, n), tt::tolerance(1e-9));
    x.backward();
  }  // the chain is freed here
  BOOST_TEST(x0.grad().item() == std::pow(rate, n), tt::tolerance(1e-9));
  BOOST_TEST(w.grad().item() == n * 0.5 * std::pow(rate, n - 1), tt::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(million_node_chain_freed_without_backward) {
  Tensor w = leaf(1.0, "w");
  Tensor x = leaf(1.0, "x");
  for (int i = 0; i < 1'000'000; ++i) x = x * w;
  x = Tensor();  // drops the whole chain
  BOOST_TEST(!x.defined());
}

BOOST_AUTO_TEST_CASE(grad_runs_only_the_part_of_the_graph_it_needs) {
  // ∂z/∂y for an intermediate y needs nothing below y: that part is neither run nor freed.
  Tensor p = leaf(3.0, "p");
  const Tensor y = p * p;
  const Tensor z = y * 5.0;
  BOOST_TEST(grad({z}, {y})[0].item() == 5.0);
  y.backward();  // y's own node (p·p) is still there
  BOOST_TEST(p.grad().item() == 6.0);

  // And a part already freed by another backward is not in the way.
  Tensor q = leaf(2.0, "q");
  const Tensor u = q * q;
  const Tensor v = u * 4.0;
  (u * 2.0).backward();
  BOOST_TEST(grad({v}, {u})[0].item() == 4.0);
}

BOOST_AUTO_TEST_CASE(gradients_are_copies_the_caller_owns) {
  Tensor a = tensor({1.0, 2.0}), b = tensor({3.0, 4.0});
  a.set_requires_grad();
  b.set_requires_grad();
  Tensor go = tensor({1.0, 1.0});
  (a + b).backward(go);
  go.set({0}, 100.0);       // changing grad_output afterwards changes no gradient…
  a.grad().set({1}, -7.0);  // …and changing one gradient changes no other
  BOOST_TEST(a.grad().values() == std::vector<double>({1.0, -7.0}));
  BOOST_TEST(b.grad().values() == std::vector<double>({1.0, 1.0}));
}

BOOST_AUTO_TEST_CASE(backward_on_an_undefined_tensor_says_so) {
  BOOST_CHECK_EXCEPTION(Tensor().backward(), GraphError,
                        says("backward: the output is an undefined tensor"));
}

// An op's backward that breaks its contract — one gradient per input, each of its input's
// shape — is named with what it returned, as a learner writing an op needs to read it.
BOOST_AUTO_TEST_CASE(a_backward_that_breaks_its_contract_is_named) {
  static const OpInfo two_grads{"two_grads", "x", {"∂x = G"}};
  static const OpInfo wrong_shape{"wrong_shape", "x", {"∂x = G"}};
  const Tensor x = tensor({1.0, 2.0, 3.0}).set_requires_grad();
  const Tensor a = record(two_grads, x.clone(), {x}, [](const BackwardContext& c) {
    return Grads{c.grad, c.grad};
  });
  BOOST_CHECK_EXCEPTION(sum(a).backward(), GraphError,
                        says("backward of 'two_grads' returned 2 gradients for its 1 inputs"));
  const Tensor b = record(wrong_shape, x.clone(), {x}, [](const BackwardContext& c) {
    return Grads{sum(c.grad)};
  });
  BOOST_CHECK_EXCEPTION(sum(b).backward(), ShapeError,
                        says("backward of 'wrong_shape' returned a gradient of shape [] for its "
                             "input 0 of shape [3]"));
}

// A backward formula may capture values of any size: record() keeps a copy of the lambda
// beside the node (BackwardFn), in a small block or, past 1 KiB, on the general heap.
BOOST_AUTO_TEST_CASE(backward_formulas_capture_values_of_any_size) {
  static const OpInfo scaled{"scaled", "x · s", {"∂x = G · s"}};
  const Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  const double small = 3.0;
  std::array<double, 300> big;  // 2.4 KB
  big.fill(0.01);
  const Tensor y =
      record(scaled, x.detach() * 3.0, {x},
             [small](const BackwardContext& c) { return Grads{c.grad * small}; }) +
      record(scaled, x.detach() * 3.0, {x}, [big](const BackwardContext& c) {
        double s = 0;
        for (double v : big) s += v;
        return Grads{c.grad * s};
      });
  sum(y).backward();
  BOOST_TEST(x.grad().at({1}) == 6.0, tt::tolerance(1e-12));  // 3 + 300 · 0.01
}

// Note [Version counters]: a value the graph kept, changed in place before backward, would
// make the gradient silently wrong (here 2·5 instead of 2·1); backward refuses, naming the
// op, the tensor, both versions and the line that recorded the op.
BOOST_AUTO_TEST_CASE(a_kept_input_changed_in_place_is_a_graph_error) {
  Tensor x = tensor({1.0, 2.0}).set_requires_grad().name("x");
  const Tensor y = sum(x * x);
  const std::uint32_t seen = x.version();
  x.set({0}, 5.0);
  BOOST_TEST(x.version() == seen + 1);
  const std::string recorded = "test_graph.cpp:" + std::to_string(__LINE__ - 4) + " (in";
  BOOST_CHECK_EXCEPTION(
      y.backward(), GraphError, [&](const GraphError& e) {
        return says("backward: a tensor needed for the gradient was changed in place: the input "
                    "0 ('x') [2] of 'hadamard' was at version " + std::to_string(seen) +
                    " when recorded and is at version " + std::to_string(seen + 1) +
                    " now; that 'hadamard' was called at ")(e) &&
               says(recorded)(e) &&
               says("Clone it before changing it (x.clone()), or change it after backward")(e);
      });
  BOOST_TEST(!x.grad().defined());  // nothing was accumulated from the stale graph
}

// σ's backward reads its own output s: changing s is caught too, as is a change made
// through a detached copy or a view, which share the numbers (and their version).
BOOST_AUTO_TEST_CASE(outputs_detached_copies_and_views_share_the_version) {
  Tensor z = tensor({0.5, -1.0}).set_requires_grad();
  Tensor s = sigmoid(z).name("s");
  s.set({1}, 0.0);  // s is the root: no consumer holds it, its own node checks it
  BOOST_CHECK_EXCEPTION(s.backward(ones_like(s)), GraphError,
                        says("the output ('s') [2] of 'sigmoid' was at version"));
  Tensor s2 = sigmoid(z).name("s2");
  const Tensor loss = sum(s2 * 2.0);
  s2.set({1}, 0.0);
  BOOST_CHECK_EXCEPTION(loss.backward(), GraphError,
                        says("the input 0 ('s2') [2] of 'hadamard' was at version"));

  Tensor x = tensor({1.0, 2.0}).set_requires_grad().name("x");
  const Tensor y = sum(x * x);
  Tensor d = x.detach();
  BOOST_TEST(d.version() == x.version());
  d.set({1}, 7.0);
  BOOST_TEST(d.version() == x.version());
  BOOST_CHECK_EXCEPTION(y.backward(), GraphError, says("the input 0 ('x') [2] of 'hadamard'"));

  Tensor w = tensor({{1.0, 2.0}, {3.0, 4.0}}).set_requires_grad().name("w");
  const Tensor l = sum(w * w);
  Tensor flat = reshape(w.detach(), {4});
  flat.data<double>()[3] = 0.0;  // a write through a view's data<T>()
  BOOST_CHECK_EXCEPTION(l.backward(), GraphError, says("('w') [2, 2] of 'hadamard'"));
}

// What is not refused: a change after backward, a change to a clone, reading through a
// const tensor, and a graph recorded after the change.
BOOST_AUTO_TEST_CASE(changes_that_do_not_touch_a_pending_graph_are_fine) {
  Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  const Tensor y = sum(x * x);
  Tensor copy = x.detach().clone();
  copy.set({0}, 9.0);
  const Tensor& reader = x;
  BOOST_TEST(reader.data<double>()[0] == 1.0);
  y.backward();
  check_values(x.grad(), "[2]", {2.0, 4.0});
  x.set({0}, 3.0);  // after backward: the graph is done with it
  x.zero_grad();
  sum(x * x).backward();
  check_values(x.grad(), "[2]", {6.0, 4.0});
}

// reference::grad, the plain topological-sort-and-reverse pass, gives the fast pass's
// gradients on random graphs: values used several times, broadcasts, matrix products.
BOOST_AUTO_TEST_CASE(the_reference_backward_agrees_with_the_fast_pass_on_random_graphs) {
  Generator gen(2026);
  for (int graph = 0; graph < 50; ++graph) {
    std::vector<Tensor> leaves = {randn({3, 3}, gen).set_requires_grad(), randn({3, 3}, gen).set_requires_grad(),
                                  randn({3}, gen).set_requires_grad()};
    std::vector<Tensor> values = leaves;
    std::uint64_t pick = 0x9e3779b97f4a7c15ull * (graph + 1);
    const auto any = [&] {
      pick = pick * 6364136223846793005ull + 1442695040888963407ull;
      return values[(pick >> 33) % values.size()];
    };
    for (int op = 0; op < 12; ++op) {
      const Tensor a = any(), b = any();
      switch ((pick >> 40) % 7) {
        case 0: values.push_back(a + b); break;
        case 1: values.push_back(a * b); break;
        case 2: values.push_back(sigmoid(a) - b); break;
        case 3: values.push_back(tanh(a) * 0.5); break;
        case 4: values.push_back(a.dim() == 2 && b.dim() == 2 ? matmul(a, transpose(b)) : a / (1.0 + b * b)); break;
        case 5: values.push_back(exp(0.1 * a)); break;
        default: values.push_back(a.dim() == 2 ? sum(a, 0) : a - 1.0); break;
      }
    }
    Tensor loss = sum(values.back() * values.back());
    for (std::size_t k = 3; k < values.size(); k += 3) loss = loss + sum(values[k]);
    const std::vector<Tensor> fast = grad({loss}, leaves, {.retain_graph = true});
    const std::vector<Tensor> plain = reference::grad(loss, leaves);
    for (std::size_t i = 0; i < leaves.size(); ++i) {
      const double scale = 1 + max_abs_diff(fast[i], zeros_like(fast[i]));
      BOOST_TEST(max_abs_diff(fast[i], plain[i]) <= 1e-12 * scale, "graph " << graph << ", leaf " << i);
    }
  }
}
