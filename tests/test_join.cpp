// Joining: concat, stack, upsample, narrow and kron of any rank. Values by hand (checked
// against PyTorch 1.13 float64 by tests/torch_reference/issue18_join.py), first and second
// derivatives against finite differences, float32, empty tensors and every bad input; and
// that the ops which used to record under another op's name (max pooling as a gather,
// flatten as a reshape, …) now record their own.
#define BOOST_TEST_MODULE join
#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

const Tensor a = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});  // [2, 3]
const Tensor b = tensor({{7.0, 8.0, 9.0}});                   // [1, 3]
const Tensor c = tensor({{10.0}, {20.0}});                    // [2, 1]

std::string op_of(const Tensor& t) { return t.node() ? t.node()->op->name : "no node"; }

}  // namespace

// ---- concat ----

BOOST_AUTO_TEST_CASE(concat_joins_along_an_axis) {
  check_values(concat({a, b}), "[3, 3]", {1, 2, 3, 4, 5, 6, 7, 8, 9});
  check_values(concat({a, c}, 1), "[2, 4]", {1, 2, 3, 10, 4, 5, 6, 20});
  check_values(concat({c, a, c}, -1), "[2, 5]", {10, 1, 2, 3, 10, 20, 4, 5, 6, 20});
  check_values(concat({a}), "[2, 3]", {1, 2, 3, 4, 5, 6});  // one tensor: a copy
  check_values(concat({tensor({1.0}), tensor({2.0, 3.0})}), "[3]", {1, 2, 3});
  // 3-D, along the middle axis: [2, 1, 2] and [2, 2, 2] → [2, 3, 2].
  const Tensor p = reshape(tensor({1.0, 2.0, 3.0, 4.0}), {2, 1, 2});
  const Tensor q = reshape(tensor({5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0}), {2, 2, 2});
  check_values(concat({p, q}, 1), "[2, 3, 2]", {1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12});
}

BOOST_AUTO_TEST_CASE(concat_sends_each_tensor_its_own_slice_of_the_gradient) {
  Tensor x = a.clone().set_requires_grad(), y = c.clone().set_requires_grad();
  const Tensor weights = tensor({{1.0, 2.0, 3.0, 4.0}, {5.0, 6.0, 7.0, 8.0}});
  const std::vector<Tensor> g = grad({sum(concat({x, y}, 1) * weights)}, {x, y});
  check_values(g[0], "[2, 3]", {1, 2, 3, 5, 6, 7});
  check_values(g[1], "[2, 1]", {4, 8});
  // The same tensor twice gets both slices, added.
  check_values(grad({sum(concat({y, y}, 1) * tensor({{1.0, 2.0}, {3.0, 4.0}}))}, {y})[0], "[2, 1]",
               {3, 7});
  // Only some of the tensors need a gradient.
  check_values(grad({sum(concat({a, y}, 1) * weights)}, {y})[0], "[2, 1]", {4, 8});
}

BOOST_AUTO_TEST_CASE(concat_derivatives_match_finite_differences) {
  Generator gen(11);
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return concat({p[0] * p[0], p[1], exp(p[2])}, -2); },
      {randn({2, 3, 2}, gen), randn({2, 1, 2}, gen), randn({2, 2, 2}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return concat({p[0], sigmoid(p[1])}) * sum(p[0]); },
      {randn({3}, gen), randn({2}, gen)});
}

BOOST_AUTO_TEST_CASE(concat_in_float32_and_with_empty_tensors) {
  const Tensor f = concat({tensor({1.5}, DType::float32), tensor({2.5, 3.5}, DType::float32)});
  BOOST_TEST(f.dtype() == DType::float32);
  check_values(f, "[3]", {1.5, 2.5, 3.5});
  // An axis may be empty: [2, 0] joins [2, 3] along axis 1, [0, 3] joins along axis 0.
  check_values(concat({zeros({2, 0}), a}, 1), "[2, 3]", {1, 2, 3, 4, 5, 6});
  check_values(concat({a, zeros({0, 3})}), "[2, 3]", {1, 2, 3, 4, 5, 6});
  check_values(concat({zeros({0, 3}), zeros({0, 3})}), "[0, 3]", {});
  // As torch.cat: a 1-D empty [0] joins anything and adds nothing.
  check_values(concat({zeros({0}), a, zeros({0})}), "[2, 3]", {1, 2, 3, 4, 5, 6});
  check_values(concat({zeros({0}), zeros({0})}), "[0]", {});
  // Their gradients: empty, of their own shapes.
  Tensor e = zeros({0}).set_requires_grad(), n = zeros({2, 0}).set_requires_grad();
  Tensor x = a.clone().set_requires_grad();
  const std::vector<Tensor> g = grad({sum(concat({e, x}) + concat({n, x}, 1))}, {e, n, x});
  check_values(g[0], "[0]", {});
  check_values(g[1], "[2, 0]", {});
  check_values(g[2], "[2, 3]", {2, 2, 2, 2, 2, 2});
}

