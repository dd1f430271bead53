// Linear algebra: trace, diag, eye, inverse, det, solve, matrix_power. Values by hand (2×2
// inverses and determinants, cofactors) and checked against PyTorch 1.13 float64 (see the
// report of issue 18); first and second derivatives against finite differences; batches,
// float32, empty matrices, and every bad shape and singular matrix.
#define BOOST_TEST_MODULE linalg
#include <cmath>
#include <utility>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// Well-conditioned matrices for the finite differences: the identity plus a little noise.
Tensor near_identity(std::int64_t n, Generator& gen, std::int64_t batch = 0) {
  Tensor noise = batch ? randn({batch, n, n}, gen) : randn({n, n}, gen);
  Tensor out = 0.3 * noise + eye(n);
  return out.detach();
}

// Gauss-Jordan elimination with partial pivoting, written out: [A | I] → [I | A⁻¹], and
// det A as the product of the pivots (one sign flip per swap). The reference that the LU
// (recursive, through BLAS, for matrices of 16 rows or more) is checked against.
std::pair<std::vector<double>, double> gauss_jordan(std::vector<double> a, std::int64_t n) {
  std::vector<double> inv(n * n, 0.0);
  for (std::int64_t i = 0; i < n; ++i) inv[i * n + i] = 1;
  double det = 1;
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t p = k;
    for (std::int64_t i = k + 1; i < n; ++i)
      if (std::abs(a[i * n + k]) > std::abs(a[p * n + k])) p = i;
    if (p != k) {
      for (std::int64_t j = 0; j < n; ++j) {
        std::swap(a[k * n + j], a[p * n + j]);
        std::swap(inv[k * n + j], inv[p * n + j]);
      }
      det = -det;
    }
    const double pivot = a[k * n + k];
    det *= pivot;
    for (std::int64_t j = 0; j < n; ++j) {
      a[k * n + j] /= pivot;
      inv[k * n + j] /= pivot;
    }
    for (std::int64_t i = 0; i < n; ++i) {
      if (i == k) continue;
      const double l = a[i * n + k];
      for (std::int64_t j = 0; j < n; ++j) {
        a[i * n + j] -= l * a[k * n + j];
        inv[i * n + j] -= l * inv[k * n + j];
      }
    }
  }
  return {inv, det};
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::abs(e));
  return m;
}

}  // namespace

// ---- trace, diag, eye ----

BOOST_AUTO_TEST_CASE(trace_diag_and_eye_by_hand) {
  const Tensor m = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  check_values(trace(m), "[]", {6});  // 1 + 5: not square is fine, as torch
  check_values(trace(tensor({{1.0, 2.0}, {3.0, 4.0}})), "[]", {5});
  check_values(diag(m), "[2]", {1, 5});
  check_values(diag(transpose(m)), "[2]", {1, 5});
  check_values(diag(tensor({1.0, 2.0})), "[2, 2]", {1, 0, 0, 2});
  check_values(eye(2), "[2, 2]", {1, 0, 0, 1});
  check_values(eye(2, 3), "[2, 3]", {1, 0, 0, 0, 1, 0});
  BOOST_TEST(eye(2, DType::float32).dtype() == DType::float32);
  BOOST_TEST(!eye(2).requires_grad());
  // Empty and float32.
  check_values(trace(zeros({0, 0})), "[]", {0});
  check_values(diag(zeros({0})), "[0, 0]", {});
  check_values(diag(zeros({3, 0})), "[0]", {});
  check_values(eye(0), "[0, 0]", {});
  check_values(trace(tensor({{1.5, 0}, {0, 2}}, DType::float32)), "[]", {3.5});
  check_values(diag(tensor({1.5, 2}, DType::float32)), "[2, 2]", {1.5, 0, 0, 2});
}

