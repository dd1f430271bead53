// Indexing: slice, select, index (x[idx], x[i, j], x[…] with subscripts), arange, one_hot,
// index_add, gather and scatter_add. Values by hand (checked against PyTorch 1.13 float64 by
// tests/torch_reference/issue18_indexing.py), first and second derivatives against finite
// differences, float32, empty tensors and every bad input.
#define BOOST_TEST_MODULE indexing
#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
const Tensor m = reshape(arange(12), {3, 4});
// [2, 3, 4]: 0 … 23
const Tensor cube = reshape(arange(24), {2, 3, 4});

std::string op_of(const Tensor& t) { return t.node() ? t.node()->op->name : "no node"; }
Tensor parameter(const Tensor& t) { return t.clone().set_requires_grad(); }
const auto none = std::nullopt;

}  // namespace

// ---- slice and select ----

BOOST_AUTO_TEST_CASE(slice_reads_python_slices) {
  check_values(slice(m, 0, 1, none), "[2, 4]", {4, 5, 6, 7, 8, 9, 10, 11});         // m[1:]
  check_values(slice(m, 1, none, none, 2), "[3, 2]", {0, 2, 4, 6, 8, 10});          // m[:, ::2]
  check_values(slice(m, -1, 1, -1), "[3, 2]", {1, 2, 5, 6, 9, 10});                 // m[:, 1:-1]
  check_values(slice(m, 1, -3, none, 2), "[3, 2]", {1, 3, 5, 7, 9, 11});            // m[:, -3::2]
  check_values(slice(m, 0, -10, 2), "[2, 4]", {0, 1, 2, 3, 4, 5, 6, 7});            // clamped
  check_values(slice(m, 0, 5, 10), "[0, 4]", {});                                    // past the end
  check_values(slice(m, 0, 2, 1), "[0, 4]", {});                                     // stop < start
  check_values(slice(cube, 1, 1, none, 5), "[2, 1, 4]", {4, 5, 6, 7, 16, 17, 18, 19});
}

BOOST_AUTO_TEST_CASE(select_drops_its_axis) {
  check_values(select(m, 0, -1), "[4]", {8, 9, 10, 11});
  check_values(select(m, 1, 2), "[3]", {2, 6, 10});
  check_values(select(cube, 2, 0), "[2, 3]", {0, 4, 8, 12, 16, 20});
  check_values(select(tensor({5.0}), 0, 0), "[]", {5});
}

BOOST_AUTO_TEST_CASE(slice_and_select_put_the_gradient_back_in_place) {
  Tensor x = parameter(m);
  check_values(grad({sum(slice(x, 1, 1, none, 2) * tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}))}, {x})[0],
               "[3, 4]", {0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6});
  check_values(grad({sum(select(x, 0, 1) * tensor({1.0, 2.0, 3.0, 4.0}))}, {x})[0], "[3, 4]",
               {0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0});
  const Tensor s = slice(x, 0, 1, none);
  BOOST_TEST(op_of(s) == "slice");
  BOOST_TEST(op_of(select(x, 0, 1)) == "select");
  const Tensor g = grad({sum(s * s)}, {x}, {.create_graph = true})[0];
  BOOST_TEST(op_of(g) == "slice_backward");
}

BOOST_AUTO_TEST_CASE(slice_and_select_derivatives_match_finite_differences) {
  Generator gen(3);
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return slice(p[0] * p[0], 1, 1, -1, 2); },
      {randn({3, 6, 2}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return select(exp(p[0]), -1, -2) * slice(p[0], 1, 0, 1); },
      {randn({2, 3}, gen)});
}

BOOST_AUTO_TEST_CASE(slice_and_select_in_float32_and_empty) {
  const Tensor f = slice(reshape(arange(6, DType::float32), {2, 3}), 1, 1, none);
  BOOST_TEST(f.dtype() == DType::float32);
  check_values(f, "[2, 2]", {1, 2, 4, 5});
  check_values(select(f, 1, 0), "[2]", {1, 4});
  check_values(slice(zeros({0, 3}), 1, 1, none), "[0, 2]", {});
  check_values(select(zeros({0, 3}), 1, 1), "[0]", {});
  Tensor e = zeros({2, 0}).set_requires_grad();
  check_values(grad({sum(slice(e, 0, 1, none))}, {e})[0], "[2, 0]", {});
}

