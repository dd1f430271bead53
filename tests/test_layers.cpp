// Layers: sin, cos, leaky_relu, elu, gelu, softplus, layer_norm, batch_norm, dropout,
// embedding. Values by hand (and checked against PyTorch 1.13 float64 by
// tests/torch_reference/issue18_reductions_layers.py), first and second derivatives against
// finite differences away from the kinks, float32, empty tensors and bad input.
#define BOOST_TEST_MODULE layers
#include <cmath>
#include <numbers>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// Away from 0, where leaky_relu and elu bend.
const Tensor off_zero = tensor({{-1.5, -0.4, 0.3}, {0.8, -2.0, 1.7}});

}  // namespace

BOOST_AUTO_TEST_CASE(activations_by_hand) {
  const double pi = std::numbers::pi;
  check_values(sin(tensor({0.0, pi / 2})), "[2]", {0, 1});
  check_values(cos(tensor({0.0, pi})), "[2]", {1, -1});
  check_values(leaky_relu(tensor({-2.0, 0.0, 3.0})), "[3]", {-0.02, 0, 3});
  check_values(leaky_relu(tensor({-2.0, 3.0}), 0.5), "[2]", {-1, 3});
  check_values(elu(tensor({-1.0, 2.0})), "[2]", {std::exp(-1.0) - 1, 2});
  check_values(elu(tensor({-1.0}), 2.0), "[1]", {2 * (std::exp(-1.0) - 1)});
  // gelu(x) = x Φ(x): Φ(0) = ½, Φ(1) = 0.8413447460685429.
  check_values(gelu(tensor({0.0, 1.0, -1.0})), "[3]", {0, 0.8413447460685429, -0.15865525393145707});
  check_values(softplus(tensor({0.0, 1000.0, -1000.0})), "[3]", {std::log(2.0), 1000, 0});
  // float32 and empty.
  check_values(softplus(tensor({0.0}, DType::float32)), "[1]", {std::log(2.0)}, 1e-7);
  check_values(gelu(tensor({1.0}, DType::float32)), "[1]", {0.8413447460685429}, 1e-7);
  BOOST_TEST(sin(tensor({1.0}, DType::float32)).dtype() == DType::float32);
  for (const Tensor& e : {sin(zeros({0})), cos(zeros({0})), leaky_relu(zeros({0})), elu(zeros({0})),
                          gelu(zeros({0})), softplus(zeros({0}))})
    check_values(e, "[0]", {});
}

BOOST_AUTO_TEST_CASE(activation_gradients) {
  Tensor x = tensor({-2.0, 0.0, 3.0}).set_requires_grad();
  check_values(grad({sum(leaky_relu(x))}, {x})[0], "[3]", {0.01, 0.01, 1});  // slope at 0, as torch
  check_values(grad({sum(elu(x))}, {x})[0], "[3]", {std::exp(-2.0), 1, 1});
  check_values(grad({sum(softplus(x))}, {x})[0], "[3]", {1 / (1 + std::exp(2.0)), 0.5, 1 / (1 + std::exp(-3.0))});
  check_values(grad({sum(gelu(x))}, {x})[0], "[3]",
               {0.5 * std::erfc(2 / std::sqrt(2.0)) - 2 * std::exp(-2.0) / std::sqrt(2 * std::numbers::pi), 0.5,
                0.5 * std::erfc(-3 / std::sqrt(2.0)) + 3 * std::exp(-4.5) / std::sqrt(2 * std::numbers::pi)});
  check_values(grad({sum(sin(x))}, {x})[0], "[3]", {std::cos(-2.0), 1, std::cos(3.0)});
  check_values(grad({sum(cos(x))}, {x})[0], "[3]", {-std::sin(-2.0), 0, -std::sin(3.0)});
  for (const auto& f : std::vector<Function>{
           [](const std::vector<Tensor>& p) { return sin(p[0]) * cos(p[0]); },
           [](const std::vector<Tensor>& p) { return leaky_relu(p[0], 0.2) * p[0]; },
           [](const std::vector<Tensor>& p) { return elu(p[0]) * elu(p[0], 0.5); },
           [](const std::vector<Tensor>& p) { return gelu(p[0]); },
           [](const std::vector<Tensor>& p) { return softplus(p[0] * 3); }})
    check_first_and_second_derivatives(f, {off_zero});
}

