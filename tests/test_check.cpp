#define BOOST_TEST_MODULE check
#include <boost/test/unit_test.hpp>
#include <gradlab/gradlab.hpp>
#include <sstream>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// The seed network, with its steps named so that they can be claimed:
//   h = σ(x·W),  z = h·V,  y = σ(z),  C = ½‖y − t‖²
// The hand derivation, with Hadamard products:
//   δ_out = ∂C/∂z = (y − t) ∘ y ∘ (1 − y),   ∂C/∂V = hᵀ·δ_out,
//   ∂C/∂h = δ_out·Vᵀ,   δ_hid = ∂C/∂(x·W) = (δ_out·Vᵀ) ∘ h ∘ (1 − h),   ∂C/∂W = xᵀ·δ_hid
struct Seed {
  Tensor x = tensor({{0.5, -1.0, 2.0}}).name("x");
  Tensor t = tensor({{1.0, 0.0}}).name("t");
  Tensor W, V;
  Function network;
  // The forward values and the hand derivation, as plain numbers.
  Tensor h, z, y, delta_out, dV, dh, delta_hid, dW;

  Seed() {
    Generator gen(42);
    W = randn({3, 4}, gen).name("W");
    V = randn({4, 2}, gen).name("V");
    network = [this](const std::vector<Tensor>& p) {
      const Tensor h = sigmoid(matmul(x, p[0])).name("h");
      const Tensor z = matmul(h, p[1]).name("z");
      const Tensor y = sigmoid(z).name("y");
      return 0.5 * sum(pow(y - t, 2));
    };
    h = sigmoid(matmul(x, W));
    z = matmul(h, V);
    y = sigmoid(z);
    delta_out = (y - t) * y * (1.0 - y);
    dV = matmul(transpose(h), delta_out);
    dh = matmul(delta_out, transpose(V));
    delta_hid = dh * h * (1.0 - h);
    dW = matmul(transpose(x), delta_hid);
  }

  CheckReport check(const std::map<std::string, Tensor>& claims) const {
    return check_gradient(network, {W, V}, claims);
  }
};

const ClaimReport& claim(const CheckReport& r, const std::string& name) {
  for (const ClaimReport& c : r.claims)
    if (c.name == name) return c;
  BOOST_FAIL("no claim named " << name);
  throw;
}

// Some diagnosis of the claim contains `text`.
bool diagnosed(const ClaimReport& c, const std::string& text) {
  for (const std::string& d : c.diagnoses)
    if (d.find(text) != std::string::npos) return true;
  return false;
}

Verdict claim_verdict(const CheckReport& r) { return r.claims.at(0).verdict; }

double norm_inf_of(const Tensor& t) {
  double m = 0;
  for (const double v : t.values()) m = std::max(m, std::abs(v));
  return m;
}

std::string printed(const CheckReport& r) {
  std::ostringstream s;
  s << r;
  return s.str();
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_hand_derivation_of_the_seed_network_matches) {
  const Seed s;
  const CheckReport r = s.check({{"W", s.dW}, {"V", s.dV}, {"z", s.delta_out}, {"h", s.dh}});
  BOOST_TEST(r.ok(), printed(r));
  BOOST_TEST(r.first_wrong_step.empty());
  BOOST_TEST_REQUIRE(r.claims.size() == 4u);
  // In the order backward reaches them: z, then V and h (matmul's inputs), then W.
  BOOST_TEST(r.claims[0].name == "z");
  BOOST_TEST(r.claims[1].name == "V");
  BOOST_TEST(r.claims[2].name == "h");
  BOOST_TEST(r.claims[3].name == "W");
  for (const ClaimReport& c : r.claims) {
    BOOST_TEST((c.verdict == Verdict::match), c.name);
    BOOST_TEST(c.max_abs_error <= 1e-12);
    BOOST_TEST(c.diagnoses.empty());
  }
  BOOST_TEST(r.warnings.empty());
}

// The source material's ∂C/∂V is (ŷ − y) ∘ σ′: an elementwise product, without hᵀ.
BOOST_AUTO_TEST_CASE(dV_without_the_outer_product_with_h) {
  const Seed s;
  const CheckReport r = s.check({{"V", s.delta_out}});
  const ClaimReport& v = claim(r, "V");
  BOOST_TEST((v.verdict == Verdict::wrong));
  BOOST_TEST(r.first_wrong_step == "V");
  BOOST_TEST(to_string(v.claimed_shape) == "[1, 2]");
  BOOST_TEST(to_string(v.true_shape) == "[4, 2]");
  BOOST_TEST(diagnosed(v, "the true gradient is hᵀ · (your claim)"), printed(r));
  BOOST_TEST(diagnosed(v, "product with h is missing"));
}

BOOST_AUTO_TEST_CASE(dV_without_the_sigmoid_derivative) {
  const Seed s;
  const CheckReport r = s.check({{"V", matmul(transpose(s.h), s.y - s.t)}});
  const ClaimReport& v = claim(r, "V");
  BOOST_TEST((v.verdict == Verdict::wrong));
  // Named: the node, and the formula its op declares.
  BOOST_TEST(diagnosed(v, "lacks the factor the local derivative of the sigmoid node y"), printed(r));
  BOOST_TEST(diagnosed(v, "σ(x) ∘ (1 − σ(x))"));
  BOOST_TEST(v.worst_index.size() == 2u);
  BOOST_TEST(v.max_abs_error > 0.01);
}

