#define BOOST_TEST_MODULE tensor
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <gradlab/gradlab.hpp>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;
namespace tt = boost::test_tools;

BOOST_AUTO_TEST_CASE(nested_lists_give_the_shape) {
  const Tensor x = tensor({{0.5, -1.0, 2.0}});
  BOOST_TEST(x.shape() == Shape({1, 3}));
  BOOST_TEST(x.dtype() == DType::float64);
  BOOST_TEST(x.values() == std::vector<double>({0.5, -1.0, 2.0}));
  BOOST_TEST(x.at({0, 2}) == 2.0);

  const Tensor cube = tensor({{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}, {{9, 10}, {11, 12}}});
  BOOST_TEST(cube.shape() == Shape({3, 2, 2}));
  BOOST_TEST(cube.at({2, 0, 1}) == 10.0);
  BOOST_TEST(tensor({1.0, 2.0, 3.0}).shape() == Shape({3}));
  BOOST_TEST(tensor({{{{1.0}}}}).shape() == Shape({1, 1, 1, 1}));
}

BOOST_AUTO_TEST_CASE(ragged_lists_are_rejected) {
  BOOST_CHECK_EXCEPTION(tensor({{1.0, 2.0}, {3.0}}), ShapeError, says("ragged"));
}

BOOST_AUTO_TEST_CASE(float32_holds_rounded_values) {
  const Tensor x = tensor({0.1, 0.2}, DType::float32);
  BOOST_TEST(x.dtype() == DType::float32);
  BOOST_TEST(x.at({0}) == double(0.1f));
  BOOST_TEST(x.data<float>()[1] == 0.2f);
  BOOST_CHECK_EXCEPTION(x.data<double>(), DTypeError, says("float32"));
}

BOOST_AUTO_TEST_CASE(factories_fill_as_named) {
  BOOST_TEST(zeros({2, 3}).values() == std::vector<double>(6, 0.0));
  BOOST_TEST(ones({4}).values() == std::vector<double>(4, 1.0));
  BOOST_TEST(full({2, 2}, -2.5, DType::float32).values() == std::vector<double>(4, -2.5));
  BOOST_TEST(scalar(3.0).dim() == 0);
  BOOST_TEST(scalar(3.0).item() == 3.0);
  BOOST_TEST(from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).at({1, 0}) == 4.0);
  BOOST_CHECK_EXCEPTION(from_vector({1, 2, 3}, {2, 2}), ShapeError,
                        says("from_vector: 3 values do not fill shape [2, 2]"));
  BOOST_CHECK_THROW(zeros({2, -1}), ShapeError);
}

BOOST_AUTO_TEST_CASE(randn_is_reproducible_and_standard_normal) {
  Generator a(7), b(7), c(8);
  const Tensor x = randn({1000}, a), y = randn({1000}, b), z = randn({1000}, c);
  BOOST_TEST(x.values() == y.values());
  BOOST_TEST(x.values() != z.values());

  manual_seed(3);
  const Tensor first = randn({5});
  manual_seed(3);
  BOOST_TEST(randn({5}).values() == first.values());

  // 100 000 draws: the sample mean is within 4 standard errors (0.0126) of 0, and the
  // sample variance within a few percent of 1.
  Generator g(1);
  const std::vector<double> v = randn({100000}, g).values();
  double mean = 0, var = 0;
  for (double s : v) mean += s / v.size();
  for (double s : v) var += (s - mean) * (s - mean) / v.size();
  BOOST_TEST(std::abs(mean) < 0.0126);
  BOOST_TEST(std::abs(var - 1) < 0.03);

  const std::vector<double> u = rand({10000}, g).values();
  BOOST_TEST(*std::min_element(u.begin(), u.end()) >= 0.0);
  BOOST_TEST(*std::max_element(u.begin(), u.end()) < 1.0);
}

BOOST_AUTO_TEST_CASE(element_access_checks_bounds) {
  Tensor x = zeros({2, 3});
  x.set({1, 2}, 5.0);
  BOOST_TEST(x.at({1, 2}) == 5.0);
  BOOST_TEST(x.values()[5] == 5.0);
  BOOST_CHECK_EXCEPTION(x.at({2, 0}), IndexError,
                        says("index [2, 0] is outside a tensor of shape [2, 3]"));
  BOOST_CHECK_THROW(x.at({0}), IndexError);
  BOOST_CHECK_EXCEPTION(x.item(), ShapeError, says("[2, 3]"));
  BOOST_TEST(x.size(-1) == 3);
  BOOST_CHECK_THROW(x.size(2), ValueError);
}