BOOST_AUTO_TEST_CASE(slice_and_select_refuse_bad_input) {
  BOOST_CHECK_EXCEPTION(slice(m, 0, 0, 2, 0), ValueError, says("slice: the step must be at least 1, got 0"));
  BOOST_CHECK_EXCEPTION(slice(m, 0, none, none, -1), ValueError, says("flip(x, axis) reverses"));
  BOOST_CHECK_EXCEPTION(slice(m, 2, 0, 1), ValueError, says("slice"));
  BOOST_CHECK_EXCEPTION(slice(scalar(1), 0, 0, 1), IndexError, says("slice: a single number"));
  BOOST_CHECK_EXCEPTION(select(m, 0, 3), IndexError,
                        says("select: the index 3 is out of range for axis 0 of size 3 (-3 to 2)"));
  BOOST_CHECK_EXCEPTION(select(m, 1, -5), IndexError, says("the index -5 is out of range for axis 1"));
  BOOST_CHECK_EXCEPTION(select(zeros({0}), 0, 0), IndexError, says("of size 0, which has none"));
  BOOST_CHECK_EXCEPTION(select(scalar(1), 0, 0), IndexError, says("select: a single number"));
  BOOST_CHECK_EXCEPTION(select(m, -3, 0), ValueError, says("select"));
}

// ---- index: x[idx], x[i, j], x[…] ----