BOOST_AUTO_TEST_CASE(trace_and_diag_gradients) {
  // ∂ tr(AXB)/∂X = AᵀBᵀ (the Matrix Cookbook, (100)).
  Generator gen(1);
  const Tensor A = randn({2, 3}, gen), B = randn({3, 2}, gen);
  Tensor X = randn({3, 3}, gen).set_requires_grad();
  const Tensor g = grad({trace(matmul(matmul(A, X), B))}, {X})[0];
  BOOST_TEST(max_abs_diff(g, matmul(transpose(A), transpose(B))) < 1e-14);
  // ∂ tr X / ∂X = I, shaped like X.
  Tensor Y = ones({2, 3}).set_requires_grad();
  check_values(grad({trace(Y)}, {Y})[0], "[2, 3]", {1, 0, 0, 0, 1, 0});
  // diag one way sends the other way back: ∂/∂v Σ diag(v) ∘ W = diag(W).
  Tensor v = tensor({1.0, 2.0}).set_requires_grad();
  check_values(grad({sum(diag(v) * tensor({{1.0, 2.0}, {3.0, 4.0}}))}, {v})[0], "[2]", {1, 4});
  Tensor W = ones({3, 2}).set_requires_grad();
  check_values(grad({sum(diag(W) * tensor({5.0, 7.0}))}, {W})[0], "[3, 2]", {5, 0, 0, 7, 0, 0});

  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return trace(matmul(p[0], p[0])); }, {randn({3, 3}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return diag(p[0]) * diag(p[0]); }, {randn({3, 2}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return diag(p[0]) * diag(p[0]); }, {randn({2, 4}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return matmul(diag(p[0] * p[0]), p[1]); },
      {randn({3}, gen), randn({3, 2}, gen)});
}

BOOST_AUTO_TEST_CASE(trace_diag_and_eye_refuse_bad_shapes) {
  BOOST_CHECK_EXCEPTION(trace(ones({3})), ShapeError, says("trace: needs a matrix [m, n], got [3]"));
  BOOST_CHECK_EXCEPTION(trace(ones({2, 2, 2})), ShapeError, says("[2, 2, 2]"));
  BOOST_CHECK_EXCEPTION(diag(ones({2, 2, 2})), ShapeError,
                        says("diag: needs a vector [n] or a matrix [m, n], got [2, 2, 2]"));
  BOOST_CHECK_EXCEPTION(diag(scalar(1)), ShapeError, says("got []"));
  BOOST_CHECK_EXCEPTION(eye(-1), ValueError, says("eye: n must be at least 0, got -1"));
  BOOST_CHECK_EXCEPTION(eye(2, -3), ValueError, says("eye"));
}

// ---- inverse, det, solve ----

BOOST_AUTO_TEST_CASE(inverse_and_det_by_hand) {
  // [[a, b], [c, d]]⁻¹ = [[d, −b], [−c, a]] / (ad − bc); here ad − bc = 4·6 − 7·2 = 10.
  const Tensor X = tensor({{4.0, 7.0}, {2.0, 6.0}});
  check_values(inverse(X), "[2, 2]", {0.6, -0.7, -0.2, 0.4}, 1e-15);
  check_values(det(X), "[]", {10}, 1e-14);
  // A row swap is needed (the first pivot is 0), and flips the sign.
  check_values(det(tensor({{0.0, 1.0}, {1.0, 0.0}})), "[]", {-1});
  check_values(inverse(tensor({{0.0, 1.0}, {1.0, 0.0}})), "[2, 2]", {0, 1, 1, 0});
  // 3×3: det = 1·(5·10 − 6·8) − 2·(4·10 − 6·7) + 3·(4·8 − 5·7) = 2 + 4 − 9 = −3.
  const Tensor M = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 10.0}});
  check_values(det(M), "[]", {-3}, 1e-13);
  BOOST_TEST(max_abs_diff(matmul(M, inverse(M)), eye(3)) < 1e-14);
  // A batch: each matrix on its own.
  const Tensor batch = from_vector({4, 7, 2, 6, 2, 0, 0, 3}, {2, 2, 2});
  check_values(det(batch), "[2]", {10, 6}, 1e-14);
  check_values(inverse(batch), "[2, 2, 2]", {0.6, -0.7, -0.2, 0.4, 0.5, 0, 0, 1.0 / 3}, 1e-15);
  // Empty: the 0×0 matrix has determinant 1 (the empty product), as torch.
  check_values(det(zeros({0, 0})), "[]", {1});
  check_values(inverse(zeros({0, 0})), "[0, 0]", {});
  check_values(det(zeros({0, 2, 2})), "[0]", {});
  // float32.
  const Tensor single = tensor({{4.0, 7.0}, {2.0, 6.0}}, DType::float32);
  BOOST_TEST(inverse(single).dtype() == DType::float32);
  check_values(inverse(single), "[2, 2]", {0.6, -0.7, -0.2, 0.4}, 1e-6);
  check_values(det(single), "[]", {10}, 1e-5);
}