BOOST_AUTO_TEST_CASE(concat_refuses_bad_input_naming_the_tensor_and_the_axis) {
  BOOST_CHECK_EXCEPTION(concat({}), ValueError, says("concat: needs at least one tensor"));
  BOOST_CHECK_EXCEPTION(
      concat({a, c}), ShapeError,
      says("concat: tensor 1 [2, 1] does not match tensor 0 [2, 3] along axis 1 (only axis 0"));
  BOOST_CHECK_EXCEPTION(concat({a, b, ones({1, 4})}), ShapeError,
                        says("tensor 2 [1, 4] does not match tensor 0 [2, 3] along axis 1"));
  BOOST_CHECK_EXCEPTION(concat({a, ones({3})}), ShapeError,
                        says("concat: tensor 1 [3] has 1 axes, tensor 0 [2, 3] has 2"));
  BOOST_CHECK_EXCEPTION(concat({a, b}, 2), ValueError,
                        says("concat: axis 2 is out of range for a tensor of rank 2"));
  BOOST_CHECK_EXCEPTION(concat({a, b}, -3), ValueError, says("axis -3 is out of range"));
  BOOST_CHECK_EXCEPTION(concat({scalar(1), scalar(2)}), ShapeError,
                        says("concat: tensor 0 [] has no axis to join along"));
  BOOST_CHECK_EXCEPTION(concat({a, ones({1, 3}, DType::float32)}), DTypeError, says("concat"));
}

// ---- stack ----

BOOST_AUTO_TEST_CASE(stack_puts_tensors_side_by_side_along_a_new_axis) {
  const Tensor d = tensor({{7.0, 8.0, 9.0}, {10.0, 11.0, 12.0}});
  check_values(stack({a, d}), "[2, 2, 3]", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  check_values(stack({a, d}, 1), "[2, 2, 3]", {1, 2, 3, 7, 8, 9, 4, 5, 6, 10, 11, 12});
  check_values(stack({a, d}, -1), "[2, 3, 2]", {1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12});
  check_values(stack({scalar(1), scalar(2), scalar(3)}), "[3]", {1, 2, 3});  // numbers → a vector
  check_values(stack({zeros({0, 2}), zeros({0, 2})}, 1), "[0, 2, 2]", {});
  const Tensor f = stack({tensor({1.0}, DType::float32)});
  BOOST_TEST(f.dtype() == DType::float32);
  check_values(f, "[1, 1]", {1});
  Tensor x = a.clone().set_requires_grad(), y = d.clone().set_requires_grad();
  const Tensor weights = reshape(tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0}),
                                 {2, 3, 2});
  const std::vector<Tensor> g = grad({sum(stack({x, y}, 2) * weights)}, {x, y});
  check_values(g[0], "[2, 3]", {1, 3, 5, 7, 9, 11});
  check_values(g[1], "[2, 3]", {2, 4, 6, 8, 10, 12});
}

BOOST_AUTO_TEST_CASE(stack_derivatives_match_finite_differences) {
  Generator gen(12);
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return stack({p[0] * p[1], p[1], tanh(p[0])}, 1); },
      {randn({2, 3}, gen), randn({2, 3}, gen)});
}