BOOST_AUTO_TEST_CASE(matrices_print_as_aligned_rows) {
  BOOST_TEST(to_string(tensor({{1.5, -2.0}, {3.0, 40.0}})) ==
             "tensor([[ 1.5000, -2.0000],\n"
             "        [ 3.0000, 40.0000]])");
  BOOST_TEST(to_string(tensor({{1, 0, 1}, {0, 10, 0}})) ==
             "tensor([[ 1,  0,  1],\n"
             "        [ 0, 10,  0]])");
  BOOST_TEST(to_string(scalar(0.25)) == "tensor(0.2500)");
  BOOST_TEST(to_string(tensor({{{1, 2}}, {{3, 4}}})) ==
             "tensor([[[1, 2]],\n"
             "\n"
             "        [[3, 4]]])");
  BOOST_TEST(to_string(tensor({1e-7, 1.0})) == "tensor([1.0000e-07, 1.0000e+00])");
  Tensor w = tensor({2.0}, DType::float32);
  w.set_requires_grad().name("w");
  BOOST_TEST(to_string(w) == "tensor([2], dtype=float32, name=\"w\", requires_grad)");
  BOOST_TEST(to_string(Tensor()) == "tensor(undefined)");
}

BOOST_AUTO_TEST_CASE(large_tensors_print_their_edges) {
  const std::string s = to_string(zeros({2000}));
  BOOST_TEST(s == "tensor([0, 0, 0, ..., 0, 0, 0])");
}

BOOST_AUTO_TEST_CASE(detach_shares_numbers_and_clone_copies_them) {
  Tensor x = tensor({1.0, 2.0});
  x.set_requires_grad();
  Tensor d = x.detach();
  Tensor c = x.clone();
  BOOST_TEST(!d.requires_grad());
  BOOST_TEST(!c.requires_grad());
  d.set({0}, 9.0);
  BOOST_TEST(x.at({0}) == 9.0);
  BOOST_TEST(c.at({0}) == 1.0);
}

// A small tensor's numbers live in its own block (src/gradlab/core/memory.hpp); views of them must
// keep them when the tensor itself is gone, for small and large tensors alike.
BOOST_AUTO_TEST_CASE(views_keep_the_numbers_of_a_tensor_that_is_gone) {
  for (const std::int64_t n : {2, 300}) {
    BOOST_TEST_CONTEXT(n << "×" << n) {
      Tensor view, flat;
      {
        const Tensor t = full({n, n}, 2.5);
        view = t.detach();
        flat = reshape(t, {n * n});
      }
      BOOST_TEST(view.at({n - 1, n - 1}) == 2.5);
      flat.set({n * n - 1}, 7.0);  // both views still share the numbers
      BOOST_TEST(view.at({n - 1, n - 1}) == 7.0);
      view = Tensor();
      BOOST_TEST(flat.at({0}) == 2.5);
    }
  }
}

BOOST_AUTO_TEST_CASE(only_leaves_change_requires_grad) {
  Tensor x = tensor({1.0});
  x.set_requires_grad();
  Tensor y = sigmoid(x);
  BOOST_TEST(!y.is_leaf());
  BOOST_CHECK_EXCEPTION(y.set_requires_grad(false), GraphError, says("'sigmoid' made this tensor"));
}

BOOST_AUTO_TEST_CASE(undefined_tensors_say_so) {
  const Tensor x = tensor({1.0});
  BOOST_TEST(!x.grad().defined());
  BOOST_CHECK_EXCEPTION(x.grad().shape(), GraphError, says("undefined tensor"));
}

BOOST_AUTO_TEST_CASE(allclose_and_max_abs_diff_compare) {
  const Tensor a = tensor({1.0, 2.0}), b = tensor({1.0, 2.5});
  BOOST_TEST(max_abs_diff(a, b) == 0.5);
  BOOST_TEST(!allclose(a, b));
  BOOST_TEST(allclose(a, b, 0.0, 0.5));
  BOOST_CHECK_THROW(max_abs_diff(a, tensor({1.0})), ShapeError);
}

BOOST_AUTO_TEST_CASE(shapes_too_large_for_memory_are_rejected) {
  BOOST_CHECK_EXCEPTION(zeros({std::int64_t{1} << 32, std::int64_t{1} << 32}), ShapeError,
                        says("tensor: shape [4294967296, 4294967296] has too many elements"));
  BOOST_CHECK_THROW(zeros({INT64_MAX, 2}), ShapeError);
}

