#define BOOST_TEST_MODULE matmul
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <gradlab/gradlab.hpp>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/kernels/loops.hpp"  // gemm, with its transpose flags
#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

const Function product = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };

}  // namespace

// ---------------------------------------------------------------------------- forward values

BOOST_AUTO_TEST_CASE(a_2x3_matrix_times_a_3x2_matrix_by_hand) {
  // Cᵢⱼ = Σᵣ Aᵢᵣ Bᵣⱼ:  C₀₀ = 1·7 + 2·9 + 3·11 = 58,  C₀₁ = 1·8 + 2·10 + 3·12 = 64,
  //                     C₁₀ = 4·7 + 5·9 + 6·11 = 139, C₁₁ = 4·8 + 5·10 + 6·12 = 154
  const Tensor A = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  const Tensor B = tensor({{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}});
  check_values(matmul(A, B), "[2, 2]", {58, 64, 139, 154});
  // …and the other way round, a 3×3 matrix: the matrix product does not commute.
  check_values(matmul(B, A), "[3, 3]", {39, 54, 69, 49, 68, 87, 59, 82, 105});
}

BOOST_AUTO_TEST_CASE(a_batch_of_products_by_hand) {
  // [2, 1, 2] @ [2, 2, 1] → [2, 1, 1]: item 0 is [1 2]·[3 4]ᵀ = 11, item 1 is [5 6]·[7 8]ᵀ = 83
  const Tensor A = tensor({{{1.0, 2.0}}, {{5.0, 6.0}}});
  const Tensor B = tensor({{{3.0}, {4.0}}, {{7.0}, {8.0}}});
  check_values(matmul(A, B), "[2, 1, 1]", {11, 83});
}

BOOST_AUTO_TEST_CASE(one_matrix_applied_to_every_item_of_a_batch) {
  // [2, 2, 2] @ [2, 1] → [2, 2, 1]; each row [p q] becomes p·1 + q·10.
  const Tensor A = tensor({{{1.0, 2.0}, {3.0, 4.0}}, {{5.0, 6.0}, {7.0, 8.0}}});
  const Tensor W = tensor({{1.0}, {10.0}});
  check_values(matmul(A, W), "[2, 2, 1]", {21, 43, 65, 87});
}

// torch.matmul's rules: a 1-D a is a row, a 1-D b a column, and that 1 is left out again.
BOOST_AUTO_TEST_CASE(vectors_as_torch_matmul_reads_them) {
  const Tensor u = tensor({1.0, 2.0, 3.0}), v = tensor({4.0, 5.0, 6.0});
  check_values(matmul(u, v), "[]", {32});  // 4 + 10 + 18
  const Tensor M = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  check_values(matmul(M, tensor({1.0, 0.0, -1.0})), "[2]", {-2, -2});
  check_values(matmul(tensor({1.0, 2.0}), M), "[3]", {9, 12, 15});
  // A batch times a vector, a vector times a batch.
  const Tensor A = tensor({{{1.0, 2.0}, {3.0, 4.0}}, {{5.0, 6.0}, {7.0, 8.0}}});
  check_values(matmul(A, tensor({1.0, 10.0})), "[2, 2]", {21, 43, 65, 87});
  check_values(matmul(tensor({1.0, 10.0}), A), "[2, 2]", {31, 42, 75, 86});
  // Empty: a sum over nothing.
  check_values(matmul(ones({0}), ones({0})), "[]", {0});
  check_values(matmul(ones({0, 3}), ones({3})), "[0]", {});
}