BOOST_AUTO_TEST_CASE(layer_norm_normalises_each_row) {
  const Tensor x = tensor({{1.0, 2.0, 3.0}, {2.0, 2.0, 2.0}});
  // Row 1: mean 2, biased variance 2/3; row 2 is constant: 0 everywhere (eps keeps it finite).
  const double s = 1 / std::sqrt(2.0 / 3 + 1e-5);
  check_values(layer_norm(x, Tensor(), Tensor()), "[2, 3]", {-s, 0, s, 0, 0, 0}, 1e-12);
  const Tensor g = tensor({1.0, 2.0, 3.0}), b = tensor({0.5, 0.0, -1.0});
  check_values(layer_norm(tensor({{1.0, 2.0, 3.0}}), g, b, 0.0), "[1, 3]",
               {0.5 - std::sqrt(1.5), 0, 3 * std::sqrt(1.5) - 1}, 1e-12);
  check_values(layer_norm(tensor({{1.0, 3.0}}, DType::float32), Tensor(), Tensor()), "[1, 2]", {-1, 1}, 1e-4);
  check_values(layer_norm(zeros({0, 3}), g, b), "[0, 3]", {});
  Generator gen(13);
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return layer_norm(p[0], p[1], p[2]) * p[0]; },
      {randn({2, 4}, gen), randn({4}, gen), randn({4}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return layer_norm(p[0], p[1], p[2], 0.1); },
      {randn({2, 2, 3}, gen), randn({3}, gen), randn({3}, gen)});
  BOOST_CHECK_EXCEPTION(layer_norm(ones({2, 3}), ones({2}), ones({3})), ShapeError,
                        says("layer_norm: gamma [2] must be [3], the size of the last axis of x [2, 3]"));
  BOOST_CHECK_EXCEPTION(layer_norm(ones({2, 3}), ones({3}), ones({3, 1})), ShapeError, says("layer_norm: beta [3, 1]"));
  BOOST_CHECK_EXCEPTION(layer_norm(scalar(1), Tensor(), Tensor()), ShapeError, says("layer_norm: needs at least one axis"));
  BOOST_CHECK_EXCEPTION(layer_norm(ones({3}), ones({3}, DType::float32), Tensor()), DTypeError, says("layer_norm"));
}

BOOST_AUTO_TEST_CASE(batch_norm_uses_the_batch_statistics) {
  // Columns: mean 2 and 10, biased variance 1 and 0.
  const Tensor x = tensor({{1.0, 10.0}, {3.0, 10.0}});
  const double s = 1 / std::sqrt(1 + 1e-5);
  check_values(batch_norm(x, tensor({2.0, 1.0}), tensor({0.0, 5.0})), "[2, 2]", {-2 * s, 5, 2 * s, 5}, 1e-12);
  // [N, C, H, W]: channel 0 holds 0…3 (mean 1.5, variance 1.25), channel 1 is constant.
  const Tensor y = tensor({{{{0.0, 1.0}, {2.0, 3.0}}, {{7.0, 7.0}, {7.0, 7.0}}}});
  const double t = 1 / std::sqrt(1.25 + 1e-5);
  check_values(batch_norm(y, ones({2}), zeros({2})), "[1, 2, 2, 2]",
               {-1.5 * t, -0.5 * t, 0.5 * t, 1.5 * t, 0, 0, 0, 0}, 1e-12);
  check_values(batch_norm(tensor({{1.0}, {3.0}}, DType::float32), Tensor(), Tensor()), "[2, 1]", {-1, 1}, 1e-4);
  Generator gen(17);
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return batch_norm(p[0], p[1], p[2]) * p[0]; },
      {randn({3, 2}, gen), randn({2}, gen), randn({2}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return batch_norm(p[0], p[1], p[2], 0.01); },
      {randn({2, 2, 2, 1}, gen), randn({2}, gen), randn({2}, gen)});
  BOOST_CHECK_EXCEPTION(batch_norm(ones({2, 3, 4}), Tensor(), Tensor()), ShapeError,
                        says("batch_norm: needs [N, D] or [N, C, H, W], got [2, 3, 4]"));
  BOOST_CHECK_EXCEPTION(batch_norm(ones({2, 3}), ones({2}), Tensor()), ShapeError,
                        says("batch_norm: gamma [2] must be [3]"));
  BOOST_CHECK_EXCEPTION(batch_norm(ones({1, 3}), Tensor(), Tensor()), ValueError,
                        says("batch_norm: one value per channel in [1, 3]"));
}

