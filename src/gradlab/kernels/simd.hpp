// SIMD helpers for the float32 convolution kernels (src/gradlab/kernels/conv_direct.cpp,
// src/gradlab/kernels/conv_winograd.cpp). The library is compiled for plain x86-64 (SSE2); the kernels are
// compiled again for wider registers with [[gnu::target]], and picked at run time by what
// this CPU has (simd::widest()).
#pragma once

#include <cstdint>

namespace gradlab::kernels::simd {

// Simd<W>::V is one SIMD register of W floats as a value (GCC's vector extension):
// arithmetic on it works lane by lane. aligned(4): a run may start at any float. (The
// kernels take W, not the type, as template argument: a type argument would lose the
// alignment attribute.)
template <int W>
struct Simd {
  typedef float V __attribute__((vector_size(W * sizeof(float)), aligned(sizeof(float))));
};

// The run of W floats at p, p + 1, …
template <int W>
[[gnu::always_inline]] inline const typename Simd<W>::V& load(const float* p) {
  return *reinterpret_cast<const typename Simd<W>::V*>(p);
}
// Stores the first n lanes of v at p, p + 1, … (all W when n ≥ W, none when n ≤ 0).
template <int W>
[[gnu::always_inline]] inline void store(float* p, const typename Simd<W>::V& v, std::int64_t n) {
  if (n >= W)
    *reinterpret_cast<typename Simd<W>::V*>(p) = v;
  else
    for (int l = 0; l < W; ++l)  // lane by lane: v[l] with l known when compiled
      if (l < n) p[l] = v[l];
}

inline std::int64_t round_up(std::int64_t v, std::int64_t m) { return (v + m - 1) / m * m; }

// The widest register this CPU has, in floats: 16 (AVX-512), 8 (AVX2 with FMA) or 4 (SSE2).
inline int widest() {
  static const int lanes = [] {
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
    return 4;
  }();
  return lanes;
}

}  // namespace gradlab::kernels::simd