// The batch axes (all but the last two) broadcast, as in torch: each product is the 2-D
// product of the matrices it pairs.
BOOST_AUTO_TEST_CASE(batch_axes_broadcast) {
  // [1, 2] @ [2, 2, 1]: the one matrix times each of the batch: [1 2]·[3 4]ᵀ, [1 2]·[7 8]ᵀ.
  const Tensor B = tensor({{{3.0}, {4.0}}, {{7.0}, {8.0}}});
  check_values(matmul(tensor({{1.0, 2.0}}), B), "[2, 1, 1]", {11, 23});
  Generator gen(7);
  struct Case {
    Shape a, b, out;
  };
  for (const Case& c : std::vector<Case>{{{2, 1, 3, 4}, {5, 4, 6}, {2, 5, 3, 6}},
                                         {{3, 4}, {2, 4, 5}, {2, 3, 5}},
                                         {{2, 3, 4}, {1, 4, 5}, {2, 3, 5}},
                                         {{1, 2, 3, 4}, {3, 1, 4, 2}, {3, 2, 3, 2}},
                                         {{2, 3, 4}, {4}, {2, 3}},
                                         {{0, 3, 4}, {2, 1, 4, 5}, {2, 0, 3, 5}}}) {
    BOOST_TEST_CONTEXT(to_string(c.a) << " @ " << to_string(c.b)) {
      const Tensor a = randn(c.a, gen), b = randn(c.b, gen);
      const Tensor y = matmul(a, b);
      BOOST_TEST(to_string(y.shape()) == to_string(c.out));
      BOOST_TEST(max_abs_diff(y, reference::matmul(a, b)) <= 1e-12);
      if (c.b.size() < 2) continue;
      // The same as the two expanded to the whole batch, which pairs the items one to one.
      Shape ea = c.out, eb = c.out;
      ea[ea.size() - 1] = c.a.back();
      eb[eb.size() - 2] = c.b[c.b.size() - 2];
      BOOST_TEST(max_abs_diff(y, matmul(expand(a, ea), expand(b, eb))) == 0);
    }
  }
}

// Gradients sum over the broadcast batch axes: with L = Σ M·Bᵢ over a batch of two, ∂M is
// the sum of the two items' gradients.
BOOST_AUTO_TEST_CASE(gradients_sum_over_broadcast_batch_axes) {
  Tensor M = tensor({{1.0, 2.0}}).set_requires_grad();
  Tensor B = tensor({{{3.0}, {4.0}}, {{7.0}, {8.0}}}).set_requires_grad();
  sum(matmul(M, B)).backward();
  check_values(M.grad(), "[1, 2]", {3 + 7, 4 + 8});
  check_values(B.grad(), "[2, 2, 1]", {1, 2, 1, 2});
  // A vector's gradient keeps its shape: ∂(u·v)/∂u = v.
  Tensor u = tensor({1.0, 2.0, 3.0}).set_requires_grad();
  matmul(u, tensor({4.0, 5.0, 6.0})).backward();
  check_values(u.grad(), "[3]", {4, 5, 6});
}

BOOST_AUTO_TEST_CASE(outer_product_by_hand) {
  // (u vᵀ)ᵢⱼ = uᵢ vⱼ
  check_values(outer(tensor({1.0, 2.0, 3.0}), tensor({4.0, 5.0})), "[3, 2]", {4, 5, 8, 10, 12, 15});
}

BOOST_AUTO_TEST_CASE(products_with_an_empty_inner_dimension_are_zero) {
  // A sum over nothing is 0: [2, 0] @ [0, 3] is a 2×3 matrix of zeros.
  check_values(matmul(ones({2, 0}), ones({0, 3})), "[2, 3]", {0, 0, 0, 0, 0, 0});
  check_values(matmul(ones({0, 3}), ones({3, 2})), "[0, 2]", {});
}

BOOST_AUTO_TEST_CASE(float32_product_by_hand) {
  const Tensor A = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, DType::float32);
  const Tensor B = tensor({{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}}, DType::float32);
  const Tensor C = matmul(A, B);
  BOOST_TEST(C.dtype() == DType::float32);
  check_values(C, "[2, 2]", {58, 64, 139, 154}, 1e-6);
  const Tensor u = tensor({0.5, -1.0}, DType::float32), v = tensor({0.25, 3.0}, DType::float32);
  BOOST_TEST(outer(u, v).dtype() == DType::float32);
  check_values(outer(u, v), "[2, 2]", {0.125, 1.5, -0.25, -3}, 1e-6);
}

