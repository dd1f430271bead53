// src/gradlab/kernels/loops.hpp's fast paths against their reference loops: reduce_to and binary_map
// over blocks (one operand repeated along one run of axes of the other) against the general
// strided loops, and the vectorised e^x of each instruction set against fast_exp itself,
// float32 and float64, on many shapes, with empty and size-1 axes. The general loops are
// checked in turn against an index computation written out here, element by element.
#define BOOST_TEST_MODULE kernels
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include "gradlab/kernels/loops.hpp"
#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// Every shape x of rank ≤ 3 with sizes from {0, 1, 2, 3, 9} in one axis at a time and
// {1, 3} elsewhere, plus a few larger ones: with each, every `part` made by setting some of
// its axes to 1 and dropping some leading ones.
std::vector<Shape> wholes() {
  std::vector<Shape> out = {{}, {7}, {0}, {1}, {4, 33}, {33, 4}, {2, 3, 17}, {64, 256}, {19, 40},
                            {3, 1, 5}, {1, 9, 1}, {2, 0, 3}, {5, 4, 3, 2}, {2, 1, 3, 1, 4}};
  for (const std::int64_t size : {0, 1, 2, 3, 9})
    for (std::size_t rank = 1; rank <= 3; ++rank)
      for (std::size_t at = 0; at < rank; ++at) {
        Shape s(rank, 3);
        s[at] = size;
        out.push_back(s);
        if (rank > 1) {
          s[(at + 1) % rank] = 1;
          out.push_back(s);
        }
      }
  return out;
}

std::vector<Shape> parts_of(const Shape& whole) {
  std::vector<Shape> out;
  const std::size_t d = whole.size();
  for (std::uint32_t mask = 0; mask < (1u << d); ++mask) {
    Shape p = whole;
    for (std::size_t k = 0; k < d; ++k)
      if (mask >> k & 1) p[k] = 1;
    for (std::size_t drop = 0; drop <= d; ++drop) {
      bool ones = true;  // only leading axes of size 1 may be dropped
      for (std::size_t k = 0; k < drop; ++k) ones &= p[k] == 1;
      if (ones) out.emplace_back(p.begin() + static_cast<std::ptrdiff_t>(drop), p.end());
    }
  }
  return out;
}

// Random numbers with ties and signs, in x's dtype.
Tensor numbers(const Shape& shape, DType dtype, Generator& gen) {
  std::vector<double> v(static_cast<std::size_t>(numel(shape)));
  for (double& e : v) e = std::round(gen.uniform() * 16 - 8) / 4 + gen.uniform() * 1e-3;
  return from_vector(v, shape, dtype);
}

// The flat index into `part` of position i of `whole` (part broadcast to whole), worked
// out from the row-major digits of i: the plainest statement of broadcasting.
std::int64_t source_of(std::int64_t i, const Shape& whole, const Shape& part) {
  std::int64_t index = 0, stride = 1;
  for (std::size_t k = whole.size(); k-- > 0;) {
    const std::int64_t digit = i % whole[k];
    i /= whole[k];
    const std::size_t lead = whole.size() - part.size();
    if (k >= lead) {
      const std::int64_t size = part[k - lead];
      if (size != 1) index += digit * stride;
      stride *= size;
    }
  }
  return index;
}

const auto plus = [](auto s, auto v) { return s + v; };
const auto larger = [](auto m, auto v) { return v > m || v != v ? v : m; };
const auto smaller = [](auto m, auto v) { return v < m ? v : m; };

}  // namespace

BOOST_AUTO_TEST_CASE(blocks_of_known_shapes) {
  const auto blocks = [](const Shape& whole, const Shape& part) {
    const std::optional<kernels::Blocks> b = kernels::blocks_of(whole, part);
    return b ? Shape{b->outer, b->middle, b->inner} : Shape{-1};
  };
  BOOST_TEST(blocks({64, 256}, {64, 1}) == Shape({64, 256, 1}));  // a row's maximum
  BOOST_TEST(blocks({64, 256}, {256}) == Shape({1, 64, 256}));    // a bias row
  BOOST_TEST(blocks({64, 256}, {1, 256}) == Shape({1, 64, 256}));
  BOOST_TEST(blocks({2, 3, 4}, {2, 1, 4}) == Shape({2, 3, 4}));
  BOOST_TEST(blocks({2, 3, 4, 5}, {2, 1, 1, 5}) == Shape({2, 12, 5}));
  BOOST_TEST(blocks({2, 1, 4}, {2, 1, 1}) == Shape({2, 4, 1}));  // size-1 axes pass
  BOOST_TEST(blocks({5}, {}) == Shape({1, 5, 1}));                // a scalar
  BOOST_TEST(blocks({3, 4}, {3, 4}) == Shape({12, 1, 1}));       // nothing repeated
  BOOST_TEST(blocks({2, 0, 3}, {2, 1, 3}) == Shape({2, 0, 3}));
  BOOST_TEST(blocks({4, 3, 5}, {1, 3, 1}) == Shape({-1}));  // repeated along two runs
  BOOST_TEST(blocks({4, 3}, {4, 3, 1}) == Shape({-1}));     // part has more axes
  BOOST_TEST(blocks({4, 3}, {2, 3}) == Shape({-1}));        // does not broadcast
}