// 1/(1 + e^(+z)) written for σ(z) in one factor: y ∘ (1 − σ(−z)) = y ∘ y.
BOOST_AUTO_TEST_CASE(dV_with_the_sign_inside_exp_flipped) {
  const Seed s;
  const Tensor flipped = 1.0 / (1.0 + exp(s.z));
  const CheckReport r =
      s.check({{"V", matmul(transpose(s.h), (s.y - s.t) * s.y * (1.0 - flipped))}});
  const ClaimReport& v = claim(r, "V");
  BOOST_TEST((v.verdict == Verdict::wrong));
  // y ∘ y = y ∘ (1 − y) ∘ e^z: one factor e^z too many (or, read the other way, e^(−z) too few).
  BOOST_TEST(diagnosed(v, "it has an extra factor e^(z)"), printed(r));
  BOOST_TEST(diagnosed(v, "sign flipped inside an exp"));
}

// Flipped in both factors, as in the source: σ(−z) ∘ (1 − σ(−z)) = σ(z) ∘ (1 − σ(z)), so
// the slip happens to cancel, and the checker says so.
BOOST_AUTO_TEST_CASE(the_sign_flipped_in_both_factors_cancels) {
  const Seed s;
  const Tensor flipped = 1.0 / (1.0 + exp(s.z));
  const CheckReport r =
      s.check({{"V", matmul(transpose(s.h), (s.y - s.t) * flipped * (1.0 - flipped))}});
  BOOST_TEST(r.ok(), printed(r));
}

BOOST_AUTO_TEST_CASE(constant_factors_and_transposes) {
  const Seed s;
  const CheckReport r = s.check({{"V", -s.dV}, {"W", transpose(s.dW)}, {"z", 2.0 * s.delta_out},
                                 {"h", 0.5 * s.dh}});
  BOOST_TEST(diagnosed(claim(r, "V"), "sign is flipped"), printed(r));
  BOOST_TEST(diagnosed(claim(r, "W"), "transposed"));
  BOOST_TEST(diagnosed(claim(r, "z"), "2 times the true gradient"));
  BOOST_TEST(diagnosed(claim(r, "h"), "0.5 times the true gradient"));
  BOOST_TEST(r.first_wrong_step == "z");
}

BOOST_AUTO_TEST_CASE(a_square_gradient_transposed) {
  Generator gen(3);
  const Tensor A = randn({3, 3}, gen).name("A"), B = randn({3, 3}, gen), C = randn({3, 3}, gen);
  const Function f = [&](const std::vector<Tensor>& p) { return sum(matmul(p[0], B) * C); };
  const Tensor truth = matmul(C, transpose(B));  // ∂/∂A Σ (A·B) ∘ C = C·Bᵀ
  BOOST_TEST(check_gradient(f, {A}, {{"A", truth}}).ok());
  const CheckReport r = check_gradient(f, {A}, {{"A", transpose(truth)}});
  BOOST_TEST(diagnosed(claim(r, "A"), "equals the true gradient transposed"), printed(r));
}

// b [1×4] is added to every row of x·W [5×4]: its gradient sums over the rows.
BOOST_AUTO_TEST_CASE(a_missing_broadcast_reduction) {
  Generator gen(5);
  const Tensor x = randn({5, 3}, gen), W = randn({3, 4}, gen).name("W");
  const Tensor b = randn({1, 4}, gen).name("b");
  const Function f = [&](const std::vector<Tensor>& p) {
    return sum(sigmoid(matmul(x, p[0]) + p[1]));
  };
  const Tensor s = sigmoid(matmul(x, W) + b);
  const Tensor per_row = s * (1.0 - s);  // [5, 4]: one row per example, not yet summed
  const CheckReport r = check_gradient(f, {W, b}, {{"b", per_row}});
  BOOST_TEST(diagnosed(claim(r, "b"), "summing it over axis 0 gives the true gradient"), printed(r));
  BOOST_TEST(check_gradient(f, {W, b}, {{"b", sum(per_row, 0, true)}}).ok());
}

BOOST_AUTO_TEST_CASE(the_gradient_of_another_variable) {
  const Tensor a = tensor({{1.0, 2.0}, {3.0, 4.0}}).name("a");
  const Tensor b = tensor({{0.5, -1.0}, {2.0, 1.5}}).name("b");
  const Function f = [](const std::vector<Tensor>& p) { return sum(p[0] * p[1] * p[1]); };
  // ∂/∂a = b², ∂/∂b = 2ab: claiming 2ab for a.
  const CheckReport r = check_gradient(f, {a, b}, {{"a", 2.0 * a * b}});
  BOOST_TEST(diagnosed(claim(r, "a"), "it is the gradient with respect to b, not a"), printed(r));
}