BOOST_AUTO_TEST_CASE(blas_agrees_with_the_textbook_triple_loop) {
  // The BLAS path must give the same numbers as reference::matmul on awkward shapes: sizes 1,
  // odd sizes, sizes just past a power of two, batches, and a batch times one matrix.
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 1}, {1, 1}},     {{1, 7}, {7, 1}},          {{7, 1}, {1, 5}},
      {{3, 5}, {5, 7}},     {{17, 9}, {9, 1}},         {{33, 31}, {31, 29}},
      {{64, 65}, {65, 63}}, {{3, 4, 5}, {3, 5, 2}},    {{1, 3, 3}, {1, 3, 3}},
      {{5, 7, 3}, {3, 9}},  {{2, 17, 33}, {2, 33, 15}}, {{9}, {9}},
      {{9}, {9, 4}},        {{2, 5, 9}, {9}},          {{2, 1, 3, 4}, {5, 4, 6}},
      {{3, 4}, {2, 4, 5}}};
  Generator gen(7);
  for (const DType dtype : {DType::float64, DType::float32}) {
    for (const auto& [sa, sb] : cases) {
      BOOST_TEST_CONTEXT(to_string(dtype) << " " << to_string(sa) << " @ " << to_string(sb)) {
        const Tensor a = randn(sa, gen, dtype), b = randn(sb, gen, dtype);
        const Tensor fast = matmul(a, b), slow = reference::matmul(a, b);
        BOOST_TEST(fast.dtype() == dtype);
        BOOST_TEST(to_string(fast.shape()) == to_string(slow.shape()));
        // The two add the k products in different orders; rounding differs by about
        // k · (machine epsilon) · (size of the terms).
        const double k = static_cast<double>(sa.back());
        const double tol = k * (dtype == DType::float64 ? 1e-14 : 1e-6);
        BOOST_TEST(max_abs_diff(fast, slow) <= tol);
      }
    }
  }
}

// Products large enough to be split over two threads (src/gradlab/kernels/loops.cpp), by rows when C is
// taller than wide and by columns otherwise, and one small enough for gemm's own loop (no
// BLAS call), with every combination of transpose flags.
BOOST_AUTO_TEST_CASE(gemm_split_over_threads_agrees_with_the_triple_loop) {
  const int threads = num_threads();
  set_num_threads(2);
  Generator gen(11);
  const std::vector<std::vector<std::int64_t>> sizes = {
      {130, 100, 90}, {20, 500, 120}, {3, 4, 5}};  // m n k
  for (const auto& mnk : sizes) {
    const std::int64_t m = mnk[0], n = mnk[1], k = mnk[2];
    for (const bool ta : {false, true})
      for (const bool tb : {false, true}) {
        BOOST_TEST_CONTEXT(m << "×" << n << "×" << k << " trans_a " << ta << " trans_b " << tb) {
          const Tensor a = randn(ta ? Shape{k, m} : Shape{m, k}, gen);
          const Tensor b = randn(tb ? Shape{n, k} : Shape{k, n}, gen);
          Tensor c = zeros({m, n});
          kernels::gemm(ta, tb, m, n, k, a.data<double>(), b.data<double>(), 0.0,
                        c.data<double>());
          const Tensor want =
              reference::matmul(ta ? transpose(a) : a, tb ? transpose(b) : b);
          BOOST_TEST(max_abs_diff(c, want) <= k * 1e-14);
        }
      }
  }
  set_num_threads(threads);
}

// ------------------------------------------------------------------- gradients by hand

BOOST_AUTO_TEST_CASE(matmul_gradients_by_hand) {
  // C = A·B, with upstream gradient G = ∂L/∂C:  ∂L/∂A = G·Bᵀ,  ∂L/∂B = Aᵀ·G
  Tensor A = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}).set_requires_grad();
  Tensor B = tensor({{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}}).set_requires_grad();
  const Tensor G = tensor({{1.0, 0.0}, {0.0, 2.0}});
  matmul(A, B).backward(G);
  // G·Bᵀ = [[1 0], [0 2]]·[[7 9 11], [8 10 12]] = [[7 9 11], [16 20 24]]
  check_values(A.grad(), "[2, 3]", {7, 9, 11, 16, 20, 24});
  // Aᵀ·G = [[1 4], [2 5], [3 6]]·[[1 0], [0 2]] = [[1 8], [2 10], [3 12]]
  check_values(B.grad(), "[3, 2]", {1, 8, 2, 10, 3, 12});
}