BOOST_AUTO_TEST_CASE(index_picks_rows_for_indices_of_any_shape) {
  check_values(index(m, tensor({2.0, 0.0, 2.0})), "[3, 4]", {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  check_values(index(m, tensor({{-1.0}, {1.0}})), "[2, 1, 4]", {8, 9, 10, 11, 4, 5, 6, 7});
  check_values(index(m, scalar(1)), "[4]", {4, 5, 6, 7});
  check_values(index(tensor({5.0, 6.0, 7.0}), tensor({{2.0, 0.0}})), "[1, 2]", {7, 5});
  check_values(index(m, zeros({0})), "[0, 4]", {});
  Tensor x = parameter(m);
  const Tensor picked = index(x, tensor({2.0, 0.0, -1.0}));
  BOOST_TEST(op_of(picked) == "index");
  // Row 2 is picked twice (as 2 and as -1): both gradients add up there.
  check_values(grad({sum(picked * tensor({{1.0}, {10.0}, {100.0}}))}, {x}, {.retain_graph = true})[0], "[3, 4]",
               {10, 10, 10, 10, 0, 0, 0, 0, 101, 101, 101, 101});
  const Tensor g = grad({sum(picked * picked)}, {x}, {.create_graph = true})[0];
  BOOST_TEST(op_of(g) == "index_backward");
}

BOOST_AUTO_TEST_CASE(index_with_two_tensors_picks_one_element_per_pair) {
  // x[arange(3), y]: x[i, y[i]], the log-likelihood pick of cross-entropy.
  const Tensor y = tensor({3.0, 0.0, -2.0});
  check_values(index(m, {arange(3), y}), "[3]", {3, 4, 10});
  // Broadcast together: [2, 1] with [3] picks a [2, 3] grid.
  check_values(index(m, {tensor({{0.0}, {2.0}}), tensor({1.0, 2.0, 3.0})}), "[2, 3]",
               {1, 2, 3, 9, 10, 11});
  Tensor x = parameter(m);
  check_values(grad({sum(index(x, {arange(3), tensor({1.0, 1.0, 1.0})}) * tensor({1.0, 2.0, 3.0}))}, {x})[0],
               "[3, 4]", {0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0});
  // Repeated pairs add up.
  check_values(grad({sum(index(x, {tensor({0.0, 0.0}), tensor({2.0, 2.0})}))}, {x})[0], "[3, 4]",
               {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0});
}

BOOST_AUTO_TEST_CASE(index_reads_subscripts_as_torch_does) {
  check_values(index(m, {Slice{}, 0}), "[3]", {0, 4, 8});                          // m[:, 0]
  check_values(index(m, {1, Slice{1, none, 2}}), "[2]", {5, 7});                   // m[1, 1::2]
  check_values(index(m, {-1}), "[4]", {8, 9, 10, 11});                             // m[-1]
  check_values(index(m, {Slice{1, -1, 2}, 0}), "[1]", {4});                        // m[1:-1:2, 0]
  check_values(index(m, {scalar(2), scalar(1)}), "[]", {9});                       // 0-d: a number
  check_values(index(m, std::vector<Subscript>{}), "[3, 4]", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  // An index tensor after a slice keeps its place: cube[:, idx] is [2, 2, 4].
  check_values(index(cube, {Slice{}, tensor({2.0, 0.0})}), "[2, 2, 4]",
               {8, 9, 10, 11, 0, 1, 2, 3, 20, 21, 22, 23, 12, 13, 14, 15});
  // Split by a slice, the index tensors' shape goes first: cube[idx, :, idx] is [2, 3].
  check_values(index(cube, {tensor({0.0, 1.0}), Slice{}, tensor({3.0, 0.0})}), "[2, 3]",
               {3, 7, 11, 12, 16, 20});
  // A number selects first (torch, not NumPy): cube[0, :, idx] is [3, 2].
  check_values(index(cube, {0, Slice{}, tensor({1.0, 3.0})}), "[3, 2]", {1, 3, 5, 7, 9, 11});
  check_values(index(cube, {Slice{}, 1, tensor({1.0, 3.0})}), "[2, 2]", {5, 7, 17, 19});
}

BOOST_AUTO_TEST_CASE(index_reads_new_axes_and_all_axes_as_torch_does) {
  check_values(index(m, {all_axes, 0}), "[3]", {0, 4, 8});                     // m[..., 0]
  check_values(index(m, {new_axis, 1}), "[1, 4]", {4, 5, 6, 7});               // m[None, 1]
  check_values(index(m, {Slice{}, new_axis}), "[3, 1, 4]", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  check_values(index(cube, {1, all_axes, -1}), "[3]", {15, 19, 23});          // cube[1, ..., -1]
  check_values(index(cube, {all_axes, 0, 0, 0}), "[]", {0});                   // ... of no axes
  // one_hot's reading: y[..., None] == arange(n).
  check_values(index(tensor({2.0, 0.0}), {all_axes, new_axis}) == arange(3), "[2, 3]", {0, 0, 1, 1, 0, 0});
  // A new axis between index tensors splits them: their shape first, as in torch.
  check_values(index(m, {tensor({0.0, 2.0}), new_axis, tensor({1.0, 3.0})}), "[2, 1]", {1, 11});
  BOOST_CHECK_EXCEPTION(index(m, {all_axes, all_axes}), IndexError,
                        says("index: all_axes (...) may stand only once"));
  BOOST_CHECK_EXCEPTION(index(m, {new_axis, 0, 0, 0}), IndexError, says("index: 3 subscripts for [3, 4]"));
  Tensor x = parameter(m);
  check_values(grad({sum(index(x, {new_axis, all_axes, 1}) * tensor({1.0, 2.0, 3.0}))}, {x})[0], "[3, 4]",
               {0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0});
}

BOOST_AUTO_TEST_CASE(index_derivatives_match_finite_differences) {
  Generator gen(5);
  const Tensor rows = tensor({{2.0, 0.0}, {2.0, -3.0}});
  check_first_and_second_derivatives(
      [rows](const std::vector<Tensor>& p) { return index(p[0], rows) * index(p[0], rows); },
      {randn({3, 2}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) {
        return index(p[0] * p[0], {arange(3), tensor({1.0, -1.0, 1.0})});
      },
      {randn({3, 4}, gen)});
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) {
        const Tensor q = exp(p[0]);
        return index(q, {tensor({1.0, 0.0, 1.0}), Slice{1, none}, tensor({0.0, 2.0, 2.0})}) +
               transpose(index(q, {-1, Slice{none, none, 2}}));
      },
      {randn({2, 3, 3}, gen)});
}

BOOST_AUTO_TEST_CASE(index_in_float32_and_empty) {
  const Tensor f = reshape(arange(6, DType::float32), {3, 2});
  const Tensor picked = index(f, tensor({2.0, 1.0}));  // float64 indices into float32
  BOOST_TEST(picked.dtype() == DType::float32);
  check_values(picked, "[2, 2]", {4, 5, 2, 3});
  Tensor x = parameter(f);
  const Tensor g = grad({sum(index(x, {tensor({0.0}, DType::float32), tensor({1.0})}))}, {x})[0];
  BOOST_TEST(g.dtype() == DType::float32);
  check_values(g, "[3, 2]", {0, 1, 0, 0, 0, 0});
  Tensor e = zeros({0, 3}).set_requires_grad();
  check_values(index(e, zeros({0})), "[0, 3]", {});
  check_values(grad({sum(index(e, zeros({2, 0})))}, {e})[0], "[0, 3]", {});
}

BOOST_AUTO_TEST_CASE(index_refuses_bad_input) {
  BOOST_CHECK_EXCEPTION(index(m, tensor({0.0, 3.0})), IndexError,
                        says("index: the index 3 at position [1] is out of range for axis 0 of size 3 (-3 to 2)"));
  BOOST_CHECK_EXCEPTION(index(m, tensor({{0.0, -4.0}})), IndexError, says("the index -4 at position [0, 1]"));
  BOOST_CHECK_EXCEPTION(index(m, tensor({1.5})), IndexError,
                        says("index: the index 1.5 at position [0] is not a whole number"));
  BOOST_CHECK_EXCEPTION(index(m, tensor({std::nan("")})), IndexError, says("is not a whole number"));
  BOOST_CHECK_EXCEPTION(index(zeros({0, 2}), tensor({0.0})), IndexError, says("of size 0, which has none"));
  BOOST_CHECK_EXCEPTION(index(m, {Slice{}, tensor({4.0})}), IndexError,
                        says("index: the index 4 at position [0] is out of range for axis 1 of size 4"));
  // Named by x's axis, also after a number has dropped one.
  BOOST_CHECK_EXCEPTION(index(cube, {0, Slice{}, tensor({4.0})}), IndexError, says("for axis 2 of size 4"));
  BOOST_CHECK_EXCEPTION(index(cube, {0, 5}), IndexError,
                        says("index: the index 5 is out of range for axis 1 of size 3 (-3 to 2)"));
  BOOST_CHECK_EXCEPTION(index(cube, {0, scalar(0.5)}), IndexError, says("the index 0.5 at position [] is not a whole number"));
  BOOST_CHECK_EXCEPTION(index(m, {0, 0, 0}), IndexError, says("index: 3 subscripts for [3, 4], which has 2 axes"));
  BOOST_CHECK_EXCEPTION(index(m, {tensor({0.0, 1.0}), tensor({0.0, 1.0, 2.0})}), ShapeError, says("index"));
  BOOST_CHECK_EXCEPTION(index(scalar(1), tensor({0.0})), IndexError, says("index: a single number has no rows"));
}

// ---- arange, one_hot ----

BOOST_AUTO_TEST_CASE(arange_counts_as_torch_does) {
  check_values(arange(4), "[4]", {0, 1, 2, 3});
  check_values(arange(0), "[0]", {});
  check_values(arange(2, 5), "[3]", {2, 3, 4});
  check_values(arange(5, 2, -1), "[3]", {5, 4, 3});
  check_values(arange(0, 1, 0.3), "[4]", {0, 0.3, 0.6, 0.9}, 1e-15);
  check_values(arange(3, 1), "[0]", {});
  BOOST_TEST(arange(3, DType::float32).dtype() == DType::float32);
  BOOST_TEST(!arange(3).requires_grad());
  BOOST_CHECK_EXCEPTION(arange(0, 1, 0), ValueError, says("arange: the step must not be 0"));
  BOOST_CHECK_EXCEPTION(arange(std::nan("")), ValueError, says("arange: start, stop and step must be finite"));
  BOOST_CHECK_EXCEPTION(arange(0, 1e300, 1), ValueError, says("arange:"));
}

BOOST_AUTO_TEST_CASE(one_hot_compares_classes) {
  check_values(one_hot(tensor({2.0, 0.0}), 3), "[2, 3]", {0, 0, 1, 1, 0, 0});
  check_values(one_hot(tensor({{1.0}}), 2), "[1, 1, 2]", {0, 1});
  check_values(one_hot(scalar(0), 1), "[1]", {1});
  check_values(one_hot(zeros({0}), 4), "[0, 4]", {});
  BOOST_TEST(one_hot(tensor({1.0}, DType::float32), 2).dtype() == DType::float32);
  Tensor y = tensor({1.0}).set_requires_grad();
  BOOST_TEST(!one_hot(y, 3).requires_grad());  // a comparison: no gradient
  BOOST_CHECK_EXCEPTION(one_hot(tensor({0.0, 3.0}), 3), IndexError,
                        says("one_hot: the index 3 at position [1] is out of range for 3 classes (0 to 2)"));
  BOOST_CHECK_EXCEPTION(one_hot(tensor({-1.0}), 3), IndexError, says("the index -1 at position [0]"));
  BOOST_CHECK_EXCEPTION(one_hot(tensor({0.25}), 3), IndexError, says("is not a whole number"));
  BOOST_CHECK_EXCEPTION(one_hot(tensor({0.0}), -1), ValueError, says("one_hot: the number of classes"));
}

// ---- index_add ----

BOOST_AUTO_TEST_CASE(index_add_adds_rows_and_repeats_add_up) {
  const Tensor target = ones({3, 2});
  const Tensor source = tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});
  check_values(index_add(target, tensor({2.0, 0.0, 2.0}), source), "[3, 2]", {4, 5, 1, 1, 7, 9});
  // Along axis 1, and with indices of two axes.
  check_values(index_add(zeros({2, 3}), tensor({2.0, 2.0}), tensor({{1.0, 2.0}, {3.0, 4.0}}), 1),
               "[2, 3]", {0, 0, 3, 0, 0, 7});
  check_values(index_add(zeros({3}), tensor({{0.0, 1.0}, {1.0, 1.0}}), tensor({{1.0, 2.0}, {3.0, 4.0}})),
               "[3]", {1, 9, 0});
  check_values(index_add(target, zeros({0}), zeros({0, 2})), "[3, 2]", {1, 1, 1, 1, 1, 1});
  BOOST_TEST(op_of(index_add(parameter(target), tensor({0.0}), ones({1, 2}))) == "index_add");
}

BOOST_AUTO_TEST_CASE(index_add_sends_gradients_to_target_and_source) {
  Tensor t = parameter(zeros({3, 2})), s = parameter(ones({2, 2}));
  const Tensor w = tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});
  const std::vector<Tensor> g = grad({sum(index_add(t, tensor({2.0, 0.0}), s) * w)}, {t, s});
  check_values(g[0], "[3, 2]", {1, 2, 3, 4, 5, 6});
  check_values(g[1], "[2, 2]", {5, 6, 1, 2});
  Generator gen(7);
  const Tensor idx = tensor({1.0, 1.0, 0.0});
  check_first_and_second_derivatives(
      [idx](const std::vector<Tensor>& p) { return index_add(p[0] * p[0], idx, exp(p[1]) * p[1], 1); },
      {randn({2, 3}, gen), randn({2, 3}, gen)});
}