BOOST_AUTO_TEST_CASE(solve_by_hand) {
  // 4x + 7y = 1, 2x + 6y = 2: x = (6 − 14) / 10, y = (8 − 2) / 10.
  const Tensor A = tensor({{4.0, 7.0}, {2.0, 6.0}});
  check_values(solve(A, tensor({1.0, 2.0})), "[2]", {-0.8, 0.6}, 1e-15);
  check_values(solve(A, tensor({{1.0, 0.0}, {2.0, 1.0}})), "[2, 2]", {-0.8, -0.7, 0.6, 0.4}, 1e-15);
  const Tensor As = from_vector({4, 7, 2, 6, 2, 0, 0, 4}, {2, 2, 2});
  check_values(solve(As, from_vector({1, 2, 2, 8}, {2, 2, 1})), "[2, 2, 1]", {-0.8, 0.6, 1, 2}, 1e-15);
  check_values(solve(A, zeros({2, 0})), "[2, 0]", {});
  check_values(solve(tensor({{2.0}}, DType::float32), tensor({3.0}, DType::float32)), "[1]", {1.5});
}

BOOST_AUTO_TEST_CASE(gradients_by_hand) {
  // ∂ det X / ∂X = det X · X⁻ᵀ: for X = [[4, 7], [2, 6]], the cofactors [[6, −2], [−7, 4]].
  Tensor X = tensor({{4.0, 7.0}, {2.0, 6.0}}).set_requires_grad();
  check_values(grad({det(X)}, {X})[0], "[2, 2]", {6, -2, -7, 4}, 1e-14);
  // ∂ log|det X| / ∂X = X⁻ᵀ.
  check_values(grad({log(abs(det(X)))}, {X})[0], "[2, 2]", {0.6, -0.2, -0.7, 0.4}, 1e-15);
  // ∂ Σ X⁻¹ / ∂X = −X⁻ᵀ 1 X⁻ᵀ; X⁻¹'s row sums (−0.1, 0.2), column sums (0.4, −0.3):
  // −(column sums)ᵢ (row sums)ⱼ.
  check_values(grad({sum(inverse(X))}, {X})[0], "[2, 2]", {0.04, -0.08, -0.03, 0.06}, 1e-15);
}