// Claims on the steps of the derivation: the first one that disagrees, in backward order,
// while every claim nearer the output agrees, is where the derivation went wrong.
BOOST_AUTO_TEST_CASE(the_first_wrong_step) {
  const Seed s;
  // δ_out and ∂C/∂h right, then h's σ′ forgotten on the way to W: W is the first wrong step.
  CheckReport r = s.check({{"z", s.delta_out}, {"h", s.dh}, {"W", matmul(transpose(s.x), s.dh)}});
  BOOST_TEST(r.first_wrong_step == "W", printed(r));
  BOOST_TEST(diagnosed(claim(r, "W"), "sigmoid node h"));
  // σ′ forgotten at the output: z is wrong, and so is everything derived from it.
  const Tensor bad = s.y - s.t;
  r = s.check({{"z", bad}, {"V", matmul(transpose(s.h), bad)}, {"h", matmul(bad, transpose(s.V))}});
  BOOST_TEST(r.first_wrong_step == "z", printed(r));
  for (const ClaimReport& c : r.claims) BOOST_TEST((c.verdict == Verdict::wrong), c.name);
  BOOST_TEST(printed(r).find("the first wrong step is z") != std::string::npos);
}

// relu at 0 has a left derivative 0 and a right derivative 1; any claim in [0, 1] is fine.
BOOST_AUTO_TEST_CASE(a_kink_is_not_differentiable_rather_than_wrong) {
  const Function f = [](const std::vector<Tensor>& p) { return sum(relu(p[0])); };
  const Tensor a = tensor({0.0, 1.0, -1.0}).name("a");
  CheckReport r = check_gradient(f, {a}, {{"a", tensor({0.5, 1.0, 0.0})}});
  BOOST_TEST(r.ok(), printed(r));
  const ClaimReport& c = claim(r, "a");
  BOOST_TEST((c.verdict == Verdict::not_differentiable));
  BOOST_TEST(diagnosed(c, "not differentiable at a[0]: left derivative 0, right derivative 1"),
             printed(r));
  // Outside [0, 1] it is wrong; the engine's own choice (0) matches outright.
  BOOST_TEST(!check_gradient(f, {a}, {{"a", tensor({2.0, 1.0, 0.0})}}).ok());
  BOOST_TEST(check_gradient(f, {a}, {{"a", tensor({0.0, 1.0, 0.0})}}).ok());
  // A wrong element at a smooth point is wrong even next to a kink.
  BOOST_TEST(!check_gradient(f, {a}, {{"a", tensor({0.5, 3.0, 0.0})}}).ok());
}

// Two equal maxima in a pooling window: the gradient may go to either.
BOOST_AUTO_TEST_CASE(a_tie_in_max_pooling) {
  const Function f = [](const std::vector<Tensor>& p) { return sum(max_pool2d(p[0], {2, 2})); };
  const Tensor x = tensor({{1.0, 3.0}, {3.0, 0.0}}).name("x");
  const CheckReport r = check_gradient(f, {x}, {{"x", tensor({{0.0, 0.5}, {0.5, 0.0}})}});
  BOOST_TEST(r.ok(), printed(r));
  BOOST_TEST((claim(r, "x").verdict == Verdict::not_differentiable));
}