BOOST_AUTO_TEST_CASE(index_add_in_float32_and_refusing_bad_input) {
  const Tensor f = index_add(zeros({2}, DType::float32), tensor({1.0}), tensor({2.5}, DType::float32));
  BOOST_TEST(f.dtype() == DType::float32);
  check_values(f, "[2]", {0, 2.5});
  BOOST_CHECK_EXCEPTION(index_add(zeros({3, 2}), tensor({3.0}), ones({1, 2})), IndexError,
                        says("index_add: the index 3 at position [0] is out of range for axis 0 of size 3 (0 to 2)"));
  BOOST_CHECK_EXCEPTION(index_add(zeros({3, 2}), tensor({-1.0}), ones({1, 2})), IndexError,
                        says("the index -1"));
  BOOST_CHECK_EXCEPTION(index_add(zeros({3, 2}), tensor({0.0, 1.0}), ones({1, 2})), ShapeError,
                        says("index_add: source [1, 2] must be [2, 2]"));
  BOOST_CHECK_EXCEPTION(index_add(zeros({3, 2}), tensor({0.0}), ones({1, 2}, DType::float32)), DTypeError,
                        says("index_add"));
  BOOST_CHECK_EXCEPTION(index_add(scalar(0), tensor({0.0}), ones({1})), ShapeError, says("index_add: the target is a single number"));
  BOOST_CHECK_EXCEPTION(index_add(zeros({3}), tensor({0.0}), ones({1}), 1), ValueError, says("index_add"));
}

