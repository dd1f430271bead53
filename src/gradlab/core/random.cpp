// Random tensors: a Generator of our own (splitmix64 and Box–Muller), so that the same
// seed gives the same numbers on every machine and standard library.
#include <cmath>
#include <numbers>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

Generator::Generator(std::uint64_t s) { seed(s); }

void Generator::seed(std::uint64_t s) {
  state_ = s;
  has_spare_ = false;
}

// splitmix64: small, fast, and the same on every platform.
double Generator::uniform() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Box–Muller: two uniforms give two independent standard normals.
  const double u1 = 1.0 - uniform();  // in (0, 1], so log is finite
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2 * std::numbers::pi * u2);
  has_spare_ = true;
  return r * std::cos(2 * std::numbers::pi * u2);
}

Generator& default_generator() {
  static thread_local Generator gen(0);
  return gen;
}
void manual_seed(std::uint64_t seed) { default_generator().seed(seed); }

namespace {
template <class Draw>
Tensor random(const Shape& shape, DType dtype, Draw draw) {
  Tensor t = empty(shape, dtype);
  dispatch(dtype, [&]<class T>(T) {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}
}  // namespace

Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  return random(shape, dtype, [&] { return gen.normal(); });
}
Tensor randn(const Shape& shape, DType dtype) { return randn(shape, default_generator(), dtype); }
Tensor rand(const Shape& shape, Generator& gen, DType dtype) {
  return random(shape, dtype, [&] { return gen.uniform(); });
}
Tensor rand(const Shape& shape, DType dtype) { return rand(shape, default_generator(), dtype); }

}  // namespace gradlab