// Sizes on both sides of the recursive LU's threshold (16) and of its halvings, batches,
// float32; random matrices (pivoting matters) against Gauss-Jordan.
BOOST_AUTO_TEST_CASE(inverse_det_solve_of_larger_matrices_agree_with_gauss_jordan) {
  Generator gen(11);
  for (const std::int64_t n : {1, 2, 5, 15, 16, 17, 24, 31, 40, 64, 70}) {
    const Tensor a = randn({2, n, n}, gen);
    const Tensor b = randn({2, n, 3}, gen);
    const std::vector<double> av = a.values(), bv = b.values();
    const std::vector<double> inv = inverse(a).values(), dets = det(a).values(), x = solve(a, b).values();
    const std::vector<double> inv32 = inverse(to(a, DType::float32)).values();
    for (std::int64_t m = 0; m < 2; ++m) {
      const auto [want, want_det] =
          gauss_jordan(std::vector<double>(av.begin() + m * n * n, av.begin() + (m + 1) * n * n), n);
      const double scale = max_abs(want);
      double worst = 0, worst32 = 0, worst_solve = 0;
      for (std::int64_t i = 0; i < n * n; ++i) {
        worst = std::max(worst, std::abs(inv[m * n * n + i] - want[i]) / scale);
        worst32 = std::max(worst32, std::abs(inv32[m * n * n + i] - want[i]) / scale);
      }
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t c = 0; c < 3; ++c) {
          double v = 0;  // (A⁻¹B)ᵢc from Gauss-Jordan's inverse
          for (std::int64_t j = 0; j < n; ++j) v += want[i * n + j] * bv[(m * n + j) * 3 + c];
          worst_solve = std::max(worst_solve, std::abs(x[(m * n + i) * 3 + c] - v) / (scale * (1 + max_abs(bv))));
        }
      BOOST_TEST(worst < 1e-11, "inverse, n = " << n << ": " << worst);
      BOOST_TEST(worst32 < 1e-4, "inverse float32, n = " << n << ": " << worst32);
      BOOST_TEST(worst_solve < 1e-11, "solve, n = " << n << ": " << worst_solve);
      BOOST_TEST(std::abs(dets[m] - want_det) <= 1e-11 * std::abs(want_det), "det, n = " << n);
    }
  }
}

// A plain backward() of det takes X⁻¹ from the forward's factors; a recorded one, from the
// op inverse: both det X · X⁻ᵀ. A large singular matrix is refused by inverse and solve.
BOOST_AUTO_TEST_CASE(det_backward_plain_and_recorded_agree_on_larger_matrices) {
  Generator gen(12);
  for (const std::int64_t n : {3, 20, 64}) {
    Tensor a = randn({n, n}, gen).set_requires_grad();
    const std::vector<double> plain = grad({det(a)}, {a})[0].values();
    const std::vector<double> recorded = grad({det(a)}, {a}, {.create_graph = true})[0].values();
    const auto [inv, d] = gauss_jordan(a.values(), n);
    std::vector<double> want(n * n);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) want[i * n + j] = d * inv[j * n + i];
    const double scale = max_abs(want);
    double worst = 0, worst_recorded = 0;
    for (std::int64_t i = 0; i < n * n; ++i) {
      worst = std::max(worst, std::abs(plain[i] - want[i]) / scale);
      worst_recorded = std::max(worst_recorded, std::abs(recorded[i] - want[i]) / scale);
    }
    BOOST_TEST(worst < 1e-10, "n = " << n << ": " << worst);
    BOOST_TEST(worst_recorded < 1e-10, "n = " << n << ": " << worst_recorded);
  }
  const Tensor regular = randn({40, 40}, gen);
  std::vector<double> v = regular.values();
  for (std::int64_t j = 0; j < 40; ++j) v[39 * 40 + j] = v[j] - 2 * v[40 + j];  // row 39 = r₀ − 2r₁
  const Tensor singular = from_vector(v, {40, 40});
  BOOST_CHECK_EXCEPTION(inverse(singular), ValueError, says("singular"));
  BOOST_CHECK_EXCEPTION(solve(singular, ones({40})), ValueError, says("singular"));
  // (|det| of a 40 × 40 Gaussian matrix is near √40! ≈ 10²⁴: the singular one's is rounding.)
  BOOST_TEST(std::abs(det(singular).item()) < 1e-12 * std::abs(det(regular).item()));
}