// ---- gather, scatter_add ----

BOOST_AUTO_TEST_CASE(gather_picks_along_an_axis) {
  // torch.gather(m, 1, [[3, 0], [1, 1], [2, 0]]): m[i][idx[i][j]].
  check_values(gather(m, 1, tensor({{3.0, 0.0}, {1.0, 1.0}, {2.0, 0.0}})), "[3, 2]", {3, 0, 5, 5, 10, 8});
  // Along axis 0, idx smaller than m along axis 1.
  check_values(gather(m, 0, tensor({{2.0, 0.0}})), "[1, 2]", {8, 1});
  check_values(gather(cube, -1, zeros({2, 1, 1})), "[2, 1, 1]", {0, 12});
  check_values(gather(m, 1, zeros({3, 0})), "[3, 0]", {});
  Tensor x = parameter(m);
  const Tensor picked = gather(x, 1, tensor({{0.0, 0.0}, {1.0, 3.0}, {2.0, 2.0}}));
  BOOST_TEST(op_of(picked) == "gather");
  check_values(grad({sum(picked * tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}))}, {x}, {.retain_graph = true})[0], "[3, 4]",
               {3, 0, 0, 0, 0, 3, 0, 4, 0, 0, 11, 0});
  const Tensor g = grad({sum(picked * picked)}, {x}, {.create_graph = true})[0];
  BOOST_TEST(op_of(g) == "scatter_add");
}