BOOST_AUTO_TEST_CASE(float32_inputs_get_a_warning) {
  Seed s;
  s.W = to(s.W, DType::float32).name("W");
  const CheckReport r = s.check({{"V", s.dV}});
  BOOST_TEST(r.ok(), printed(r));
  BOOST_TEST_REQUIRE(r.warnings.size() == 1u);
  BOOST_TEST(r.warnings[0].find("W is float32") != std::string::npos);
  BOOST_TEST(printed(r).find("warning: input W is float32") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(works_inside_no_grad) {
  const Seed s;
  no_grad plain;
  BOOST_TEST(s.check({{"V", s.dV}}).ok());
}

BOOST_AUTO_TEST_CASE(bad_input) {
  const Seed s;
  BOOST_CHECK_EXCEPTION(s.check({{"q", s.dV}}), ValueError, says("no value named 'q'"));
  BOOST_CHECK_EXCEPTION(s.check({{"q", s.dV}}), ValueError, says("V, W, h, y, z"));
  BOOST_CHECK_EXCEPTION(s.check({}), ValueError, says("no claims"));
  BOOST_CHECK_EXCEPTION(s.check({{"t", s.dV}}), ValueError, says("no value named 't'"));
  const Function vector_valued = [](const std::vector<Tensor>& p) { return sigmoid(p[0]); };
  BOOST_CHECK_EXCEPTION(check_gradient(vector_valued, {s.W}, {{"W", s.dW}}), ShapeError,
                        says("one number"));
}

BOOST_AUTO_TEST_CASE(the_diagram_of_a_check_colours_each_claim) {
  const Seed s;
  const CheckReport r = s.check({{"z", s.delta_out}, {"V", matmul(transpose(s.h), s.y - s.t)}});
  const std::string dot = check_diagram(r);
  BOOST_TEST(dot.find("the first wrong step is V") != std::string::npos);
  // The claimed z agrees (green), the claimed V disagrees (red).
  const auto box_of = [&](const std::string& text) {
    const std::size_t at = dot.find(text);
    BOOST_TEST_REQUIRE(at != std::string::npos);
    const std::size_t start = dot.rfind('\n', at);
    return dot.substr(start, dot.find('\n', at) - start);
  };
  BOOST_TEST(box_of("<b>z</b>").find("#c8ecc4") != std::string::npos);
  // V is the first wrong step: its own red and a heavy border, its verdict and diagnosis
  // written under its name; the sigmoid node y, whose local derivative it lacks, is dashed.
  const std::string v = box_of("<b>V</b>");
  BOOST_TEST(v.find("#f08080") != std::string::npos, v);
  BOOST_TEST(v.find("penwidth=3") != std::string::npos, v);
  BOOST_TEST(v.find("first wrong step") != std::string::npos, v);
  BOOST_TEST(v.find("local derivative of the sigmoid") != std::string::npos, v);
  const std::string y = box_of("<b>y</b>");
  BOOST_TEST(y.find("dashed") != std::string::npos, y);
  BOOST_TEST(y.find("the slip in V is here") != std::string::npos, y);
}

// A later wrong claim is a lighter red than the first wrong step.
BOOST_AUTO_TEST_CASE(the_first_wrong_step_is_drawn_apart_from_later_wrong_ones) {
  const Seed s;
  const CheckReport r = s.check({{"z", s.delta_out * 2.0}, {"V", s.dV * 2.0}});
  BOOST_TEST(r.first_wrong_step == "z");
  const std::string dot = check_diagram(r);
  const auto line_of = [&](const std::string& text) {
    const std::size_t at = dot.find(text);
    BOOST_TEST_REQUIRE(at != std::string::npos);
    return dot.substr(dot.rfind('\n', at), dot.find('\n', at) - dot.rfind('\n', at));
  };
  BOOST_TEST(line_of("<b>z</b>").find("#f08080") != std::string::npos);
  BOOST_TEST(line_of("<b>V</b>").find("#f6c8c8") != std::string::npos);
  BOOST_TEST(line_of("<b>V</b>").find("penwidth=3") == std::string::npos);
}

// Note [Verdicts]: judged relative to the size of the true gradient, however small.
BOOST_AUTO_TEST_CASE(a_tiny_gradient_is_judged_as_strictly_as_a_large_one) {
  const Function f = [](const std::vector<Tensor>& p) { return sum(5e-7 * p[0]); };
  const Tensor x = tensor({1.0, 2.0}).name("x");
  const auto verdict = [&](const Tensor& claim) { return claim_verdict(check_gradient(f, {x}, {{"x", claim}})); };
  BOOST_TEST((verdict(tensor({0.0, 0.0})) == Verdict::wrong));
  BOOST_TEST((verdict(tensor({2.5e-7, 2.5e-7})) == Verdict::wrong));
  BOOST_TEST((verdict(tensor({5e-7, 5e-7})) == Verdict::match));
  BOOST_TEST((verdict(tensor({5e-7 * (1 + 1e-7), 5e-7})) == Verdict::match));
  const CheckReport zero = check_gradient(f, {x}, {{"x", tensor({0.0, 0.0})}});
  BOOST_TEST(diagnosed(claim(zero, "x"), "it is zero, but the true gradient is not"), printed(zero));
  // The same claims scaled up by 10¹² get the same verdicts.
  const Function g = [](const std::vector<Tensor>& p) { return sum(5e5 * p[0]); };
  BOOST_TEST((claim_verdict(check_gradient(g, {x}, {{"x", tensor({2.5e5, 2.5e5})}})) == Verdict::wrong));
  BOOST_TEST((claim_verdict(check_gradient(g, {x}, {{"x", tensor({5e5, 5e5})}})) == Verdict::match));
}

// Note [Rounding floor]: a gradient that is zero by cancellation is zero to the checker,
// however the engine's rounding left it. ∂ sum(A·x)/∂x = 0.1 + 0.2 − 0.3 comes out as 5.6e-17.
BOOST_AUTO_TEST_CASE(a_gradient_zero_by_cancellation_is_zero) {
  const Tensor A = tensor({{0.1}, {0.2}, {-0.3}});
  const Function f = [&](const std::vector<Tensor>& p) { return sum(matmul(A, p[0])); };
  for (const Tensor& x : {tensor({{1.0}}).name("x"), tensor({1.0}).name("x")}) {
    const CheckReport r = check_gradient(f, {x}, {{"x", x * 0.0}});
    BOOST_TEST(claim(r, "x").truth.values()[0] != 0.0);  // the engine's noise is there
    BOOST_TEST(r.ok(), printed(r));
    // Its floor is ~10⁻¹³ of the terms (0.1, 0.2, 0.3), not of what they sum to.
    BOOST_TEST(claim(r, "x").atol > 1e-14);
    BOOST_TEST(claim(r, "x").atol < 1e-12);
    // So a claim off by 10⁻¹⁰ is still wrong.
    const CheckReport off = check_gradient(f, {x}, {{"x", x * 0.0 + 1e-10}});
    BOOST_TEST(!off.ok());
    // Not "1.8e6 times the true gradient": that is noise.
    BOOST_TEST(diagnosed(claim(off, "x"), "the true gradient is zero: its terms cancel"), printed(off));
  }
}

// The same in a node too large for its Jacobian to be taken row by row (2048 rows: the
// random-sign estimate of Note [Rounding floor]): a, then −a backwards.
BOOST_AUTO_TEST_CASE(a_gradient_zero_by_cancellation_in_a_large_node_is_zero) {
  std::vector<double> a(2048);
  for (std::size_t i = 0; i < 1024; ++i) {
    a[i] = 0.001 * double((i * 37) % 1999) - 1.0;
    a[2047 - i] = -a[i];
  }
  const Tensor A = from_vector(a, {2048, 1});
  const Function f = [&](const std::vector<Tensor>& p) { return sum(matmul(A, p[0])); };
  const Tensor x = tensor({{1.0}}).name("x");
  const CheckReport r = check_gradient(f, {x}, {{"x", zeros({1, 1})}});
  BOOST_TEST(claim(r, "x").truth.values()[0] != 0.0);
  BOOST_TEST(r.ok(), printed(r));
  BOOST_TEST(claim(r, "x").atol < 1e-10);  // ~10⁻¹³ of √Σaᵢ² ≈ 26
  BOOST_TEST(!check_gradient(f, {x}, {{"x", full({1, 1}, 1e-9)}}).ok());
}

// Terms of ~1 that sum to 10⁻⁸: the floor (~10⁻¹³) swallows neither a slip of 10⁻¹⁰ nor a
// factor 2 nor a claim of zero; the right claim, added up in another order, matches.
BOOST_AUTO_TEST_CASE(a_tiny_gradient_made_of_large_terms_is_judged_strictly) {
  const double a = -3.0 + 1e-8;
  const Tensor A = tensor({{1.0}, {2.0}, {a}});
  const Function f = [&](const std::vector<Tensor>& p) { return sum(matmul(A, p[0])); };
  const Tensor x = tensor({0.7}).name("x");
  const double right = a + 2.0 + 1.0;
  const auto verdict = [&](double claimed) {
    return claim_verdict(check_gradient(f, {x}, {{"x", tensor({claimed})}}));
  };
  BOOST_TEST((verdict(right) == Verdict::match));
  BOOST_TEST((verdict(right + 1e-10) == Verdict::wrong));
  BOOST_TEST((verdict(2 * right) == Verdict::wrong));
  BOOST_TEST((verdict(0.0) == Verdict::wrong));
  const CheckReport doubled = check_gradient(f, {x}, {{"x", tensor({2 * right})}});
  BOOST_TEST(diagnosed(claim(doubled, "x"), "2 times the true gradient"), printed(doubled));
}

// ∂ det(AXB)/∂X = det(A) det(B) · cof(X) = 0 when A is singular; the engine's is Aᵀ cof(AXB) Bᵀ,
// which cancels to ~10⁻¹⁵.
BOOST_AUTO_TEST_CASE(det_AXB_with_a_singular_A_has_a_zero_gradient) {
  const Tensor A = tensor({{0.3, 0.7, 1.1}, {0.2, 0.9, -0.4}, {0.5, 1.6, 0.7}});  // row 3 = row 1 + row 2
  const Tensor B = tensor({{0.7, 0.2, 1.0}, {0.1, 0.9, -0.4}, {2.0, 0.3, 0.5}});
  const Tensor X = tensor({{1.0, 2.0, 0.5}, {0.3, -1.0, 2.0}, {1.0, 1.0, 1.0}}).name("X");
  const Function f = [&](const std::vector<Tensor>& p) { return det(matmul(matmul(A, p[0]), B)); };
  const CheckReport zero = check_gradient(f, {X}, {{"X", zeros({3, 3})}});
  BOOST_TEST(norm_inf_of(claim(zero, "X").truth) > 0.0);
  BOOST_TEST(zero.ok(), printed(zero));
  // det(X)'s gradient, as if A and B were not there, is wrong.
  const Tensor cofactors = det(X) * transpose(inverse(X));
  BOOST_TEST(!check_gradient(f, {X}, {{"X", cofactors}}).ok());
  BOOST_TEST(!check_gradient(f, {X}, {{"X", full({3, 3}, 1e-9)}}).ok());
}

// A mini-batch mean with everything scaled by 10⁻¹²: the right claim matches, the 2 of the
// square forgotten is named.
BOOST_AUTO_TEST_CASE(a_scaled_down_mini_batch_mean_is_judged_as_at_scale_one) {
  Generator gen(11);
  const Tensor X = randn({16, 3}, gen) * 1e-6, y = randn({16, 1}, gen) * 1e-6;
  const Tensor w = (randn({3, 1}, gen) * 1e-6).name("w");
  const Function f = [&](const std::vector<Tensor>& p) { return mean(pow(matmul(X, p[0]) - y, 2)); };
  const Tensor right = matmul(transpose(X), matmul(X, w) - y) * (2.0 / 16);
  BOOST_TEST(norm_inf_of(right) < 1e-11);
  const CheckReport ok = check_gradient(f, {w}, {{"w", right}});
  BOOST_TEST(ok.ok(), printed(ok));
  const CheckReport half = check_gradient(f, {w}, {{"w", right * 0.5}});
  BOOST_TEST(!half.ok());
  BOOST_TEST(diagnosed(claim(half, "w"), "0.5 times the true gradient"), printed(half));
  BOOST_TEST(diagnosed(claim(half, "w"), "the 2 of the power"), printed(half));
}

// A user's atol can loosen the check, but never make zeros match a gradient that is not zero.
BOOST_AUTO_TEST_CASE(the_tolerance_is_the_users_and_is_reported) {
  const Function f = [](const std::vector<Tensor>& p) { return sum(5e-7 * p[0]); };
  const Tensor x = tensor({1.0, 2.0}).name("x");
  const CheckReport loose = check_gradient(f, {x}, {{"x", tensor({4e-7, 5e-7})}}, {.rtol = 0.5});
  BOOST_TEST(loose.ok(), printed(loose));
  BOOST_TEST(claim(loose, "x").rtol == 0.5);
  BOOST_TEST(claim(loose, "x").tolerance == 0.5 * 5e-7 + claim(loose, "x").atol, printed(loose));
  BOOST_TEST(printed(loose).find("tolerance") != std::string::npos);
  const CheckReport zeros = check_gradient(f, {x}, {{"x", tensor({0.0, 0.0})}}, {.atol = 1.0});
  BOOST_TEST(!zeros.ok(), printed(zeros));
  // A claim in float32 is held to float32_rtol (its own rounding is about 6e-8).
  const Tensor single = to(tensor({5e-7 * (1 + 3e-6), 5e-7}), DType::float32);
  BOOST_TEST(check_gradient(f, {x}, {{"x", single}}).ok());
  BOOST_TEST(!check_gradient(f, {x}, {{"x", to(single, DType::float64)}}, {.rtol = 1e-6}).ok());
}

// A 2-layer tanh network, MSE over a batch of 4: ∂W1 claimed alone, without tanh′.
BOOST_AUTO_TEST_CASE(a_missing_local_derivative_is_found_in_a_batch_without_the_steps) {
  Generator gen(7);
  const Tensor X = randn({4, 3}, gen), Y = randn({4, 2}, gen);
  const Tensor W1 = randn({3, 5}, gen).name("W1"), W2 = randn({5, 2}, gen).name("W2");
  const Function net = [&](const std::vector<Tensor>& p) {
    const Tensor h = tanh(matmul(X, p[0])).name("h");
    return mse_loss(matmul(h, p[1]), Y);
  };
  const Tensor h = tanh(matmul(X, W1));
  const Tensor dout = 2.0 * (matmul(h, W2) - Y) / 8.0;
  const Tensor right = matmul(transpose(X), matmul(dout, transpose(W2)) * (1.0 - h * h));
  const Tensor slip = matmul(transpose(X), matmul(dout, transpose(W2)));
  const Tensor sigma = matmul(transpose(X), matmul(dout, transpose(W2)) * h * (1.0 - h));
  BOOST_TEST(check_gradient(net, {W1, W2}, {{"W1", right}}).ok());
  const CheckReport r = check_gradient(net, {W1, W2}, {{"W1", slip}});
  BOOST_TEST(diagnosed(claim(r, "W1"), "lacks the factor the local derivative of the tanh node h"), printed(r));
  BOOST_TEST(claim(r, "W1").explained);
  const CheckReport s = check_gradient(net, {W1, W2}, {{"W1", sigma}});
  BOOST_TEST(diagnosed(claim(s, "W1"), "h ∘ (1 − h)"), printed(s));
  BOOST_TEST(diagnosed(claim(s, "W1"), "σ′ in terms of σ in place of tanh′"), printed(s));
}

// With a seed (the upstream gradient dout), the local derivative alone is named as such.
BOOST_AUTO_TEST_CASE(the_upstream_gradient_left_out) {
  const Tensor dout = tensor({{0.5, -2.0}, {1.5, 0.25}});
  const Tensor x = tensor({{0.3, -0.7}, {1.1, 0.2}}).name("x");
  const Function f = [](const std::vector<Tensor>& p) { return tanh(p[0]); };
  const Tensor local = 1.0 - tanh(x) * tanh(x);
  const CheckReport r = check_gradient(f, {x}, {{"x", local}}, {.seed = dout});
  BOOST_TEST(diagnosed(claim(r, "x"), "lacks the upstream gradient"), printed(r));
  BOOST_TEST(check_gradient(f, {x}, {{"x", dout * local}}, {.seed = dout}).ok());
  BOOST_CHECK_EXCEPTION(check_gradient(f, {x}, {{"x", local}}, {.seed = tensor({1.0})}), ShapeError,
                        says("the seed (the upstream gradient) is [1]"));
}

// softmax differentiated as if elementwise: s ∘ (1 − s) ∘ G.
BOOST_AUTO_TEST_CASE(softmax_taken_elementwise) {
  const Tensor z = tensor({{0.2, -1.0, 0.5}, {1.0, 0.3, -0.4}}).name("z");
  const Tensor w = tensor({{1.0, 2.0, -1.0}, {0.5, -0.5, 3.0}});
  const Function f = [&](const std::vector<Tensor>& p) { return sum(softmax(p[0]) * w); };
  const Tensor s = softmax(z);
  const CheckReport r = check_gradient(f, {z}, {{"z", w * s * (1.0 - s)}});
  BOOST_TEST(diagnosed(claim(r, "z"), "as if it were elementwise"), printed(r));
  BOOST_TEST(diagnosed(claim(r, "z"), "softmax node"), printed(r));
}

// The input gradient of a convolution computed with the kernel unflipped.
BOOST_AUTO_TEST_CASE(a_correlation_kernel_not_flipped) {
  Generator gen(3);
  const Tensor image = randn({1, 1, 5, 5}, gen).name("image");
  const Tensor kernel = randn({1, 1, 3, 3}, gen);
  const Tensor g = randn({1, 1, 3, 3}, gen);
  const Function f = [&](const std::vector<Tensor>& p) { return sum(conv2d(p[0], kernel) * g); };
  const Tensor unflipped = conv_transpose2d(g, flip(flip(kernel, -1), -2));
  const CheckReport r = check_gradient(f, {image}, {{"image", unflipped}});
  BOOST_TEST(diagnosed(claim(r, "image"), "is not flipped"), printed(r));
  BOOST_TEST(check_gradient(f, {image}, {{"image", conv_transpose2d(g, kernel)}}).ok());
}

// Pooling: average pooling's gradient claimed for max pooling, and the other way round.
BOOST_AUTO_TEST_CASE(max_and_average_pooling_gradients_swapped) {
  const Tensor x = tensor({{{{1.0, 5.0, 2.0, 0.0}, {3.0, 4.0, 7.0, 1.0}}}}).name("x");  // [1, 1, 2, 4]
  const Tensor g = tensor({{{{2.0, -1.0}}}});
  const Function max_pool = [&](const std::vector<Tensor>& p) { return sum(max_pool2d(p[0], {2, 2}) * g); };
  const Function avg_pool = [&](const std::vector<Tensor>& p) { return sum(avg_pool2d(p[0], {2, 2}) * g); };
  const Tensor spread = tensor({{{{0.5, 0.5, -0.25, -0.25}, {0.5, 0.5, -0.25, -0.25}}}});
  const Tensor routed = tensor({{{{0.0, 2.0, 0.0, 0.0}, {0.0, 0.0, -1.0, 0.0}}}});
  BOOST_TEST(check_gradient(max_pool, {x}, {{"x", routed}}).ok());
  BOOST_TEST(check_gradient(avg_pool, {x}, {{"x", spread}}).ok());
  const CheckReport a = check_gradient(max_pool, {x}, {{"x", spread}});
  BOOST_TEST(diagnosed(claim(a, "x"), "average pooling's gradient"), printed(a));
  const CheckReport m = check_gradient(avg_pool, {x}, {{"x", routed}});
  BOOST_TEST(diagnosed(claim(m, "x"), "max pooling's rule"), printed(m));
}

// A constant factor named by where it is in the graph: a mean's 1/N, a power's 2.
BOOST_AUTO_TEST_CASE(a_factor_is_named_by_the_constant_it_is) {
  const Tensor w = tensor({{0.5}, {-1.0}}).name("w");
  const Tensor X = tensor({{1.0, 2.0}, {0.5, -1.0}, {2.0, 0.0}});
  const Tensor y = tensor({{1.0}, {0.0}, {2.0}});
  const Function f = [&](const std::vector<Tensor>& p) { return mean(pow(matmul(X, p[0]) - y, 2)); };
  const Tensor right = 2.0 * matmul(transpose(X), matmul(X, w) - y) / 3.0;
  const CheckReport no_mean = check_gradient(f, {w}, {{"w", right * 3.0}});
  BOOST_TEST(diagnosed(claim(no_mean, "w"), "3 times the true gradient: the 1/3 of the mean"), printed(no_mean));
  const CheckReport no_two = check_gradient(f, {w}, {{"w", right * 0.5}});
  BOOST_TEST(diagnosed(claim(no_two, "w"), "the 2 of the power"), printed(no_two));
  BOOST_TEST(diagnosed(claim(no_two, "w"), "is missing"), printed(no_two));
}

// A sum over the wrong axis for a broadcast bias, and a per-example gradient for a 0-d one.
BOOST_AUTO_TEST_CASE(reductions_over_the_wrong_axes) {
  const Tensor X = tensor({{1.0, 2.0, 0.5}, {0.5, -1.0, 1.0}});
  const Tensor b = tensor({0.1, -0.2, 0.3}).name("b");
  const Tensor c = scalar(0.7).name("c");
  const Tensor g = tensor({{1.0, -2.0, 0.5}, {3.0, 0.25, -1.0}});
  const Function f = [&](const std::vector<Tensor>& p) { return sum((X + p[0] + p[1]) * g); };
  const CheckReport axis = check_gradient(f, {b, c}, {{"b", sum(g, 1)}});
  BOOST_TEST(!axis.ok());
  const CheckReport full = check_gradient(f, {b, c}, {{"c", g}});
  BOOST_TEST(diagnosed(claim(full, "c"), "summing it over axis 0 and 1 gives the true gradient"), printed(full));
  BOOST_TEST(check_gradient(f, {b, c}, {{"b", sum(g, 0)}, {"c", sum(g)}}).ok());
  const Tensor square = tensor({{1.0, -2.0}, {3.0, 0.5}});
  const Tensor b2 = tensor({0.1, -0.2}).name("b");
  const Function f2 = [&](const std::vector<Tensor>& p) { return sum((square + p[0]) * square); };
  const CheckReport wrong_axis = check_gradient(f2, {b2}, {{"b", sum(square, 1)}});
  BOOST_TEST(diagnosed(claim(wrong_axis, "b"), "sums over axis 1"), printed(wrong_axis));
}

// A term of a sum left out, doubled, and the two terms of xᵀBx taken as one.
BOOST_AUTO_TEST_CASE(terms_left_out_or_doubled) {
  const Tensor W = tensor({{0.5, -1.0}, {2.0, 0.25}}).name("W");
  const Tensor X = tensor({{1.0, 2.0}, {0.5, -1.0}, {2.0, 0.0}});
  const Tensor Y = tensor({{1.0, 0.0}, {0.0, 1.0}, {2.0, -1.0}});
  const double lam = 0.3;
  const Function f = [&](const std::vector<Tensor>& p) {
    return mse_loss(matmul(X, p[0]), Y) + lam * sum(pow(p[0], 2));
  };
  const Tensor data = 2.0 * matmul(transpose(X), matmul(X, W) - Y) / 6.0;
  const Tensor penalty = 2.0 * lam * W;
  BOOST_TEST(check_gradient(f, {W}, {{"W", data + penalty}}).ok());
  const CheckReport lacks = check_gradient(f, {W}, {{"W", data}});
  BOOST_TEST(diagnosed(claim(lacks, "W"), "lacks the term"), printed(lacks));
  BOOST_TEST(diagnosed(claim(lacks, "W"), "regularisation"), printed(lacks));
  const CheckReport twice = check_gradient(f, {W}, {{"W", data + 2.0 * penalty}});
  BOOST_TEST(diagnosed(claim(twice, "W"), "counts twice"), printed(twice));

  const Tensor B = tensor({{1.0, 2.0}, {0.0, 3.0}}).name("B");
  const Tensor x = tensor({{0.5}, {-1.5}}).name("x");
  const Function q = [&](const std::vector<Tensor>& p) { return matmul(matmul(transpose(p[0]), B), p[0]); };
  const CheckReport sym = check_gradient(q, {x}, {{"x", 2.0 * matmul(B, x)}});
  BOOST_TEST(diagnosed(claim(sym, "x"), "symmetric"), printed(sym));
}

// Two terms taken as one because a matrix was taken as symmetric: the right matrix named.
BOOST_AUTO_TEST_CASE(the_matrix_taken_as_symmetric_is_the_one_that_makes_the_terms_one) {
  // tr(XᵀAX) with X itself square: its terms AX and AᵀX are one when A = Aᵀ, not when X is,
  // so the story names A. For sum(X·X), with no other matrix, it is X's own symmetry.
  const Tensor A = tensor({{1.0, 0.0, 2.0}, {-1.0, 3.0, 1.0}, {0.0, 1.0, 1.0}}).name("A");
  const Tensor X = tensor({{2.0, 1.0, 0.0}, {1.0, 3.0, 1.0}, {0.0, 2.0, 1.0}}).name("X");
  const Function trace_form = [&](const std::vector<Tensor>& p) {
    return trace(matmul(matmul(transpose(p[0]), A), p[0]));
  };
  BOOST_TEST(check_gradient(trace_form, {X}, {{"X", matmul(A + transpose(A), X)}}).ok());
  const CheckReport twice_AX = check_gradient(trace_form, {X}, {{"X", 2.0 * matmul(A, X)}});
  BOOST_TEST(diagnosed(claim(twice_AX, "X"), "if A were symmetric"), printed(twice_AX));
  BOOST_TEST(!diagnosed(claim(twice_AX, "X"), "if X were symmetric"), printed(twice_AX));
  const Function square_sum = [](const std::vector<Tensor>& p) { return sum(matmul(p[0], p[0])); };
  const Tensor ones_x = ones({3, 3});
  const CheckReport twice_own = check_gradient(square_sum, {X}, {{"X", 2.0 * matmul(ones_x, transpose(X))}});
  BOOST_TEST(diagnosed(claim(twice_own, "X"), "if X were symmetric"), printed(twice_own));
}

// Nothing fits: said plainly, with the worst elements.
BOOST_AUTO_TEST_CASE(an_unexplained_claim_says_so_and_shows_the_worst_elements) {
  const Seed s;
  const CheckReport r = s.check({{"V", s.dV + tensor({{0.3, 0.0}, {0.0, 0.0}, {0.0, -0.1}, {0.0, 0.0}})}});
  const ClaimReport& v = claim(r, "V");
  BOOST_TEST(!v.explained);
  BOOST_TEST(diagnosed(v, "no simple slip explains the difference"), printed(r));
  BOOST_TEST(diagnosed(v, "V[0, 0]"), printed(r));
}

// A check at kinks is linear in the number of elements: 10⁵ relu elements at 0 (bench/ times 10⁶).
BOOST_AUTO_TEST_CASE(many_kinks_at_once) {
  const Function f = [](const std::vector<Tensor>& p) { return sum(relu(p[0])); };
  const Tensor x = zeros({100000}).name("x");
  const CheckReport r = check_gradient(f, {x}, {{"x", full({100000}, 0.5)}});
  BOOST_TEST(r.ok());
  BOOST_TEST((claim(r, "x").verdict == Verdict::not_differentiable));
}
