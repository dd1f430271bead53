// Tutorial 6: the three ways to multiply two matrices — Hadamard A ∘ B, matrix product A · B,
// Kronecker A ⊗ B — what each computes, which shapes each accepts, what gradient each sends
// back, and where each one turns up in a neural network; last, two identities of matrix
// calculus built from them, checked with check_gradient.
//
// Every result below is checked against numbers worked out by hand (written into the
// program), against explicit loops, or against finite differences.
#include <cmath>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "tutorial.hpp"

using namespace gradlab;

namespace {

// Integer arithmetic in float64 is exact, so "equal" can mean equal to rounding only.
bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && max_abs_diff(a, b) <= 1e-12;
}

void show(const std::string& label, const Tensor& t) {
  std::cout << label << "  " << to_string(t.shape()) << "\n" << t << "\n";
}

// The message of the ShapeError that `attempt` throws, or "" when it throws none.
std::string shape_error(const std::function<void()>& attempt) {
  try {
    attempt();
  } catch (const ShapeError& error) {
    return error.what();
  }
  return "";
}

bool mentions(const std::string& text, const std::vector<std::string>& words) {
  for (const std::string& word : words)
    if (text.find(word) == std::string::npos) return false;
  return true;
}

// Whether the checker's diagnosis of the (one) claim says `words`.
bool says(const CheckReport& report, const std::string& words) {
  for (const std::string& d : report.claims.at(0).diagnoses)
    if (d.find(words) != std::string::npos) return true;
  return false;
}

// Block (i, j) of a matrix cut into blocks of p rows and q columns, copied out by loops.
Tensor block(const Tensor& M, std::int64_t i, std::int64_t j, std::int64_t p, std::int64_t q) {
  std::vector<double> values;
  for (std::int64_t k = 0; k < p; ++k)
    for (std::int64_t l = 0; l < q; ++l) values.push_back(M.at({i * p + k, j * q + l}));
  return from_vector(values, {p, q});
}

// 0, 1, 2, … in row-major order: a gradient whose every entry can be told apart.
Tensor counting(std::int64_t rows, std::int64_t cols) {
  std::vector<double> values(rows * cols);
  for (std::size_t n = 0; n < values.size(); ++n) values[n] = static_cast<double>(n);
  return from_vector(values, {rows, cols});
}

}  // namespace