BOOST_AUTO_TEST_CASE(scatter_add_adds_along_an_axis) {
  // torch.zeros(2, 3).scatter_add(1, [[0, 0], [2, 1]], [[1, 2], [3, 4]]).
  const Tensor src = tensor({{1.0, 2.0}, {3.0, 4.0}});
  check_values(scatter_add(zeros({2, 3}), 1, tensor({{0.0, 0.0}, {2.0, 1.0}}), src), "[2, 3]",
               {3, 0, 0, 0, 4, 3});
  // idx smaller than src: the rest of src is unused.
  check_values(scatter_add(ones({3}), 0, tensor({2.0}), tensor({5.0, 6.0})), "[3]", {1, 1, 6});
  Tensor x = parameter(zeros({2, 3})), s = parameter(tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}));
  const Tensor w = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  const std::vector<Tensor> g =
      grad({sum(scatter_add(x, 0, tensor({{1.0, 0.0}}), s) * w)}, {x, s});
  check_values(g[0], "[2, 3]", {1, 2, 3, 4, 5, 6});
  check_values(g[1], "[2, 3]", {4, 2, 0, 0, 0, 0});  // only src[0][0] and src[0][1] were used
}

BOOST_AUTO_TEST_CASE(gather_and_scatter_add_derivatives_match_finite_differences) {
  Generator gen(9);
  const Tensor idx = tensor({{{1.0, 0.0}, {2.0, 2.0}}, {{0.0, 0.0}, {1.0, 2.0}}});  // [2, 2, 2]
  check_first_and_second_derivatives(
      [idx](const std::vector<Tensor>& p) { return gather(p[0] * p[0], 1, idx); }, {randn({2, 3, 2}, gen)});
  check_first_and_second_derivatives(
      [idx](const std::vector<Tensor>& p) { return scatter_add(p[0], 1, idx, p[1] * p[1]); },
      {randn({2, 3, 2}, gen), randn({2, 2, 3}, gen)});
}