BOOST_AUTO_TEST_CASE(det_of_a_singular_matrix_is_0_with_the_cofactors_as_gradient) {
  // [[1, 2], [2, 4]]: rank 1. Its cofactors [[4, −2], [−2, 1]] are the gradient (torch 1.13
  // returns zeros here; the cofactors are the true derivative: det(X + εE₁₁) = 4ε).
  Tensor X = tensor({{1.0, 2.0}, {2.0, 4.0}}).set_requires_grad();
  check_values(det(X), "[]", {0});
  check_values(grad({det(X)}, {X})[0], "[2, 2]", {4, -2, -2, 1});
  // A 3×3 one of rank 2: the cofactor matrix of [[1, 2, 3], [4, 5, 6], [7, 8, 9]].
  Tensor Y = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}}).set_requires_grad();
  BOOST_TEST(std::abs(det(Y).item()) < 1e-14);
  check_values(grad({det(Y)}, {Y})[0], "[3, 3]", {-3, 6, -3, 6, -12, 6, -3, 6, -3}, 1e-13);
  // The zero matrix: every cofactor of a 2×2 zero matrix is 0; of a 1×1, 1.
  Tensor Z = zeros({2, 2}).set_requires_grad();
  check_values(grad({det(Z)}, {Z})[0], "[2, 2]", {0, 0, 0, 0});
  Tensor one = zeros({1, 1}).set_requires_grad();
  check_values(grad({det(one)}, {one})[0], "[1, 1]", {1});
  // A batch with one singular matrix: each gets its own cofactors.
  Tensor B = from_vector({1, 2, 2, 4, 4, 7, 2, 6}, {2, 2, 2}).set_requires_grad();
  check_values(grad({sum(det(B))}, {B})[0], "[2, 2, 2]", {4, -2, -2, 1, 6, -2, -7, 4}, 1e-13);
  // The second derivative at the singular point, against finite differences too.
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return det(p[0]); },
                                     {tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}})});
}

BOOST_AUTO_TEST_CASE(inverse_det_solve_derivatives_match_finite_differences) {
  Generator gen(5);
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return inverse(p[0]); },
                                     {near_identity(3, gen)});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return det(p[0]); },
                                     {near_identity(3, gen)});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return log(det(p[0])); },
                                     {near_identity(2, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return solve(p[0], p[1]); },
      {near_identity(3, gen), randn({3, 2}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return solve(p[0], p[1]); },
      {near_identity(3, gen), randn({3}, gen)});
  // Batches.
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return inverse(p[0]); },
                                     {near_identity(2, gen, 3)});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return det(p[0]); },
                                     {near_identity(3, gen, 2)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return solve(p[0], p[1]); },
      {near_identity(2, gen, 2), randn({2, 2, 3}, gen)});
}

BOOST_AUTO_TEST_CASE(singular_matrices_are_value_errors_not_infinities) {
  const Tensor S = tensor({{1.0, 2.0}, {2.0, 4.0}});
  BOOST_CHECK_EXCEPTION(inverse(S), ValueError,
                        says("inverse: the [2, 2] matrix is singular, so it has no inverse"));
  BOOST_CHECK_EXCEPTION(solve(S, ones({2})), ValueError,
                        says("solve: A [2, 2] is singular, so A⁻¹B does not exist"));
  // Rounding leaves a pivot of about 10⁻¹⁶ here instead of 0: still singular.
  BOOST_CHECK_EXCEPTION(inverse(tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}})),
                        ValueError, says("singular"));
  BOOST_CHECK_EXCEPTION(inverse(zeros({3, 3}, DType::float32)), ValueError, says("singular"));
  BOOST_CHECK_EXCEPTION(inverse(from_vector({4, 7, 2, 6, 1, 2, 2, 4}, {2, 2, 2})), ValueError,
                        says("inverse: matrix 1 of the batch [2, 2, 2] is singular"));
  // A well-conditioned matrix of tiny numbers is not singular: the test is relative.
  check_values(inverse(tensor({{1e-200, 0.0}, {0.0, 2e-200}})), "[2, 2]", {1e200, 0, 0, 5e199}, 1e187);
}