// Note [Normalisation kernels]: a plain backward pass takes the kernel, a recorded one
// (create_graph) the formula as ops. Both must give the same first derivatives, for each
// layout (rows, [N, D] columns, [N, C, H, W] channels), with and without γ and β, in
// float64 and float32.
BOOST_AUTO_TEST_CASE(normalisation_kernels_agree_with_their_formula_as_ops) {
  using Norm = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, double, Here);
  struct Case {
    Norm norm;
    Shape x, param;
  };
  const Case cases[] = {{layer_norm, {5, 7}, {7}},      {layer_norm, {2, 3, 9}, {9}},
                        {batch_norm, {6, 4}, {4}},      {batch_norm, {3, 2, 4, 5}, {2}},
                        {batch_norm, {2, 3, 1, 1}, {3}}};
  Generator gen(29);
  for (const Case& k : cases)
    for (const DType dtype : {DType::float64, DType::float32})
      for (const bool affine : {true, false}) {
        const Tensor x = randn(k.x, gen, dtype).set_requires_grad();
        const Tensor gamma = affine ? randn(k.param, gen, dtype).set_requires_grad() : Tensor();
        const Tensor beta = affine ? randn(k.param, gen, dtype).set_requires_grad() : Tensor();
        const Tensor weights = randn(k.x, gen, dtype);
        const auto grads = [&](bool create_graph) {
          const Tensor loss = sum(k.norm(x, gamma, beta, 1e-5, Here::current()) * weights);
          return affine ? grad({loss}, {x, gamma, beta}, {.create_graph = create_graph})
                        : grad({loss}, {x}, {.create_graph = create_graph});
        };
        const std::vector<Tensor> kernel = grads(false), ops = grads(true);
        for (std::size_t i = 0; i < kernel.size(); ++i) {
          BOOST_TEST_CONTEXT(to_string(k.x) << " input " << i << (affine ? " with" : " without")
                                            << " γ, β, " << (dtype == DType::float32 ? "float32" : "float64")) {
            BOOST_TEST(!kernel[i].requires_grad());
            if (i == 0) BOOST_TEST(ops[i].requires_grad());  // (∂β = Σ G is a constant here)
            const std::vector<double> a = kernel[i].values(), b = ops[i].values();
            BOOST_TEST_REQUIRE(a.size() == b.size());
            for (std::size_t j = 0; j < a.size(); ++j)
              BOOST_TEST(std::abs(a[j] - b[j]) <= (dtype == DType::float32 ? 1e-4 : 1e-12) * (1 + std::abs(b[j])));
          }
        }
      }
}