BOOST_AUTO_TEST_CASE(stack_refuses_bad_input) {
  BOOST_CHECK_EXCEPTION(stack({}), ValueError, says("stack: needs at least one tensor"));
  BOOST_CHECK_EXCEPTION(stack({a, a, b}), ShapeError,
                        says("stack: tensor 2 [1, 3] does not match tensor 0 [2, 3]: stack needs "
                             "tensors of one shape (they differ along axis 0)"));
  BOOST_CHECK_EXCEPTION(stack({a, ones({6})}), ShapeError, says("a different number of axes"));
  BOOST_CHECK_EXCEPTION(stack({a, a}, 3), ValueError,
                        says("stack: axis 3 is out of range for a tensor of rank 3"));
  BOOST_CHECK_EXCEPTION(stack({a, a}, -4), ValueError, says("axis -4"));
  BOOST_CHECK_EXCEPTION(stack({a, ones({2, 3}, DType::float32)}), DTypeError, says("stack"));
}

// ---- narrow ----

BOOST_AUTO_TEST_CASE(narrow_cuts_a_slice_and_puts_its_gradient_back_in_place) {
  check_values(narrow(a, 1, 1, 2), "[2, 2]", {2, 3, 5, 6});
  check_values(narrow(a, 0, 1, 1), "[1, 3]", {4, 5, 6});
  check_values(narrow(a, -1, 3, 0), "[2, 0]", {});
  Tensor x = a.clone().set_requires_grad();
  check_values(grad({sum(narrow(x, 1, 1, 1) * tensor({{2.0}, {3.0}}))}, {x})[0], "[2, 3]",
               {0, 2, 0, 0, 3, 0});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return narrow(p[0] * p[0], 1, 1, 2); }, {a});
  BOOST_CHECK_EXCEPTION(narrow(a, 1, 2, 2), IndexError,
                        says("narrow: start 2 and length 2 do not fit axis 1 of size 3 of [2, 3]"));
  BOOST_CHECK_EXCEPTION(narrow(a, 0, -1, 1), IndexError, says("start -1"));
  BOOST_CHECK_EXCEPTION(narrow(a, 2, 0, 1), ValueError, says("narrow: axis 2 is out of range"));
  BOOST_CHECK_EXCEPTION(narrow(scalar(1), 0, 0, 1), ShapeError, says("narrow"));
}

// ---- upsample ----