int main(int argc, char** argv) {
  tutorial::Tutorial t(argc, argv, "6. Hadamard, Kronecker, matrix product",
                       "three products of two matrices: values, shapes, gradients, uses, identities");

  // ────────────────────────────────────────────────────────────────────────────────────
  t.section("1. Three products of the same two matrices");
  Tensor A = tensor({{1, 2}, {3, 4}}).set_requires_grad().name("A");
  Tensor B = tensor({{0, 1}, {2, 3}}).set_requires_grad().name("B");
  Tensor hadamard_AB, kron_AB, matmul_AB;
  {
    cluster box("Hadamard: aᵢⱼ·bᵢⱼ");
    hadamard_AB = (A * B).name("A ∘ B");  // entry by entry: (A ∘ B)ᵢⱼ = aᵢⱼ·bᵢⱼ
  }
  {
    cluster box("Kronecker: block (i, j) is aᵢⱼ·B");
    kron_AB = kron(A, B).name("A ⊗ B");  // every aᵢⱼ scales a whole copy of B
  }
  {
    cluster box("matrix product: Σₖ aᵢₖ·bₖⱼ");
    matmul_AB = matmul(A, B).name("A · B");  // row i of A against column j of B
  }
  show("A", A);
  show("B", B);
  show("A ∘ B", hadamard_AB);
  show("A · B", matmul_AB);
  show("A ⊗ B", kron_AB);

  // Worked out by hand:
  //   A ∘ B = [[1·0, 2·1], [3·2, 4·3]]
  //   A · B = [[1·0 + 2·2, 1·1 + 2·3], [3·0 + 4·2, 3·1 + 4·3]]
  //   A ⊗ B = [[1·B, 2·B], [3·B, 4·B]]
  t.claim(same(hadamard_AB, tensor({{0, 2}, {6, 12}})), "A ∘ B = [[0, 2], [6, 12]], as by hand");
  t.claim(same(matmul_AB, tensor({{4, 7}, {8, 15}})), "A · B = [[4, 7], [8, 15]], as by hand");
  t.claim(same(kron_AB, tensor({{0, 1, 0, 2}, {2, 3, 4, 6}, {0, 3, 0, 4}, {6, 9, 8, 12}})),
          "A ⊗ B = [[1·B, 2·B], [3·B, 4·B]], as by hand");
  // Order: B ∘ A is A ∘ B, but B · A = [[0·1 + 1·3, 0·2 + 1·4], [2·1 + 3·3, 2·2 + 3·4]],
  // and B ⊗ A = [[0·A, 1·A], [2·A, 3·A]]: the same sixteen products, arranged differently.
  t.claim(same(B * A, hadamard_AB), "B ∘ A = A ∘ B");
  t.claim(same(matmul(B, A), tensor({{3, 4}, {11, 16}})), "B · A = [[3, 4], [11, 16]] ≠ A · B");
  t.claim(same(kron(B, A), tensor({{0, 0, 1, 2}, {0, 0, 3, 4}, {2, 4, 3, 6}, {6, 8, 9, 12}})),
          "B ⊗ A = [[0·A, 1·A], [2·A, 3·A]] ≠ A ⊗ B");
  t.diagram("products_three",
            to_dot({hadamard_AB, matmul_AB, kron_AB},
                   {.left_to_right = true,
                    .show_values = true,
                    .title = "Three products of the same 2×2 matrices A and B"}));
  t.diagram("products_formulas",
            to_dot({hadamard_AB, kron_AB, matmul_AB},
                   {.formulas = true,
                    .title = "What each product sends back (G: the gradient at its output)"}));

  // ────────────────────────────────────────────────────────────────────────────────────
  t.section("2. Shapes, and what goes wrong when they do not fit");
  const Tensor X = tensor({{1, 2, 3}, {4, 5, 6}}).name("X");      // 2×3
  const Tensor S = tensor({{1, 10, 100}}).name("S");              // 1×3, one row
  const Tensor Y = tensor({{1, 2}, {0, 1}, {-1, 0}}).name("Y");   // 3×2

  // Hadamard: equal shapes, or shapes that broadcast (a 1 stretches to match).
  const Tensor X_hadamard_X = X * X;
  const Tensor X_hadamard_S = X * S;  // S's one row is reused for both rows of X
  show("X ∘ X", X_hadamard_X);
  show("X ∘ S (S broadcast down the rows)", X_hadamard_S);
  t.claim(same(X_hadamard_X, tensor({{1, 4, 9}, {16, 25, 36}})),
          "[2, 3] ∘ [2, 3] → [2, 3]: X ∘ X squares each entry");
  t.claim(same(X_hadamard_S, tensor({{1, 20, 300}, {4, 50, 600}})),
          "[2, 3] ∘ [1, 3] → [2, 3]: column j of X is scaled by sⱼ");

  // Matrix product: [m, k] · [k, n] → [m, n]; the shared k is summed away.
  const Tensor X_times_Y = matmul(X, Y);
  show("X · Y", X_times_Y);
  // [[1·1 + 2·0 + 3·(−1), 1·2 + 2·1 + 3·0], [4·1 + 5·0 + 6·(−1), 4·2 + 5·1 + 6·0]]
  t.claim(same(X_times_Y, tensor({{-2, 4}, {-2, 13}})),
          "[2, 3] · [3, 2] → [2, 2] = [[-2, 4], [-2, 13]], as by hand");

  // Kronecker: any two shapes; [m, n] ⊗ [p, q] → [m·p, n·q].
  const Tensor X_kron_Y = kron(X, Y);
  show("X ⊗ Y", X_kron_Y);
  // The definition, entry by entry: (X ⊗ Y)[i·p + k, j·q + l] = xᵢⱼ·yₖₗ with Y p×q = 3×2.
  bool every_block_is_scaled_Y = X_kron_Y.shape() == Shape{6, 6};
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 3; ++j)
      for (std::int64_t k = 0; k < 3; ++k)
        for (std::int64_t l = 0; l < 2; ++l)
          every_block_is_scaled_Y =
              every_block_is_scaled_Y &&
              X_kron_Y.at({i * 3 + k, j * 2 + l}) == X.at({i, j}) * Y.at({k, l});
  t.claim(every_block_is_scaled_Y,
          "[2, 3] ⊗ [3, 2] → [6, 6], and its 3×2 block (i, j) is xᵢⱼ·Y (explicit loops)");

  // Shapes that do not fit: a typed ShapeError whose message names the op and both shapes.
  const std::string hadamard_message = shape_error([&] { (void)(X * Y); });
  const std::string matmul_message = shape_error([&] { (void)matmul(X, X); });
  std::cout << "X ∘ Y  → ShapeError: " << hadamard_message << "\n"
            << "X · X  → ShapeError: " << matmul_message << "\n";
  t.claim(mentions(hadamard_message, {"hadamard", "[2, 3]", "[3, 2]"}),
          "[2, 3] ∘ [3, 2] throws a ShapeError naming hadamard and both shapes");
  t.claim(mentions(matmul_message, {"matmul", "[2, 3] @ [2, 3]"}),
          "[2, 3] · [2, 3] throws a ShapeError naming matmul and both shapes");

  // ────────────────────────────────────────────────────────────────────────────────────
  t.section("3. The outer product, three ways");
  const Tensor u = tensor({1, 2, 3}).name("u");
  const Tensor v = tensor({4, 5}).name("v");
  const Tensor u_column = reshape(u, {3, 1}), v_row = reshape(v, {1, 2});
  const Tensor u_outer_v = outer(u, v);
  show("outer(u, v) = u vᵀ", u_outer_v);
  // (u vᵀ)ᵢⱼ = uᵢ·vⱼ: [[1·4, 1·5], [2·4, 2·5], [3·4, 3·5]]
  const Tensor by_hand = tensor({{4, 5}, {8, 10}, {12, 15}});
  t.claim(same(u_outer_v, by_hand), "outer(u, v) = [[4, 5], [8, 10], [12, 15]], as by hand");
  t.claim(same(kron(u_column, v_row), by_hand),
          "the Kronecker product of column u and row v is the same 3×2 matrix");
  t.claim(same(matmul(u_column, v_row), by_hand),
          "the matrix product of column u (3×1) and row v (1×2) is the same 3×2 matrix");

  // ────────────────────────────────────────────────────────────────────────────────────
  t.section("4. Gradients: what each product sends back");
  // Backward from each product of section 1, with a chosen gradient G arriving at its
  // output (as if a loss L above had sent it), gives ∂L/∂A and ∂L/∂B.
  const Tensor G = tensor({{1, 0}, {-1, 2}}).name("G");
  const auto gradients_of = [&](const Tensor& product, const Tensor& arriving) {
    return grad({product}, {A, B}, {.grad_outputs = {arriving}});
  };
  std::cout << "G at the output of A ∘ B and of A · B:\n" << G << "\n";

  // Hadamard: ∂A = G ∘ B, ∂B = G ∘ A.
  // By hand: ∂A = [[1·0, 0·1], [−1·2, 2·3]], ∂B = [[1·1, 0·2], [−1·3, 2·4]].
  const std::vector<Tensor> hadamard_grads = gradients_of(hadamard_AB, G);
  show("∂A of A ∘ B (engine)", hadamard_grads[0]);
  show("∂B of A ∘ B (engine)", hadamard_grads[1]);
  t.claim(same(hadamard_grads[0], tensor({{0, 0}, {-2, 6}})) && same(G * B, hadamard_grads[0]),
          "Hadamard: the engine's ∂A is G ∘ B = [[0, 0], [-2, 6]]");
  t.claim(same(hadamard_grads[1], tensor({{1, 0}, {-3, 8}})) && same(G * A, hadamard_grads[1]),
          "Hadamard: the engine's ∂B is G ∘ A = [[1, 0], [-3, 8]]");

  // Matrix product: ∂A = G · Bᵀ, ∂B = Aᵀ · G, here with the textbook triple loop
  // (reference::matmul) rather than the BLAS routine the engine calls.
  const std::vector<Tensor> matmul_grads = gradients_of(matmul_AB, G);
  show("∂A of A · B (engine)", matmul_grads[0]);
  show("∂B of A · B (engine)", matmul_grads[1]);
  t.claim(same(matmul_grads[0], tensor({{0, 2}, {2, 4}})) &&
              same(reference::matmul(G, transpose(B)), matmul_grads[0]),
          "matrix product: the engine's ∂A is G · Bᵀ = [[0, 2], [2, 4]]");
  t.claim(same(matmul_grads[1], tensor({{-2, 6}, {-2, 8}})) &&
              same(reference::matmul(transpose(A), G), matmul_grads[1]),
          "matrix product: the engine's ∂B is Aᵀ · G = [[-2, 6], [-2, 8]]");

  // Kronecker: aᵢⱼ touches only block (i, j) of the output, where it multiplies B, so
  //   ∂A[i, j] = Σ (block (i, j) of G) ∘ B      ∂B = Σᵢⱼ aᵢⱼ · (block (i, j) of G)
  // G is now 4×4, like A ⊗ B; counting 0…15 so that a mixed-up block would show.
  const Tensor G4 = counting(4, 4).name("G");
  const std::vector<Tensor> kron_grads = gradients_of(kron_AB, G4);
  std::vector<double> dA_by_blocks(4), dB_by_blocks(4, 0.0);
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 2; ++j) {
      const Tensor G_block = block(G4, i, j, 2, 2);
      dA_by_blocks[i * 2 + j] = sum(G_block * B).item();
      const std::vector<double> scaled = (A.at({i, j}) * G_block).values();
      for (std::size_t n = 0; n < 4; ++n) dB_by_blocks[n] += scaled[n];
    }
  std::cout << "G at the output of A ⊗ B:\n" << G4 << "\n";
  show("∂A of A ⊗ B (engine)", kron_grads[0]);
  show("∂B of A ⊗ B (engine)", kron_grads[1]);
  // By hand: ∂A[0, 0] = 0·0 + 1·1 + 4·2 + 5·3 = 24, …; ∂B[0, 0] = 1·0 + 2·2 + 3·8 + 4·10 = 68, …
  t.claim(same(kron_grads[0], tensor({{24, 36}, {72, 84}})) &&
              same(from_vector(dA_by_blocks, {2, 2}), kron_grads[0]),
          "Kronecker: the engine's ∂A[i, j] is Σ (block (i, j) of G) ∘ B = [[24, 36], [72, 84]]");
  t.claim(same(kron_grads[1], tensor({{68, 78}, {108, 118}})) &&
              same(from_vector(dB_by_blocks, {2, 2}), kron_grads[1]),
          "Kronecker: the engine's ∂B is Σᵢⱼ aᵢⱼ·(block (i, j) of G) = [[68, 78], [108, 118]]");

  // Finite differences on random float64 matrices of unequal sizes (gradcheck).
  Generator gen(42);
  const auto random = [&gen](const Shape& shape) { return randn(shape, gen); };
  const Function hadamard_of = [](const std::vector<Tensor>& in) { return in[0] * in[1]; };
  const Function matmul_of = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  const Function kron_of = [](const std::vector<Tensor>& in) { return kron(in[0], in[1]); };
  const GradcheckResult hadamard_check = gradcheck(hadamard_of, {random({2, 3}), random({2, 3})});
  const GradcheckResult broadcast_check = gradcheck(hadamard_of, {random({2, 3}), random({1, 3})});
  const GradcheckResult matmul_check = gradcheck(matmul_of, {random({2, 3}), random({3, 4})});
  const GradcheckResult kron_check = gradcheck(kron_of, {random({2, 3}), random({3, 2})});
  t.claim(hadamard_check.ok, "gradcheck, hadamard [2, 3] ∘ [2, 3]: " + hadamard_check.message);
  t.claim(broadcast_check.ok, "gradcheck, hadamard [2, 3] ∘ [1, 3]: " + broadcast_check.message);
  t.claim(matmul_check.ok, "gradcheck, matmul [2, 3] · [3, 4]: " + matmul_check.message);
  t.claim(kron_check.ok, "gradcheck, kron [2, 3] ⊗ [3, 2]: " + kron_check.message);

  // ────────────────────────────────────────────────────────────────────────────────────
  t.section("5. Where they show up in a network");
  // The 3-4-2 sigmoid network of tutorials 2 and 3:  h = σ(x·W),  ŷ = σ(h·V),
  // C = ½‖ŷ − t‖², with their very weights: a generator of its own seeded 42, W drawn first.
  Generator network_gen(42);
  const Tensor x = tensor({{0.5, -1.0, 2.0}}).name("x");
  const Tensor target = tensor({{1.0, 0.0}}).name("t");
  const Tensor W = randn({3, 4}, network_gen).set_requires_grad().name("W");
  const Tensor V = randn({4, 2}, network_gen).set_requires_grad().name("V");
  const Tensor z = matmul(x, W);  // a dense layer is a matrix product
  const Tensor h = sigmoid(z);
  const Tensor y_hat = sigmoid(matmul(h, V));
  const Tensor C = 0.5 * sum(pow(y_hat - target, 2));
  C.backward();

  // Matrix product: zⱼ = Σᵢ xᵢ·Wᵢⱼ, every input feeding every hidden unit.
  bool dense_by_loops = true;
  for (std::int64_t j = 0; j < 4; ++j) {
    double z_j = 0;
    for (std::int64_t i = 0; i < 3; ++i) z_j += x.at({0, i}) * W.at({i, j});
    dense_by_loops = dense_by_loops && std::abs(z.at({0, j}) - z_j) <= 1e-12;
  }
  t.claim(dense_by_loops, "the dense layer x·W is zⱼ = Σᵢ xᵢ·Wᵢⱼ (explicit loop)");

  // Hadamard in the activation's derivative: σ′(z) = σ(z) ∘ (1 − σ(z)), one factor per unit;
  // checked against central differences of σ itself.
  const Tensor sigma_prime = h * (1.0 - h);
  const auto sigma = [](double value) { return 1 / (1 + std::exp(-value)); };
  bool sigma_prime_matches = true;
  for (std::int64_t j = 0; j < 4; ++j) {
    const double step = 1e-6, z_j = z.at({0, j});
    const double difference = (sigma(z_j + step) - sigma(z_j - step)) / (2 * step);
    sigma_prime_matches =
        sigma_prime_matches && std::abs(sigma_prime.at({0, j}) - difference) <= 1e-8;
  }
  show("σ′(z) = h ∘ (1 − h)", sigma_prime);
  t.claim(sigma_prime_matches, "σ′(z) = σ(z) ∘ (1 − σ(z)), by central differences, unit by unit");

  // Hadamard in backprop: the error signals δ, written by hand.
  //   δ_out = (ŷ − t) ∘ ŷ ∘ (1 − ŷ)          the output layer's
  //   δ     = (δ_out Vᵀ) ∘ h ∘ (1 − h)      the hidden layer's, sent back through V
  const Tensor delta_out = (y_hat - target) * y_hat * (1.0 - y_hat);
  const Tensor delta_hidden = matmul(delta_out, transpose(V)) * h * (1.0 - h);
  show("δ_out", delta_out);
  t.claim(max_abs_diff(delta_out, tensor({{-0.1409, 0.1383}})) <= 5e-5,
          "δ_out = [-0.1409, 0.1383], as in tutorial 3: the same network, the same weights");
  show("δ = (δ_out Vᵀ) ∘ h ∘ (1 − h)", delta_hidden);
  // Outer products: with one example, hᵀ δ_out (4×1 · 1×2) is the outer product of h and δ_out.
  const Tensor dC_dV = outer(reshape(h, {4}), reshape(delta_out, {2}));
  show("∂C/∂V = hᵀ δ_out = outer(h, δ_out)", dC_dV);
  t.claim(max_abs_diff(V.grad(), dC_dV) <= 1e-12 &&
              max_abs_diff(matmul(transpose(h), delta_out), dC_dV) <= 1e-12,
          "the engine's ∂C/∂V is hᵀ δ_out, the outer product of h and δ_out");
  t.claim(max_abs_diff(W.grad(), matmul(transpose(x), delta_hidden)) <= 1e-12,
          "the engine's ∂C/∂W is xᵀ δ with δ = (δ_out Vᵀ) ∘ h ∘ (1 − h)");
  // A batch of examples (one per row) adds one outer product per example:
  //   Hᵀ D = outer(h₁, d₁) + outer(h₂, d₂).
  const Tensor H = tensor({{1, 2}, {3, 4}}), D = tensor({{1, 0, -1}, {2, 1, 0}});
  const Tensor two_outer_products = outer(tensor({1, 2}), tensor({1, 0, -1})) +
                                    outer(tensor({3, 4}), tensor({2, 1, 0}));
  t.claim(same(matmul(transpose(H), D), two_outer_products) &&
              same(two_outer_products, tensor({{7, 3, -1}, {10, 4, -2}})),
          "for a batch of two, Hᵀ D = outer(h₁, d₁) + outer(h₂, d₂) = [[7, 3, -1], [10, 4, -2]]");

  // Hadamard in a convolution: each output pixel is Σ (patch ∘ kernel).
  const Tensor patch = tensor({{1, 1, 0}, {1, 1, 1}, {0, 1, 1}}).name("patch");
  const Tensor kernel = tensor({{1, 0, 1}, {0, 1, 0}, {1, 0, 1}}).name("kernel");
  show("patch ∘ kernel", patch * kernel);
  t.claim(same(patch * kernel, tensor({{1, 0, 0}, {0, 1, 0}, {0, 0, 1}})) &&
              sum(patch * kernel).item() == 3 && conv2d(patch, kernel).item() == 3,
          "one convolution output pixel: Σ (patch ∘ kernel) = 3 = conv2d(patch, kernel)");

  // ────────────────────────────────────────────────────────────────────────────────────
  t.section("6. Kronecker: not a filter, but the Jacobian of a matrix product");
  // A filter slides and sums; the Kronecker product scales the whole kernel by every pixel.
  const Tensor image = ones({5, 5});
  t.claim(kron(image, kernel).shape() == Shape{15, 15} &&
              conv2d(image, kernel).shape() == Shape{3, 3},
          "a 5×5 image with a 3×3 kernel: conv2d gives 3×3, kron gives 15×15");

  // Y = P·M·Q is linear in M, so vec(Y) = J·vec(M) for a matrix J: the Jacobian. It is a
  // Kronecker product. vec stacks a matrix into one column; the textbooks stack the columns
  // (column-major): vec(P·M·Q) = (Qᵀ ⊗ P)·vec(M).
  const Tensor P = tensor({{1, 0, 2}, {1, 3, 1}}).name("P");                     // 2×3
  const Tensor M = tensor({{2, 1}, {0, -1}, {1, 3}}).set_requires_grad().name("M");  // 3×2
  const Tensor Q = tensor({{1, 2}, {0, 1}}).name("Q");                           // 2×2
  const Tensor PMQ = matmul(matmul(P, M), Q);
  show("P·M·Q", PMQ);
  // P·M = [[2 + 0 + 2, 1 + 0 + 6], [2 + 0 + 1, 1 − 3 + 3]] = [[4, 7], [3, 1]],
  // then ·Q = [[4, 4·2 + 7], [3, 3·2 + 1]]
  t.claim(same(PMQ, tensor({{4, 15}, {3, 7}})), "P·M·Q = [[4, 15], [3, 7]], as by hand");
  // Column-major vec: transpose first, so that the rows read are M's columns.
  const auto vec_columns = [](const Tensor& M) { return reshape(transpose(M), {-1, 1}); };
  const Tensor jacobian_columns = kron(transpose(Q), P);  // (2·2)×(2·3)
  show("Qᵀ ⊗ P", jacobian_columns);
  t.claim(same(matmul(jacobian_columns, vec_columns(M)), vec_columns(PMQ)),
          "column-major vec: vec(P·M·Q) = (Qᵀ ⊗ P)·vec(M) = [4, 3, 15, 7]");
  // gradlab stores row-major; stacking the rows swaps the factors: (P ⊗ Qᵀ).
  const auto vec_rows = [](const Tensor& M) { return reshape(M, {-1, 1}); };
  const Tensor jacobian_rows = kron(P, transpose(Q));
  show("P ⊗ Qᵀ", jacobian_rows);
  t.claim(same(matmul(jacobian_rows, vec_rows(M)), vec_rows(PMQ)),
          "row-major vec: vec(P·M·Q) = (P ⊗ Qᵀ)·vec(M) = [4, 15, 3, 7]");

  // The engine's own Jacobian, one row per output entry: backward with G = 1 at that entry
  // and 0 elsewhere gives ∂(P·M·Q)[r]/∂M, which matmul's backward computes as Pᵀ·G·Qᵀ.
  std::vector<double> jacobian_by_backward;
  for (std::int64_t r = 0; r < 4; ++r) {
    Tensor one_hot = zeros({2, 2});
    one_hot.set({r / 2, r % 2}, 1.0);
    const Tensor row = grad({PMQ}, {M}, {.grad_outputs = {one_hot}, .retain_graph = true})[0];
    for (const double value : row.values()) jacobian_by_backward.push_back(value);
  }
  t.claim(same(from_vector(jacobian_by_backward, {4, 6}), jacobian_rows),
          "the engine's Jacobian ∂vec(P·M·Q)/∂vec(M), row by row from backward, is P ⊗ Qᵀ");

  // ────────────────────────────────────────────────────────────────────────────────────
  t.section("7. Two identities of matrix calculus, checked");
  // Each identity in a block of its own, so that A, X and B are the names it uses.
  {
    // ∂tr(AXB)/∂X = AᵀBᵀ. The trace trick: d tr(AXB) = tr(A dX B) = tr(BA dX) (a trace is
    // unchanged by rotating its factors), and tr(M dX) = Σⱼₖ Mₖⱼ dXⱼₖ, so the gradient is
    // Mᵀ = (BA)ᵀ = AᵀBᵀ. Writing M = BA itself is the slip.
    const Tensor A = tensor({{1, 0, 2}, {-1, 3, 1}}).name("A");                       // 2×3
    const Tensor X = tensor({{1, 2, 0, -1}, {0, 1, 3, 2}, {2, -1, 1, 0}}).name("X");  // 3×4
    const Tensor B = tensor({{2, 1}, {0, -1}, {1, 1}, {3, 0}}).name("B");              // 4×2
    const Function trace_of_AXB = [&](const std::vector<Tensor>& in) {
      return trace(matmul(matmul(A, in[0]), B));
    };
    const CheckReport right =
        check_gradient(trace_of_AXB, {X}, {{"X", matmul(transpose(A), transpose(B))}});
    const CheckReport slip = check_gradient(trace_of_AXB, {X}, {{"X", matmul(B, A)}});
    std::cout << "» the claim AᵀBᵀ\n" << right << "» the claim BA\n" << slip;
    t.claim(right.ok(), "check_gradient accepts ∂tr(AXB)/∂X = AᵀBᵀ");
    t.claim(!slip.ok() && says(slip, "the shape of X: [3, 4]") && says(slip, "transposed"),
            "check_gradient refuses BA: the wrong shape, the true gradient transposed");
    t.claim(gradcheck(trace_of_AXB, {X}).ok,
            "gradcheck: the engine's ∂tr(AXB)/∂X agrees with central differences");
  }
  {
    // ∂ log|det X|/∂X = X⁻ᵀ. Jacobi's formula: d det X = det X · tr(X⁻¹ dX), so
    // d log|det X| = d det X / det X = tr(X⁻¹ dX), and by the trace trick the gradient is
    // (X⁻¹)ᵀ. The absolute value lets det X be negative: d log|u|/du = 1/u for either sign.
    const Tensor X = tensor({{2, 1, 0}, {1, 3, 1}, {0, 2, 0}}).name("X");  // not symmetric
    const Function log_abs_det = [](const std::vector<Tensor>& in) {
      return log(abs(det(in[0])));
    };
    show("det X", det(X));
    show("log(det X)", log(det(X)));
    show("X⁻¹", inverse(X));
    const CheckReport right = check_gradient(log_abs_det, {X}, {{"X", transpose(inverse(X))}});
    const CheckReport slip = check_gradient(log_abs_det, {X}, {{"X", inverse(X)}});
    std::cout << "» the claim X⁻ᵀ\n" << right << "» the claim X⁻¹\n" << slip;
    t.claim(std::abs(det(X).item() + 4) <= 1e-12 && std::isnan(log(det(X)).item()) &&
                std::abs(log_abs_det({X}).item() - std::log(4.0)) <= 1e-12,
            "det X = −4 < 0: log(det X) is NaN, log|det X| = log 4 is not");
    t.claim(right.ok(), "check_gradient accepts ∂ log|det X|/∂X = X⁻ᵀ");
    t.claim(!slip.ok() && says(slip, "transposed"),
            "check_gradient refuses X⁻¹: the true gradient transposed");
    // On a symmetric matrix X⁻¹ and X⁻ᵀ are equal, and the slip would go unnoticed.
    const Tensor symmetric = (X + transpose(X)).name("X");
    t.claim(check_gradient(log_abs_det, {symmetric}, {{"X", inverse(symmetric)}}).ok(),
            "on the symmetric X + Xᵀ, X⁻¹ = X⁻ᵀ passes too: check on a matrix that is not");
    t.claim(gradcheck(log_abs_det, {X}).ok,
            "gradcheck: the engine's ∂ log|det X|/∂X agrees with central differences");
  }

  return t.finish();
}