BOOST_AUTO_TEST_CASE(a_shared_matrix_collects_gradient_from_the_whole_batch) {
  // L = Σ A·W with A [2, 2, 2] and W [2, 1]: ∂L/∂Wᵣ = Σ over every row of the batch of Aᵣ
  //   column 0: 1 + 3 + 5 + 7 = 16,  column 1: 2 + 4 + 6 + 8 = 20
  // and every row of A gets Wᵀ = [1 10].
  Tensor A = tensor({{{1.0, 2.0}, {3.0, 4.0}}, {{5.0, 6.0}, {7.0, 8.0}}}).set_requires_grad();
  Tensor W = tensor({{1.0}, {10.0}}).set_requires_grad();
  sum(matmul(A, W)).backward();
  check_values(W.grad(), "[2, 1]", {16, 20});
  check_values(A.grad(), "[2, 2, 2]", {1, 10, 1, 10, 1, 10, 1, 10});
}

BOOST_AUTO_TEST_CASE(outer_gradients_by_hand) {
  // L = Σᵢⱼ uᵢvⱼ = (Σu)(Σv):  ∂L/∂uᵢ = Σv = 9,  ∂L/∂vⱼ = Σu = 6
  Tensor u = tensor({1.0, 2.0, 3.0}).set_requires_grad();
  Tensor v = tensor({4.0, 5.0}).set_requires_grad();
  sum(outer(u, v)).backward();
  check_values(u.grad(), "[3]", {9, 9, 9});
  check_values(v.grad(), "[2]", {6, 6});
}

// ----------------------------------------------------------------------------- gradcheck

BOOST_AUTO_TEST_CASE(gradcheck_matmul_2d) {
  Generator gen(1);
  check_first_and_second_derivatives(product,
                                     {randn({3, 4}, gen).name("A"), randn({4, 2}, gen).name("B")});
}

BOOST_AUTO_TEST_CASE(gradcheck_matmul_batch_times_batch) {
  Generator gen(2);
  check_first_and_second_derivatives(
      product, {randn({2, 3, 4}, gen).name("A"), randn({2, 4, 5}, gen).name("B")});
}

BOOST_AUTO_TEST_CASE(gradcheck_matmul_batch_times_matrix) {
  Generator gen(3);
  check_first_and_second_derivatives(
      product, {randn({2, 3, 4}, gen).name("A"), randn({4, 2}, gen).name("W")});
}

