// The pieces of network layers: the activations sin, cos, leaky_relu, elu, gelu, softplus;
// layer_norm and batch_norm (made of mean, sub, pow, sqrt, div: their gradients come from
// those ops); dropout with a reproducible mask; embedding, the rows of a table picked by
// index (W[idx]).
#pragma once

#include <cstdint>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

Tensor sin(const Tensor& x, Here where = Here::current());
Tensor cos(const Tensor& x, Here where = Here::current());

// x where x > 0, slope · x elsewhere (torch's default slope 0.01).
Tensor leaky_relu(const Tensor& x, double slope = 0.01, Here where = Here::current());

// x where x > 0, α(eˣ − 1) elsewhere (torch's default α = 1).
Tensor elu(const Tensor& x, double alpha = 1.0, Here where = Here::current());

// x · Φ(x), Φ the standard normal CDF ½(1 + erf(x/√2)): the exact (erf) form, torch's
// default, not the tanh approximation.
Tensor gelu(const Tensor& x, Here where = Here::current());

// ln(1 + eˣ), computed as max(x, 0) + ln(1 + e^(−|x|)) so that it neither overflows nor
// loses x's digits. (torch returns x itself above x = 20, where the two differ by
// e^(−20) ≈ 2·10⁻⁹.)
Tensor softplus(const Tensor& x, Here where = Here::current());

// Normalises each row along the last axis: (x − mean) / √(var + eps) (the biased
// variance), then · gamma + beta, both of the last axis's size [D]. gamma or beta may be
// left undefined (Tensor()): no scale, no shift.
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps = 1e-5,
                  Here where = Here::current());

// Normalises with the batch's own statistics (training mode): over axis 0 of [N, D], or
// over N, H and W of [N, C, H, W], with the biased variance; then · gamma + beta, both [D]
// or [C]. At least two values per feature or channel, as torch.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps = 1e-5,
                  Here where = Here::current());

// Each element kept with probability 1 − p and scaled by 1 / (1 − p), or set to 0: the
// mask drawn from Generator(seed) (or from gen), one uniform number per element in
// row-major order, so the same seed gives the same mask. p must be in [0, 1).
Tensor dropout(const Tensor& x, double p, std::uint64_t seed = 0, Here where = Here::current());
Tensor dropout(const Tensor& x, double p, Generator& gen, Here where = Here::current());

// W[idx]: for a table W [V, D] and indices of any shape S (a float tensor of whole numbers
// 0 … V − 1), the rows they pick, [S…, D]. The gradient adds G's rows back into the rows
// picked, a row picked twice getting both. A bad index is an IndexError.
Tensor embedding(const Tensor& weight, const Tensor& indices, Here where = Here::current());

}  // namespace gradlab
