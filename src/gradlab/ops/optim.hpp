// Optimizers: they update a list of parameters from the gradients backward() left in them.
//   SGD opt(params, 0.5);  …  loss.backward();  opt.step();  opt.zero_grad();
#pragma once

#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

class Optimizer {
 public:
  // Parameters must be leaves that require grad.
  explicit Optimizer(std::vector<Tensor> params);
  virtual ~Optimizer() = default;
  virtual void step() = 0;  // parameters without a gradient are left alone
  void zero_grad();  // clears every parameter's grad() (undefined, as before any backward)
  const std::vector<Tensor>& params() const { return params_; }

 protected:
  std::vector<Tensor> params_;
};

// Gradient descent, with optional momentum μ:  v ← μ·v + ∇,  p ← p − lr·v
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0);
  void step() override;

 private:
  double lr_, momentum_;
  std::vector<Tensor> velocity_;
};

// Adam (Kingma & Ba, 2015): running means of the gradient and its square, bias-corrected:
//   m ← β₁m + (1−β₁)∇,  v ← β₂v + (1−β₂)∇²,  p ← p − lr·m̂ / (√v̂ + ε)
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8);
  void step() override;

 private:
  double lr_, beta1_, beta2_, eps_;
  long steps_ = 0;
  std::vector<Tensor> m_, v_;
};

}  // namespace gradlab