BOOST_AUTO_TEST_CASE(upsample_makes_each_element_a_block_of_copies) {
  check_values(upsample(tensor({{1.0, 2.0}, {3.0, 4.0}}), 2), "[4, 4]",
               {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  check_values(upsample(a, 1), "[2, 3]", {1, 2, 3, 4, 5, 6});
  // Any rank: [2, 1, 1, 2] by 3 → [2, 1, 3, 6]; only the last two axes grow.
  const Tensor x = reshape(tensor({1.0, 2.0, 3.0, 4.0}), {2, 1, 1, 2});
  check_values(upsample(x, 3), "[2, 1, 3, 6]",
               {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4});
  check_values(upsample(reshape(tensor({5.0, 6.0}), {2, 1, 1}), 2), "[2, 2, 2]",
               {5, 5, 5, 5, 6, 6, 6, 6});
  const Tensor f = upsample(tensor({{0.5}}, DType::float32), 2);
  BOOST_TEST(f.dtype() == DType::float32);
  check_values(f, "[2, 2]", {0.5, 0.5, 0.5, 0.5});
  check_values(upsample(zeros({3, 0, 2}), 2), "[3, 0, 4]", {});
  check_values(upsample(zeros({0, 2, 2}), 2), "[0, 4, 4]", {});
}

BOOST_AUTO_TEST_CASE(upsample_gradient_sums_each_block) {
  Tensor x = tensor({{1.0, 2.0}}).set_requires_grad();  // [1, 2] → [2, 4]
  const Tensor weights = tensor({{1.0, 2.0, 3.0, 4.0}, {5.0, 6.0, 7.0, 8.0}});
  check_values(grad({sum(upsample(x, 2) * weights)}, {x})[0], "[1, 2]",
               {1 + 2 + 5 + 6, 3 + 4 + 7 + 8});
  Generator gen(13);
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return upsample(p[0] * p[0], 2); }, {randn({2, 2, 3}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return upsample(sigmoid(p[0]), 3); }, {randn({1, 2, 2, 1}, gen)});
}

BOOST_AUTO_TEST_CASE(upsample_refuses_bad_input) {
  BOOST_CHECK_EXCEPTION(upsample(a, 0), ValueError,
                        says("upsample: the factor k must be at least 1, got 0"));
  BOOST_CHECK_EXCEPTION(upsample(a, -2), ValueError, says("got -2"));
  BOOST_CHECK_EXCEPTION(upsample(ones({3}), 2), ShapeError,
                        says("upsample: needs at least 2 axes (the last two are upsampled), got [3]"));
  BOOST_CHECK_EXCEPTION(upsample(scalar(1), 2), ShapeError, says("upsample"));
  BOOST_CHECK_EXCEPTION(upsample(ones({2, 2}), std::int64_t(1) << 62), ShapeError, says("upsample"));
}

// ---- kron ----

BOOST_AUTO_TEST_CASE(kron_of_any_rank) {
  check_values(kron(tensor({1.0, 2.0}), tensor({1.0, 10.0, 100.0})), "[6]",
               {1, 10, 100, 2, 20, 200});
  check_values(kron(tensor({{1.0, 2.0}, {3.0, 4.0}}), tensor({{0.0, 1.0}, {1.0, 0.0}})), "[4, 4]",
               {0, 1, 0, 2, 1, 0, 2, 0, 0, 3, 0, 4, 3, 0, 4, 0});
  // Different ranks: the lower one gets leading 1-axes. [2] with [2, 2] is [1, 2] ⊗ [2, 2].
  check_values(kron(tensor({1.0, 2.0}), tensor({{1.0, 2.0}, {3.0, 4.0}})), "[2, 4]",
               {1, 2, 2, 4, 3, 4, 6, 8});
  check_values(kron(tensor({{1.0}, {2.0}}), tensor({3.0, 4.0})), "[2, 2]", {3, 4, 6, 8});
  // 3-D with 2-D: b gets a leading 1-axis, [2, 1, 2] ⊗ [1, 1, 2] → [2, 1, 4].
  const Tensor x = reshape(tensor({1.0, 2.0, 3.0, 4.0}), {2, 1, 2});
  check_values(kron(x, tensor({{1.0, -1.0}})), "[2, 1, 4]", {1, -1, 2, -2, 3, -3, 4, -4});
  check_values(kron(x, tensor({{1.0}, {10.0}})), "[2, 2, 2]", {1, 2, 10, 20, 3, 4, 30, 40});
  check_values(kron(scalar(3), scalar(4)), "[]", {12});
  check_values(kron(scalar(3), tensor({1.0, 2.0})), "[2]", {3, 6});
  // Empty: the result is empty too, as torch.kron's.
  check_values(kron(zeros({0}), tensor({1.0, 2.0})), "[0]", {});
  check_values(kron(zeros({2, 0}), ones({3, 3})), "[6, 0]", {});
  const Tensor f = kron(tensor({2.0}, DType::float32), tensor({0.5, 1.5}, DType::float32));
  BOOST_TEST(f.dtype() == DType::float32);
  check_values(f, "[2]", {1, 3});
  BOOST_TEST(kron(ones({2}), ones({2}, DType::float32)).dtype() == DType::float64);  // promoted
}

BOOST_AUTO_TEST_CASE(kron_gradients) {
  // ∂/∂a Σ (a ⊗ b) = Σ b for every entry of a; ∂/∂b = Σ a for every entry of b.
  Tensor p = tensor({{1.0, 2.0}, {3.0, 4.0}}).set_requires_grad();
  Tensor q = tensor({1.0, 10.0, 100.0}).set_requires_grad();
  const std::vector<Tensor> g = grad({sum(kron(p, q))}, {p, q});
  check_values(g[0], "[2, 2]", {111, 111, 111, 111});
  check_values(g[1], "[3]", {10, 10, 10});
  Generator gen(14);
  const auto product = [](const std::vector<Tensor>& in) { return kron(in[0], in[1]); };
  check_first_and_second_derivatives(product, {randn({2, 3}, gen), randn({2, 2}, gen)});
  check_first_and_second_derivatives(product, {randn({2, 1, 2}, gen), randn({3, 2}, gen)});
  check_first_and_second_derivatives(product, {randn({3}, gen), randn({2, 2, 2}, gen)});
}

// ---- each op recorded under its own name ----

BOOST_AUTO_TEST_CASE(every_op_records_its_own_name) {
  Generator gen(15);
  Tensor x = randn({1, 2, 4, 4}, gen).set_requires_grad();
  Tensor w = randn({3, 2, 3, 3}, gen).set_requires_grad();
  Tensor image = randn({4, 4}, gen).set_requires_grad();
  BOOST_TEST(op_of(max_pool2d(x, 2)) == "max_pool2d");
  BOOST_TEST(op_of(avg_pool2d(x, 2)) == "avg_pool2d");
  BOOST_TEST(op_of(convolve2d(x, w)) == "convolve2d");
  BOOST_TEST(op_of(conv2d(x, w)) == "conv2d");
  BOOST_TEST(op_of(flatten(x)) == "flatten");
  BOOST_TEST(op_of(kron(x, w)) == "kron");
  BOOST_TEST(op_of(concat({x, x})) == "concat");
  BOOST_TEST(op_of(stack({x, x})) == "stack");
  BOOST_TEST(op_of(upsample(x, 2)) == "upsample");
  // A plain image is lifted to a batch of one and back: a reshape around the op itself.
  const Tensor pooled = max_pool2d(image, 2);
  BOOST_TEST(op_of(pooled) == "reshape");
  BOOST_TEST(op_of(pooled.node()->inputs()[0]) == "max_pool2d");
  // The diagram says so too.
  const std::string dot = to_dot({sum(avg_pool2d(x, 2)) + sum(convolve2d(x, w)) + sum(flatten(x))});
  for (const char* name : {"<b>avg_pool2d</b>", "<b>convolve2d</b>", "<b>flatten</b>"})
    BOOST_TEST(dot.find(name) != std::string::npos, name);
  BOOST_TEST(dot.find("<b>conv2d</b>") == std::string::npos);
  BOOST_TEST(dot.find("<b>reshape</b>") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_renamed_ops_keep_their_values_and_derivatives) {
  Generator gen(16);
  const Tensor x = randn({2, 2, 5, 5}, gen), w = randn({3, 2, 2, 3}, gen);
  // convolve2d is conv2d with the kernel flipped in both axes, gradients included.
  const Tensor turned = flip(flip(w, -1), -2);
  BOOST_TEST(max_abs_diff(convolve2d(x, w, {}, {.stride = 2, .padding = 1}),
                          conv2d(x, turned, {}, {.stride = 2, .padding = 1})) < 1e-12);
  Tensor p = x.clone().set_requires_grad(), q = w.clone().set_requires_grad();
  Tensor r = turned.clone().set_requires_grad();
  const Tensor up = randn({2, 3, 6, 5}, gen);
  const std::vector<Tensor> gc = grad({sum(convolve2d(p, q, {}, {.padding = 1}) * up)}, {p, q});
  const std::vector<Tensor> gr = grad({sum(conv2d(p, r, {}, {.padding = 1}) * up)}, {p, r});
  BOOST_TEST(max_abs_diff(gc[0], gr[0]) < 1e-12);
  BOOST_TEST(max_abs_diff(gc[1], flip(flip(gr[1], -1), -2)) < 1e-12);
  const auto conv = [](const std::vector<Tensor>& in) {
    return convolve2d(in[0], in[1], {}, {.stride = 2, .padding = 1, .padding_mode = PadMode::reflect});
  };
  check_first_and_second_derivatives(conv, {x, w});
  const auto image = [](const std::vector<Tensor>& in) { return convolve2d(in[0], in[1]); };
  check_first_and_second_derivatives(image, {randn({4, 5}, gen), randn({2, 2}, gen)});
  // Pooling: stride and padding where the last window leaves rows out (5 + 2 − 3 = 4, odd
  // against a stride of 3), so that the transposed convolution must add them back.
  const auto avg = [](const std::vector<Tensor>& in) {
    return avg_pool2d(in[0] * in[0], 3, {.stride = 3, .padding = 1});
  };
  check_first_and_second_derivatives(avg, {x});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& in) { return avg_pool2d(in[0] * in[0], {2, 3}); }, {x});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& in) { return max_pool2d(in[0] * in[0], 2, {.stride = 1}); }, {x});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& in) { return flatten(in[0] * in[0], 1, 2); }, {x});
  check_values(avg_pool2d(tensor({{1.0, 2.0}, {3.0, 4.0}}), 2), "[1, 1]", {2.5});
}