// A Budget counts the elements of every new tensor and every op recorded, views free, and
// past either limit the tensor or op is a BudgetError ending with the hint.
BOOST_AUTO_TEST_CASE(a_budget_counts_elements_and_ops_as_they_are_made) {
  const Tensor x = ones({2, 3}).set_requires_grad();
  {
    Budget budget({.elements = 20, .nodes = 2, .elements_hint = "ask for more"});
    const Tensor y = x * x;                   // 6 elements, 1 op
    const Tensor flat = reshape(y, {6});      // a view: no elements (and an op)
    BOOST_TEST(budget.elements_used() == 6);
    BOOST_TEST(budget.nodes_used() == 2);
    BOOST_CHECK_EXCEPTION(zeros({3, 5}), BudgetError,
                          says("tensor: a new tensor of shape [3, 5] would bring the elements "
                               "allocated to 21, more than the 20 allowed; ask for more"));
    BOOST_TEST(budget.elements_used() == 6);  // the refused one is not charged
    BOOST_CHECK_EXCEPTION(y + 1.0, BudgetError, says("ops recorded, more than the 2 allowed"));
    BOOST_CHECK_EXCEPTION(Budget({}), ValueError, says("another budget is in force"));
  }
  const Budget after({.elements = 1});  // the first one ended with its scope
  BOOST_CHECK_THROW(zeros({2}), BudgetError);
}

// Without a budget the fast paths test nothing of their own: a budget sends every tensor
// and op down the slow paths while it lasts (src/gradlab/core/budget.hpp). So each way of making one
// is charged, small or large, by empty_like (every op's output) or not, and an op of a
// list of inputs; a node of more tensors than it can count is refused either way.
BOOST_AUTO_TEST_CASE(a_budget_charges_every_way_of_making_a_tensor_and_an_op) {
  const Tensor x = ones({300}).set_requires_grad();  // 2400 bytes: a block of its own
  const std::vector<Tensor> too_many(256, x);
  BOOST_CHECK_EXCEPTION(concat(too_many), GraphError, says("concat: more than 255 inputs"));
  {
    Budget budget({});
    const Tensor large = zeros({300}), small = zeros({2});
    BOOST_TEST(budget.elements_used() == 302);
    const Tensor like = empty_like(x), like_small = empty_like(small);
    BOOST_TEST(budget.elements_used() == 604);
    const Tensor joined = concat({x, small.detach().set_requires_grad()});  // one op, two inputs
    BOOST_TEST(budget.nodes_used() == 1);
    BOOST_TEST(budget.elements_used() >= 906);
    BOOST_CHECK_EXCEPTION(concat(too_many), GraphError, says("concat: more than 255 inputs"));
  }
  const Tensor y = x * x;  // no budget: nothing counts, nothing is refused
  const Budget next({.elements = 302});
  BOOST_TEST(next.elements_used() == 0);
  const Tensor fits = zeros({300}), also = empty_like(zeros({1}));
  BOOST_TEST(next.elements_used() == 302);
  BOOST_CHECK_THROW(empty_like(x), BudgetError);
}

// A large block freed by its tensor is handed to the next tensor of its size class, already
// paged in; small ones and a cache turned off go back to the system.
BOOST_AUTO_TEST_CASE(large_blocks_are_reused) {
  const std::size_t limit = cache_limit();
  if (limit == 0) return;  // AddressSanitizer build: nothing is cached, by design
  set_cache_limit(0);      // start from an empty cache
  set_cache_limit(limit);
  const void* first = nullptr;
  {
    Tensor a = zeros({256, 256});  // 512 KiB
    first = a.data<double>();
  }
  BOOST_TEST(cached_bytes() >= 512u * 1024);
  Tensor b = ones({250, 260});  // 507 KiB: the same size class
  BOOST_TEST(static_cast<const void*>(b.data<double>()) == first);
  BOOST_TEST(cached_bytes() == 0u);
  BOOST_TEST(b.at({249, 259}) == 1.0);  // filled, not left as the old numbers
  {
    Tensor small = zeros({10});
  }
  BOOST_TEST(cached_bytes() == 0u);  // small blocks are not cached
  set_cache_limit(0);
  {
    Tensor c = zeros({256, 256});
  }
  BOOST_TEST(cached_bytes() == 0u);
  set_cache_limit(limit);
}