// The general loops themselves, against the index worked out digit by digit.
BOOST_AUTO_TEST_CASE(general_loops_broadcast_as_numpy) {
  Generator gen(1);
  for (const Shape& whole : wholes())
    for (const Shape& part : parts_of(whole)) {
      const Tensor w = numbers(whole, DType::float64, gen), p = numbers(part, DType::float64, gen);
      const std::vector<double> wv = w.values(), pv = p.values();
      const std::vector<double> mapped =
          kernels::binary_map_reference("test", w, p, [](auto a, auto b) { return 2 * a - b; }).values();
      std::vector<double> totals(pv.size(), 0.0);
      bool same = mapped.size() == wv.size();
      for (std::size_t i = 0; same && i < wv.size(); ++i) {
        const auto j = static_cast<std::size_t>(source_of(static_cast<std::int64_t>(i), whole, part));
        same = mapped[i] == 2 * wv[i] - pv[j];
        totals[j] += wv[i];
      }
      BOOST_TEST(same, "binary_map_reference " << to_string(whole) << " with " << to_string(part));
      BOOST_TEST(kernels::reduce_to_reference(w, part, 0.0, plus).values() == totals,
                 "reduce_to_reference " << to_string(whole) << " to " << to_string(part));
    }
}

BOOST_AUTO_TEST_CASE(reduce_to_agrees_with_the_general_loop) {
  Generator gen(2);
  int compared = 0;
  for (const DType dtype : {DType::float32, DType::float64})
    for (const Shape& whole : wholes())
      for (const Shape& part : parts_of(whole)) {
        const Tensor x = numbers(whole, dtype, gen);
        const auto name = [&] { return to_string(whole) + " to " + to_string(part) + " " + to_string(dtype); };
        // Each output's elements combined in the general loop's order: equal to the last
        // bit, sums too; except everything into one number, which folds in eight running
        // totals (as it always has) and so differs in a sum's last bits.
        const bool one_number = numel(part) == 1;
        BOOST_TEST(kernels::reduce_to(x, part, -INFINITY, larger).values() ==
                       kernels::reduce_to_reference(x, part, -INFINITY, larger).values(),
                   "max " << name());
        BOOST_TEST(kernels::reduce_to(x, part, INFINITY, smaller).values() ==
                       kernels::reduce_to_reference(x, part, INFINITY, smaller).values(),
                   "min " << name());
        const std::vector<double> fast = kernels::reduce_to(x, part, 0.0, plus).values();
        const std::vector<double> plain = kernels::reduce_to_reference(x, part, 0.0, plus).values();
        BOOST_TEST_REQUIRE(fast.size() == plain.size());
        if (!one_number) BOOST_TEST(fast == plain, "sum " << name());
        const double tol = dtype == DType::float32 ? 1e-5 : 1e-13;
        for (std::size_t i = 0; one_number && i < fast.size(); ++i)
          BOOST_TEST(std::abs(fast[i] - plain[i]) <= tol * (1 + std::abs(plain[i]) + x.numel()),
                     "sum " << name() << ": " << fast[i] << " vs " << plain[i]);
        ++compared;
      }
  BOOST_TEST(compared > 500);
}

BOOST_AUTO_TEST_CASE(reduce_to_keeps_nan_and_infinities) {
  const Tensor x = tensor({{1.0, NAN, 3.0}, {INFINITY, 2.0, -INFINITY}});
  const std::vector<double> m = kernels::reduce_to(x, {2, 1}, -INFINITY, larger).values();
  BOOST_TEST(std::isnan(m[0]));
  BOOST_TEST(m[1] == INFINITY);
  const std::vector<double> s = kernels::reduce_to(x, {2, 1}, 0.0, plus).values();
  BOOST_TEST(std::isnan(s[0]));
  BOOST_TEST(std::isnan(s[1]));  // ∞ + (−∞)
  BOOST_TEST(kernels::reduce_to(zeros({3, 0}), {3, 1}, 0.0, plus).values() == std::vector<double>(3, 0.0));
}

