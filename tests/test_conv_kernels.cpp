// The convolution kernels themselves, below the op: every fast path (direct loops, Winograd,
// im2col + GEMM) against the sliding-window reference kernel, on random geometries.
#define BOOST_TEST_MODULE conv_kernels
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <gradlab/gradlab.hpp>
#include <string>
#include <vector>

#include "gradlab/kernels/conv_kernels.hpp"
#include "gradlab/kernels/conv_winograd.hpp"
#include "gradlab/kernels/simd.hpp"
#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

std::int64_t pick(Generator& gen, std::int64_t lo, std::int64_t hi) {
  const auto k = static_cast<std::int64_t>(gen.uniform() * static_cast<double>(hi - lo + 1));
  return std::min(hi, lo + k);
}

std::string describe(const kernels::ConvGeometry& g) {
  return "N " + std::to_string(g.batch) + ", C " + std::to_string(g.in_channels) + ", image " +
         std::to_string(g.height) + "x" + std::to_string(g.width) + ", O " +
         std::to_string(g.out_channels) + ", kernel " + std::to_string(g.kernel_h) + "x" +
         std::to_string(g.kernel_w) + ", out " + std::to_string(g.out_h) + "x" +
         std::to_string(g.out_w) + ", stride " + std::to_string(g.stride_h) + "," +
         std::to_string(g.stride_w) + ", pad " + std::to_string(g.pad_h) + "," +
         std::to_string(g.pad_w) + ", dilation " + std::to_string(g.dilation_h) + "," +
         std::to_string(g.dilation_w) + ", groups " + std::to_string(g.groups);
}

// Fills in out_h and out_w with oH = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1; false when the output
// would be empty (the kernel reaches past the padded image).
bool complete(kernels::ConvGeometry& g) {
  const std::int64_t rows = g.height + 2 * g.pad_h - g.dilation_h * (g.kernel_h - 1) - 1;
  const std::int64_t cols = g.width + 2 * g.pad_w - g.dilation_w * (g.kernel_w - 1) - 1;
  if (rows < 0 || cols < 0) return false;
  g.out_h = rows / g.stride_h + 1;
  g.out_w = cols / g.stride_w + 1;
  return true;
}

// max |fast − reference| ≤ rtol · max(1, max |reference|)
template <class T>
void check_agree(const std::vector<T>& fast, const std::vector<T>& ref, double rtol) {
  double diff = 0, scale = 1;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    diff = std::max(diff, std::abs(double(fast[i]) - double(ref[i])));
    scale = std::max(scale, std::abs(double(ref[i])));
  }
  BOOST_TEST(diff <= rtol * scale, "max |fast − reference| = " << diff << ", scale " << scale);
}