BOOST_AUTO_TEST_CASE(dropout_is_reproducible_and_scaled) {
  const Tensor x = ones({1000});
  const Tensor d = dropout(x, 0.25, 42);
  double kept = 0;
  for (double v : d.values()) {
    BOOST_TEST((v == 0 || std::abs(v - 1 / 0.75) < 1e-15));
    kept += v != 0;
  }
  BOOST_TEST(std::abs(kept / 1000 - 0.75) < 0.05);
  BOOST_TEST(max_abs_diff(d, dropout(x, 0.25, 42)) == 0);    // the same seed, the same mask
  BOOST_TEST(max_abs_diff(d, dropout(x, 0.25, 43)) > 0);
  check_values(dropout(tensor({1.0, 2.0}), 0), "[2]", {1, 2});  // p = 0: x itself
  check_values(dropout(zeros({0}), 0.5), "[0]", {});
  BOOST_TEST(dropout(ones({2}, DType::float32), 0.5).dtype() == DType::float32);
  // The gradient goes through the same mask.
  Tensor p = ones({20}).set_requires_grad();
  BOOST_TEST(max_abs_diff(grad({sum(dropout(p, 0.5, 7))}, {p})[0], dropout(ones({20}), 0.5, 7)) == 0);
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& q) { return dropout(q[0] * q[0], 0.3, 5); }, {off_zero});
  // p = 1 drops every element, and the gradient with it (as torch.nn.functional.dropout).
  check_values(dropout(tensor({1.0, -2.0, 3.0}), 1), "[3]", {0, 0, 0});
  BOOST_TEST(max_abs_diff(grad({sum(dropout(p, 1, 7))}, {p})[0], zeros({20})) == 0);
  BOOST_CHECK_EXCEPTION(dropout(x, 1.5), ValueError, says("dropout: p must be in [0, 1], got 1.5"));
  BOOST_CHECK_EXCEPTION(dropout(x, -0.1), ValueError, says("got -0.1"));
  BOOST_CHECK_EXCEPTION(dropout(x, std::nan("")), ValueError, says("dropout"));
}

BOOST_AUTO_TEST_CASE(embedding_picks_rows_and_adds_them_back) {
  const Tensor W = tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});
  check_values(embedding(W, tensor({2.0, 0.0, 2.0})), "[3, 2]", {5, 6, 1, 2, 5, 6});
  check_values(embedding(W, tensor({{1.0}, {0.0}})), "[2, 1, 2]", {3, 4, 1, 2});
  check_values(embedding(W, scalar(1)), "[2]", {3, 4});
  check_values(embedding(W, zeros({0})), "[0, 2]", {});
  check_values(embedding(tensor({{1.5}}, DType::float32), zeros({1})), "[1, 1]", {1.5});
  // Repeated indices accumulate.
  Tensor P = W.clone().set_requires_grad();
  check_values(grad({sum(embedding(P, tensor({2.0, 0.0, 2.0})) * tensor({{1.0, 10.0}, {2.0, 20.0}, {3.0, 30.0}}))}, {P})[0],
               "[3, 2]", {2, 20, 0, 0, 4, 40});
  const Tensor idx = tensor({{1.0, 1.0}, {0.0, 2.0}});
  check_first_and_second_derivatives(
      [idx](const std::vector<Tensor>& p) { return embedding(p[0], idx) * embedding(p[0], idx); }, {W});
  BOOST_CHECK_EXCEPTION(embedding(W, tensor({0.0, 3.0})), IndexError,
                        says("embedding: the index 3 at position [1] is out of range for 3 rows (0 to 2)"));
  BOOST_CHECK_EXCEPTION(embedding(W, tensor({{0.0, -1.0}})), IndexError, says("the index -1 at position [0, 1]"));
  BOOST_CHECK_EXCEPTION(embedding(W, tensor({0.5})), IndexError,
                        says("embedding: the index 0.5 at position [0] is not a whole number"));
  BOOST_CHECK_EXCEPTION(embedding(ones({3}), tensor({0.0})), ShapeError,
                        says("embedding: W must be a matrix [V, D], got [3]"));
}