BOOST_AUTO_TEST_CASE(gradcheck_matmul_with_vectors_and_broadcast_batches) {
  Generator gen(8);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4}, {4}},       {{3, 4}, {4}},       {{4}, {4, 2}},          {{2, 3, 4}, {4}},
      {{4}, {2, 4, 3}}, {{3, 4}, {2, 4, 2}}, {{2, 1, 3, 4}, {3, 4, 2}}, {{2, 3, 4}, {1, 4, 2}}};
  for (const auto& [a, b] : cases) {
    BOOST_TEST_CONTEXT(to_string(a) << " @ " << to_string(b)) {
      check_first_and_second_derivatives(product, {randn(a, gen).name("A"), randn(b, gen).name("B")});
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_matmul_inside_a_layer) {
  // sigmoid(x·W) is a layer of a network; its second derivatives mix matmul and sigmoid.
  Generator gen(4);
  const auto layer = [](const std::vector<Tensor>& in) { return sigmoid(matmul(in[0], in[1])); };
  check_first_and_second_derivatives(layer,
                                     {randn({2, 3}, gen).name("x"), randn({3, 4}, gen).name("W")});
}

BOOST_AUTO_TEST_CASE(gradcheck_outer) {
  Generator gen(5);
  const auto f = [](const std::vector<Tensor>& in) { return outer(in[0], in[1]); };
  check_first_and_second_derivatives(f, {randn({3}, gen).name("u"), randn({4}, gen).name("v")});
}

// ---------------------------------------------------------------------------- bad input

BOOST_AUTO_TEST_CASE(inner_dimensions_must_agree) {
  BOOST_CHECK_EXCEPTION(matmul(ones({1, 3}), ones({4, 2})), ShapeError,
                        says("matmul: inner dimensions differ: [1, 3] @ [4, 2]"));
  BOOST_CHECK_EXCEPTION(matmul(ones({2, 1, 3}), ones({2, 4, 2})), ShapeError,
                        says("matmul: inner dimensions differ: [2, 1, 3] @ [2, 4, 2]"));
  BOOST_CHECK_EXCEPTION(matmul(ones({2, 1, 3}), ones({4, 2})), ShapeError,
                        says("matmul: inner dimensions differ: [2, 1, 3] @ [4, 2]"));
  // The reference implementation checks the same way.
  BOOST_CHECK_EXCEPTION(reference::matmul(ones({1, 3}), ones({4, 2})), ShapeError,
                        says("matmul: inner dimensions differ: [1, 3] @ [4, 2]"));
}

BOOST_AUTO_TEST_CASE(batch_axes_must_broadcast) {
  BOOST_CHECK_EXCEPTION(matmul(ones({2, 2, 3}), ones({3, 3, 2})), ShapeError,
                        says("matmul: the batch dimensions [2] and [3] do not broadcast: "
                             "[2, 2, 3] @ [3, 3, 2]"));
  BOOST_CHECK_EXCEPTION(matmul(ones({2, 1, 2, 3}), ones({4, 3, 3, 2})), ShapeError,
                        says("[2, 1] and [4, 3] do not broadcast"));
}

BOOST_AUTO_TEST_CASE(vectors_need_a_matching_length_and_numbers_are_not_operands) {
  BOOST_CHECK_EXCEPTION(matmul(ones({3}), ones({2})), ShapeError,
                        says("matmul: inner dimensions differ: [3] @ [2]"));
  BOOST_CHECK_EXCEPTION(matmul(ones({2, 3}), ones({2})), ShapeError,
                        says("matmul: inner dimensions differ: [2, 3] @ [2]"));
  BOOST_CHECK_EXCEPTION(matmul(ones({3}), ones({2, 2, 3})), ShapeError,
                        says("matmul: inner dimensions differ: [3] @ [2, 2, 3]"));
  BOOST_CHECK_EXCEPTION(matmul(scalar(2.0), ones({2})), ShapeError,
                        says("matmul: needs operands of at least 1 dimension (* scales by a "
                             "number), got [] @ [2]"));
  BOOST_CHECK_EXCEPTION(outer(ones({2, 2}), ones({3})), ShapeError,
                        says("outer: needs two 1-D vectors, got [2, 2] and [3]"));
}

// float32 with float64 is computed in float64, as torch promotes; the float32 operand's
// gradient comes back as float32 (through the recorded conversion).
BOOST_AUTO_TEST_CASE(float32_with_float64_promotes_to_float64) {
  Tensor A = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}).set_requires_grad();
  Tensor B = tensor({{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}}, DType::float32).set_requires_grad();
  const Tensor C = matmul(A, B);
  BOOST_TEST(C.dtype() == DType::float64);
  check_values(C, "[2, 2]", {58, 64, 139, 154});
  sum(C).backward();
  BOOST_TEST(B.grad().dtype() == DType::float32);
  BOOST_TEST(A.grad().dtype() == DType::float64);
  check_values(B.grad(), "[3, 2]", {5, 5, 7, 7, 9, 9}, 1e-6);
  check_values(A.grad(), "[2, 3]", {15, 19, 23, 15, 19, 23});
  const Tensor o = outer(tensor({0.5, 2.0}, DType::float32), tensor({3.0}));
  BOOST_TEST(o.dtype() == DType::float64);
  check_values(o, "[2, 1]", {1.5, 6});
  BOOST_TEST(kron(ones({2}, DType::float32), ones({2})).dtype() == DType::float64);
  // The float64 side's derivatives through a promoted product with a float32 constant.
  Generator gen(9);
  const Tensor w = to(randn({3, 2}, gen), DType::float32);
  check_first_and_second_derivatives(
      [w](const std::vector<Tensor>& in) { return sigmoid(matmul(in[0], w)); },
      {randn({2, 3}, gen).name("A")});
}