// Runs the three fast kernels and the three reference kernels on the same random numbers.
// Outputs start as garbage: every kernel must overwrite its output.
template <class T>
void compare_kernels(const kernels::ConvGeometry& g, Generator& gen, DType dtype, double rtol) {
  const Shape xs{g.batch, g.in_channels, g.height, g.width};
  const Shape ws{g.out_channels, g.in_channels / g.groups, g.kernel_h, g.kernel_w};
  const Shape ys{g.batch, g.out_channels, g.out_h, g.out_w};
  const Tensor x = randn(xs, gen, dtype), w = randn(ws, gen, dtype), gy = randn(ys, gen, dtype);
  const auto buffer = [](const Shape& s, double fill) {
    return std::vector<T>(static_cast<std::size_t>(numel(s)), T(fill));
  };
  {
    std::vector<T> fast = buffer(ys, 777), ref = buffer(ys, -777);
    kernels::conv2d_forward(x.data<T>(), w.data<T>(), fast.data(), g);
    kernels::reference::conv2d_forward(x.data<T>(), w.data<T>(), ref.data(), g);
    BOOST_TEST_CONTEXT("conv2d_forward") { check_agree(fast, ref, rtol); }
  }
  {
    std::vector<T> fast = buffer(xs, 777), ref = buffer(xs, -777);
    kernels::conv2d_input_grad(gy.data<T>(), w.data<T>(), fast.data(), g);
    kernels::reference::conv2d_input_grad(gy.data<T>(), w.data<T>(), ref.data(), g);
    BOOST_TEST_CONTEXT("conv2d_input_grad") { check_agree(fast, ref, rtol); }
  }
  {
    std::vector<T> fast = buffer(ws, 777), ref = buffer(ws, -777);
    kernels::conv2d_weight_grad(x.data<T>(), gy.data<T>(), fast.data(), g);
    kernels::reference::conv2d_weight_grad(x.data<T>(), gy.data<T>(), ref.data(), g);
    BOOST_TEST_CONTEXT("conv2d_weight_grad") { check_agree(fast, ref, rtol); }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(fast_kernels_agree_with_the_reference_kernels) {
  // The fast kernels (im2col + GEMM, and the direct ones) must give the numbers of the
  // sliding-window loops. A few awkward geometries written out, then random ones: odd sizes,
  // strides 1–3, dilation 1–2, padding 0–2 (more than the kernel reaches, sometimes: whole
  // rows of padding), groups 1–3.
  // (oH and oW are left 0 here and worked out by complete().)
  //                                 N  C  H  W  O kH kW oH oW sH sW pH pW dH dW groups
  std::vector<kernels::ConvGeometry> geometries = {
      {1, 1, 7, 5, 1, 3, 2, 0, 0, 1, 1, 0, 0, 1, 1, 1},
      {2, 3, 7, 5, 2, 3, 2, 0, 0, 2, 1, 1, 0, 1, 2, 1},
      {3, 6, 7, 5, 3, 3, 2, 0, 0, 3, 2, 2, 1, 2, 1, 3},
      {2, 4, 5, 7, 4, 2, 3, 0, 0, 1, 3, 2, 2, 2, 2, 2},
      {1, 2, 1, 1, 2, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1},
      {1, 1, 3, 3, 1, 3, 3, 0, 0, 1, 1, 2, 2, 1, 1, 1},  // corners read 5 of 9 taps in padding
      {2, 2, 2, 6, 2, 1, 1, 0, 0, 3, 3, 2, 2, 1, 1, 2},  // 1×1 kernel reading mostly padding
      // float32, stride 1, dilation 1: the direct kernels (src/gradlab/kernels/conv_direct.hpp), on several
      // threads when the batch has several images.
      {3, 3, 9, 33, 5, 3, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1},   // rows wider than a SIMD register
      {2, 4, 7, 16, 6, 3, 2, 0, 0, 1, 1, 0, 2, 1, 1, 2},   // groups, width exactly 16
      {4, 3, 32, 32, 16, 3, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1},  // the benchmark's layer, 4 images
      {2, 2, 5, 20, 3, 2, 3, 0, 0, 1, 1, 3, 3, 1, 1, 1},   // padding beyond the kernel's reach
      {2, 130, 4, 4, 2, 3, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1},  // 1170 taps: back to im2col + GEMM
  };
  // float32, 3×3, stride 1, 8 channels or more: Winograd's F(2×2, 3×3) for all three
  // (src/gradlab/kernels/conv_winograd.hpp), where it applies on this CPU. Odd sizes leave half tiles at the
  // edges; 9 and 13 channels do not fill whole blocks of 4.
  const std::vector<kernels::ConvGeometry> winograd_geometries = {
      {2, 8, 7, 9, 9, 3, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1},     // odd height and width
      {1, 13, 5, 40, 8, 3, 3, 0, 0, 1, 1, 0, 0, 1, 1, 1},   // no padding; rows of 19 tiles
      {3, 9, 6, 6, 16, 3, 3, 0, 0, 1, 1, 2, 3, 1, 1, 1},    // padding beyond the kernel's reach
      {2, 8, 3, 1, 8, 3, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1},     // one column
      {2, 8, 20, 20, 12, 3, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1},  // 160 tiles: 2½ blocks of 64
      {0, 8, 5, 5, 8, 3, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1},     // no images: ∂w is all zeros
      {4, 16, 32, 32, 32, 3, 3, 0, 0, 1, 1, 1, 1, 1, 1, 1},  // the benchmark's layer, 4 images
  };
  for (kernels::ConvGeometry g : winograd_geometries) {
    BOOST_TEST_REQUIRE(complete(g));
    BOOST_TEST_CONTEXT(describe(g)) {
      BOOST_TEST(kernels::winograd::suits(g) == (kernels::simd::widest() >= 8));
    }
    geometries.push_back(g);
  }
  Generator numbers(72);
  const auto compare_both = [&numbers](const kernels::ConvGeometry& g) {
    BOOST_TEST_CONTEXT(describe(g)) {
      BOOST_TEST_CONTEXT("float64") { compare_kernels<double>(g, numbers, DType::float64, 1e-12); }
      BOOST_TEST_CONTEXT("float32") { compare_kernels<float>(g, numbers, DType::float32, 1e-4); }
    }
  };
  for (kernels::ConvGeometry& g : geometries) {
    BOOST_TEST_REQUIRE(complete(g));
    compare_both(g);
  }
  // 40 random geometries whose output is not empty (the others are skipped: the kernel does
  // not fit, so there is nothing to compute).
  Generator shapes(71);
  int tested = 0;
  for (int attempt = 0; attempt < 1000 && tested < 40; ++attempt) {
    kernels::ConvGeometry g{};
    g.groups = pick(shapes, 1, 3);
    g.batch = pick(shapes, 1, 3);
    g.in_channels = g.groups * pick(shapes, 1, 2);
    g.out_channels = g.groups * pick(shapes, 1, 2);
    g.height = pick(shapes, 1, 9);
    g.width = pick(shapes, 1, 9);
    g.kernel_h = pick(shapes, 1, 3);
    g.kernel_w = pick(shapes, 1, 3);
    g.stride_h = pick(shapes, 1, 3);
    g.stride_w = pick(shapes, 1, 3);
    g.pad_h = pick(shapes, 0, 2);
    g.pad_w = pick(shapes, 0, 2);
    g.dilation_h = pick(shapes, 1, 2);
    g.dilation_w = pick(shapes, 1, 2);
    if (!complete(g)) continue;
    ++tested;
    compare_both(g);
  }
  BOOST_TEST(tested == 40);
}

