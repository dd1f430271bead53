#include "gradlab/ops/optim.hpp"

#include <cmath>

#include "gradlab/kernels/loops.hpp"

namespace gradlab {

namespace {

// Learning rates must be finite and positive; decay rates lie in [0, 1).
void check_positive(const char* op, const char* what, double value) {
  if (!(value > 0 && std::isfinite(value)))
    throw ValueError(std::string(op) + ": " + what + " = " + std::to_string(value) +
                     " must be a finite number above 0");
}
void check_decay(const char* op, const char* what, double value) {
  if (!(value >= 0 && value < 1))
    throw ValueError(std::string(op) + ": " + what + " = " + std::to_string(value) +
                     " must lie in [0, 1)");
}

std::vector<Tensor> zeros_for(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const Tensor& p : params) out.push_back(zeros_like(p));
  return out;
}

// Calls f(p, g, i) on the raw numbers of every parameter that has a gradient. The update
// changes the parameter in place, outside the graph (no node is recorded).
template <class F>
void for_each_update(const std::vector<Tensor>& params, F&& f) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    Tensor p = params[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    dispatch(p.dtype(), [&]<class T>(T) { f(p.data<T>(), g.data<T>(), p.numel(), i); });
  }
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const std::string who = "optimizer: parameter " + std::to_string(i) +
                            (p.defined() && !p.name().empty() ? " ('" + p.name() + "')" : "");
    if (!p.defined()) throw ValueError(who + " is undefined");
    if (!p.is_leaf() || !p.requires_grad())
      throw GraphError(who + " must be a leaf that requires grad (call set_requires_grad())");
    // The same numbers twice would take every step twice (lr doubled, Adam's moments fed
    // the gradient twice): a list mistake, refused rather than guessed at.
    for (std::size_t j = 0; j < i; ++j)
      if (params_[j].impl()->storage == p.impl()->storage)
        throw ValueError(who + " is parameter " + std::to_string(j) +
                         (params_[j].impl() == p.impl() ? " again"
                                                        : " again (a view of its numbers)") +
                         ": each step would update it twice; list every parameter once");
  }
}

// Undefined rather than zeros (as PyTorch's set_to_none): the next backward then stores its
// gradient as it is, instead of allocating zeros, adding to them and paging in both.
void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.reset_grad();
}

SGD::SGD(std::vector<Tensor> params, double lr, double momentum)
    : Optimizer(std::move(params)), lr_(lr), momentum_(momentum) {
  check_positive("SGD", "lr", lr);
  check_decay("SGD", "momentum", momentum);
  if (momentum_ > 0) velocity_ = zeros_for(params_);
}

void SGD::step() {
  for_each_update(params_, [&]<class T>(T* p, const T* g, std::int64_t n, std::size_t i) {
    // In the parameters' own precision, so that the loops vectorise.
    const T lr = static_cast<T>(lr_), momentum = static_cast<T>(momentum_);
    T* v = momentum_ == 0 ? nullptr : velocity_[i].data<T>();
    kernels::for_each_piece(n, [&](std::int64_t begin, std::int64_t end) {
      if (!v) {
        for (std::int64_t j = begin; j < end; ++j) p[j] -= lr * g[j];
        return;
      }
      for (std::int64_t j = begin; j < end; ++j) {
        v[j] = momentum * v[j] + g[j];
        p[j] -= lr * v[j];
      }
    });
  });
}

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps)
    : Optimizer(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps) {
  check_positive("Adam", "lr", lr);
  check_decay("Adam", "beta1", beta1);
  check_decay("Adam", "beta2", beta2);
  check_positive("Adam", "eps", eps);
  m_ = zeros_for(params_);
  v_ = zeros_for(params_);
}

void Adam::step() {
  ++steps_;
  const double correct1 = 1 - std::pow(beta1_, steps_), correct2 = 1 - std::pow(beta2_, steps_);
  for_each_update(params_, [&]<class T>(T* p, const T* g, std::int64_t n, std::size_t i) {
    T* m = m_[i].data<T>();
    T* v = v_[i].data<T>();
    for (std::int64_t j = 0; j < n; ++j) {
      m[j] = static_cast<T>(beta1_ * m[j] + (1 - beta1_) * g[j]);
      v[j] = static_cast<T>(beta2_ * v[j] + (1 - beta2_) * g[j] * g[j]);
      const double m_hat = m[j] / correct1, v_hat = v[j] / correct2;
      p[j] -= static_cast<T>(lr_ * m_hat / (std::sqrt(v_hat) + eps_));
    }
  });
}

}  // namespace gradlab