BOOST_AUTO_TEST_CASE(inverse_det_solve_refuse_bad_shapes) {
  for (const Shape& s : {Shape{2, 3}, Shape{3}, Shape{}, Shape{2, 2, 3}, Shape{1, 2, 2, 2}}) {
    BOOST_CHECK_EXCEPTION(inverse(ones(s)), ShapeError,
                          says("inverse: needs a square matrix [n, n] or a batch of them [B, n, n], got " +
                               to_string(s)));
    BOOST_CHECK_EXCEPTION(det(ones(s)), ShapeError, says("det: needs a square matrix"));
    BOOST_CHECK_EXCEPTION(matrix_power(ones(s), 2), ShapeError, says("matrix_power: needs a square"));
  }
  BOOST_CHECK_EXCEPTION(solve(ones({2, 3}), ones({2})), ShapeError, says("solve: needs a square matrix [n, n] or a batch of them [B, n, n], got A [2, 3]"));
  BOOST_CHECK_EXCEPTION(solve(eye(2), ones({3})), ShapeError,
                        says("solve: B needs 2 rows, one per row of A, got A [2, 2] and B [3]"));
  BOOST_CHECK_EXCEPTION(solve(eye(2), ones({2, 2, 2})), ShapeError, says("A [2, 2] and B [2, 2, 2]"));
  BOOST_CHECK_EXCEPTION(solve(ones({2, 2, 2}), ones({3, 2, 1})), ShapeError, says("same batch"));
  BOOST_CHECK_EXCEPTION(solve(eye(2), ones({2}, DType::float32)), DTypeError, says("solve"));
}

// ---- matrix_power ----

BOOST_AUTO_TEST_CASE(matrix_power_by_hand_and_its_derivatives) {
  const Tensor J = tensor({{1.0, 1.0}, {0.0, 1.0}});  // Jᵏ = [[1, k], [0, 1]]
  check_values(matrix_power(J, 0), "[2, 2]", {1, 0, 0, 1});
  check_values(matrix_power(J, 1), "[2, 2]", {1, 1, 0, 1});
  check_values(matrix_power(J, 5), "[2, 2]", {1, 5, 0, 1});
  check_values(matrix_power(J, 6), "[2, 2]", {1, 6, 0, 1});
  check_values(matrix_power(J, -3), "[2, 2]", {1, -3, 0, 1}, 1e-15);
  const Tensor fib = tensor({{1.0, 1.0}, {1.0, 0.0}});  // Fibonacci: [[F₁₁, F₁₀], [F₁₀, F₉]]
  check_values(matrix_power(fib, 10), "[2, 2]", {89, 55, 55, 34});
  check_values(matrix_power(from_vector({2, 0, 0, 3}, {1, 2, 2}), 3), "[1, 2, 2]", {8, 0, 0, 27});
  check_values(matrix_power(from_vector({2, 0, 0, 3}, {1, 2, 2}), 0), "[1, 2, 2]", {1, 0, 0, 1});
  check_values(matrix_power(zeros({0, 0}), 3), "[0, 0]", {});
  check_values(matrix_power(tensor({{2.0}}, DType::float32), -1), "[1, 1]", {0.5});
  // ∂ Σ X² / ∂X = 1·Xᵀ + Xᵀ·1 (1: all ones): for X = J, [[2, 1], [2, 1]] + [[1, 1], [2, 2]].
  Tensor X = J.clone().set_requires_grad();
  check_values(grad({sum(matrix_power(X, 2))}, {X})[0], "[2, 2]", {3, 2, 4, 3});
  Generator gen(9);
  for (std::int64_t k : {2, 3, 5, -1, -2})
    check_first_and_second_derivatives(
        [k](const std::vector<Tensor>& p) { return matrix_power(p[0], k); }, {near_identity(3, gen)});
  BOOST_CHECK_EXCEPTION(matrix_power(tensor({{1.0, 2.0}, {2.0, 4.0}}), -1), ValueError,
                        says("inverse: the [2, 2] matrix is singular"));
}