BOOST_AUTO_TEST_CASE(gather_and_scatter_add_in_float32_and_refusing_bad_input) {
  const Tensor f = reshape(arange(4, DType::float32), {2, 2});
  BOOST_TEST(gather(f, 0, tensor({{1.0, 0.0}})).dtype() == DType::float32);
  check_values(scatter_add(f, 0, tensor({{1.0}}), tensor({{1.5}}, DType::float32)), "[2, 2]", {0, 1, 3.5, 3});
  BOOST_CHECK_EXCEPTION(gather(m, 1, tensor({{4.0}})), IndexError,
                        says("gather: the index 4 at position [0, 0] is out of range for axis 1 of size 4 (0 to 3)"));
  BOOST_CHECK_EXCEPTION(gather(m, 1, tensor({{-1.0}})), IndexError, says("the index -1"));
  BOOST_CHECK_EXCEPTION(gather(m, 1, tensor({{0.5}})), IndexError, says("gather: the index 0.5 at position [0, 0] is not a whole number"));
  BOOST_CHECK_EXCEPTION(gather(m, 1, tensor({0.0})), ShapeError, says("gather: the indices [1] must have as many axes as x [3, 4]"));
  BOOST_CHECK_EXCEPTION(gather(m, 1, zeros({4, 1})), ShapeError,
                        says("gather: the indices [4, 1] are larger than x [3, 4] along axis 0"));
  BOOST_CHECK_EXCEPTION(gather(m, 2, zeros({1, 1})), ValueError, says("gather"));
  BOOST_CHECK_EXCEPTION(scatter_add(zeros({2, 2}), 0, zeros({1, 3}), ones({2, 2})), ShapeError,
                        says("scatter_add: the indices [1, 3] are larger than x [2, 2] along axis 1"));
  BOOST_CHECK_EXCEPTION(scatter_add(zeros({2, 2}), 1, zeros({2, 2}), ones({1, 2})), ShapeError,
                        says("scatter_add: the indices [2, 2] are larger than src [1, 2] along axis 0"));
  BOOST_CHECK_EXCEPTION(scatter_add(zeros({2, 2}), 1, zeros({2, 2}), ones({2})), ShapeError,
                        says("scatter_add: src [2] must have as many axes as x [2, 2]"));
  BOOST_CHECK_EXCEPTION(scatter_add(zeros({2, 2}), 1, tensor({{2.0}}), ones({1, 1})), IndexError,
                        says("scatter_add: the index 2 at position [0, 0] is out of range for axis 1 of size 2"));
  BOOST_CHECK_EXCEPTION(scatter_add(zeros({2}), 0, zeros({1}), ones({1}, DType::float32)), DTypeError,
                        says("scatter_add"));
}

// ---- embedding is the row pick ----

BOOST_AUTO_TEST_CASE(embedding_equals_the_row_pick_under_its_own_name) {
  Generator gen(13);
  Tensor W = randn({5, 3}, gen).set_requires_grad();
  const Tensor idx = tensor({{4.0, 0.0}, {4.0, 2.0}});
  const Tensor e = embedding(W, idx), r = index(W, idx);
  BOOST_TEST(op_of(e) == "embedding");
  BOOST_TEST(e.values() == r.values());
  const Tensor h = randn({2, 2, 3}, gen);
  BOOST_TEST(grad({sum(e * h)}, {W}, {.retain_graph = true})[0].values() ==
             grad({sum(r * h)}, {W})[0].values());
  BOOST_TEST(op_of(grad({sum(e * e)}, {W}, {.create_graph = true})[0]) == "index_backward");
}