BOOST_AUTO_TEST_CASE(binary_map_agrees_with_the_general_loop) {
  Generator gen(3);
  const auto f = [](auto a, auto b) { return 2 * a - b; };  // not symmetric: the order shows
  for (const DType dtype : {DType::float32, DType::float64})
    for (const Shape& whole : wholes())
      for (const Shape& part : parts_of(whole)) {
        const Tensor w = numbers(whole, dtype, gen), p = numbers(part, dtype, gen);
        const auto name = [&] { return to_string(whole) + " with " + to_string(part) + " " + to_string(dtype); };
        const Tensor wp = kernels::binary_map("test", w, p, f), pw = kernels::binary_map("test", p, w, f);
        BOOST_TEST(wp.shape() == kernels::binary_map_reference("test", w, p, f).shape(), name());
        BOOST_TEST(wp.values() == kernels::binary_map_reference("test", w, p, f).values(), name());
        BOOST_TEST(pw.values() == kernels::binary_map_reference("test", p, w, f).values(), name());
      }
  // Both operands repeated (an outer sum) take the general loop, and agree with it.
  const Tensor column = tensor({{1.0}, {2.0}}), row = tensor({{10.0, 20.0, 30.0}});
  BOOST_TEST(kernels::binary_map("test", column, row, f).values() ==
             std::vector<double>({-8, -18, -28, -6, -16, -26}));
}

// Each copy of the vectorised loop this CPU can run gives fast_exp's bits, at every length
// up to a few registers (the tails), on ordinary numbers, infinities, NaN, denormal results
// and the clamps.
BOOST_AUTO_TEST_CASE(exp_floats_gives_fast_exp_bits_in_every_copy) {
  std::vector<float> in = {0.0f, -0.0f, 1.0f, -1.0f, 88.7f, 88.73f, 100.0f, -87.0f, -100.0f,
                           -103.9f, -104.5f, -200.0f, INFINITY, -INFINITY, NAN, 1e-30f, 0.5f};
  for (int i = 0; i < 200; ++i) in.push_back(std::ldexp(static_cast<float>(i * 37 % 101) - 50, -(i % 5)) * 1.7f);
  std::vector<int> widths = {4};
  if (__builtin_cpu_supports("avx2")) widths.push_back(8);
  if (__builtin_cpu_supports("avx512f")) widths.push_back(16);
  BOOST_TEST_MESSAGE("exp_floats: copies for widths " << widths.size());
  for (const int width : widths)
    for (std::size_t n = 0; n <= in.size(); n += n < 40 ? 1 : 17) {
      std::vector<float> out(n, 7.0f), inplace(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
      kernels::exp_floats(in.data(), out.data(), static_cast<std::int64_t>(n), width);
      kernels::exp_floats(inplace.data(), inplace.data(), static_cast<std::int64_t>(n), width);
      bool same = true;
      for (std::size_t i = 0; i < n; ++i) {
        const auto bits = std::bit_cast<std::uint32_t>(kernels::fast_exp(in[i]));
        same &= std::bit_cast<std::uint32_t>(out[i]) == bits && std::bit_cast<std::uint32_t>(inplace[i]) == bits;
      }
      BOOST_TEST(same, "width " << width << ", length " << n);
    }
}

BOOST_AUTO_TEST_CASE(exp_into_float32_and_float64) {
  Generator gen(4);
  for (const Shape& shape : {Shape{}, Shape{0}, Shape{3, 5}, Shape{300, 300}}) {  // 90000: two threads
    const Tensor x = numbers(shape, DType::float32, gen) * 10.0;
    Tensor y = empty_like(x);
    kernels::exp_into(x, y);
    const std::vector<double> xv = x.values(), yv = y.values();
    bool same = true;
    for (std::size_t i = 0; i < xv.size(); ++i)
      same &= static_cast<float>(yv[i]) == kernels::fast_exp(static_cast<float>(xv[i]));
    BOOST_TEST(same, to_string(shape));
    const Tensor d = to(x, DType::float64);
    Tensor e = empty_like(d);
    kernels::exp_into(d, e);
    const std::vector<double> ev = e.values();
    bool exact = true;
    for (std::size_t i = 0; i < xv.size(); ++i) exact &= ev[i] == std::exp(xv[i]);
    BOOST_TEST(exact, to_string(shape));
  }
}
