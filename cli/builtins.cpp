// The expression language, fourth job: the functions a formula may call, each bound to a
// gradlab op, with the help text `gradlab --help` prints.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "cli/evaluator.hpp"
#include "cli/syntax.hpp"
#include "gradlab/core/errors.hpp"
#include "gradlab/core/graph.hpp"
#include "gradlab/ops/registry.hpp"
#include "gradlab/ops/compare.hpp"
#include "gradlab/ops/conv.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/indexing.hpp"
#include "gradlab/ops/join.hpp"
#include "gradlab/ops/layers.hpp"
#include "gradlab/ops/linalg.hpp"
#include "gradlab/ops/loss.hpp"
#include "gradlab/ops/matmul.hpp"
#include "gradlab/ops/pad.hpp"
#include "gradlab/ops/pool.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/reductions.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab::cli {

namespace detail {

namespace {

// (Each op takes the caller's place as a last argument; here that is this line.)
Value unary_op(Tensor (*op)(const Tensor&, Here), Arguments& a) {
  return op(a.tensor("x"), Here::current());
}

Conv2dOptions conv_options(Arguments& a) {
  return Conv2dOptions{.stride = a.pair("stride", 1),
                       .padding = a.pair("padding", 0),
                       .dilation = a.pair("dilation", 1),
                       .groups = a.integer("groups", 1),
                       .padding_mode = a.pad_mode("padding_mode")};
}

Pool2dOptions pool_options(Arguments& a) {
  return Pool2dOptions{.stride = a.pair("stride", 0), .padding = a.pair("padding", 0)};
}

// (H + 2·padding) · (W + 2·padding) of the last two axes: the positions a window can take.
double padded_area(const Tensor& x, Pair padding) {
  const Shape& s = x.shape();
  if (s.size() < 2) return static_cast<double>(x.numel());
  return (static_cast<double>(s[s.size() - 2]) + 2 * std::abs(static_cast<double>(padding.h))) *
         (static_cast<double>(s[s.size() - 1]) + 2 * std::abs(static_cast<double>(padding.w)));
}

// The size of axis `axis` of a 4-D tensor, 1 for a 2-D one (conv2d takes both).
double axis_or_one(const Tensor& x, std::size_t axis) {
  return x.shape().size() == 4 ? static_cast<double>(x.shape()[axis]) : 1;
}

void limit_work(Arguments& a, const char* parameter, double work) {
  if (work > max_work) a.fail(a.expr(parameter), too_much_work(work));
}

// conv2d and convolve2d: N · (H + 2p)(W + 2p) · O·C·kH·kW.
Value convolution(Arguments& a, bool flipped) {
  const Tensor input = a.tensor("input"), weight = a.tensor("weight");
  const Conv2dOptions options = conv_options(a);
  limit_work(a, "input",
             axis_or_one(input, 0) * padded_area(input, options.padding) * weight.numel());
  const Tensor bias = a.optional_tensor("bias");
  return flipped ? convolve2d(input, weight, bias, options) : conv2d(input, weight, bias, options);
}

// max_pool2d and avg_pool2d: N·C · (H + 2p)(W + 2p) · kH·kW.
Value pooling(Arguments& a, bool max) {
  const Tensor x = a.tensor("x");
  const Pair kernel = a.pair("kernel", 1);
  const Pool2dOptions options = pool_options(a);
  const double images = padded_area(x, 0) > 0 ? x.numel() / padded_area(x, 0) : 0;
  limit_work(a, "x",
             images * padded_area(x, options.padding) * std::abs(static_cast<double>(kernel.h)) *
                 std::abs(static_cast<double>(kernel.w)));
  return max ? max_pool2d(x, kernel, options) : avg_pool2d(x, kernel, options);
}

// inverse, det, solve and each matmul of matrix_power: about n³ for each matrix of a batch.
void limit_cubic(Arguments& a, const char* parameter, const Tensor& x, double times = 1) {
  const double n = x.dim() >= 2 ? static_cast<double>(x.shape().back()) : 0;
  const double batch = x.dim() == 3 ? static_cast<double>(x.shape()[0]) : 1;
  limit_work(a, parameter, batch * n * n * n * times);
}

// grad(of, wrt): ∂(of)/∂(wrt), recorded with create_graph so that it can be differentiated
// again: sum(grad(sum(sigmoid(x)), x)) differentiated by x is σ''(x).
Value gradient(Arguments& a) {
  const Tensor of = a.tensor("of");
  const Expr& wrt_expr = a.expr("wrt");
  if (wrt_expr.kind != Expr::Kind::name)
    a.fail(wrt_expr, "the second argument must be the name of an input or a step, as in "
                     "grad(sum(y), x)");
  const Tensor wrt = a.tensor("wrt");
  if (!wrt.requires_grad())
    a.fail(wrt_expr, "'" + wrt_expr.text +
                         "' is a constant: nothing is differentiated with respect to it "
                         "(move it to \"inputs\")");
  if (of.numel() != 1)
    a.fail(a.expr("of"), "the first argument must be a single number (wrap it in sum(…)); it "
                         "has shape " + to_string(of.shape()));
  if (!of.requires_grad()) return zeros_like(wrt);  // it does not depend on wrt at all
  return grad({of}, {wrt}, {.create_graph = true})[0];
}

// var's and std's options: all elements without axis=…; unbiased unless unbiased=false.
Spread spread(Arguments& a) {
  Spread o;
  if (a.has("axis")) o.axis = a.integer("axis");
  o.keepdim = a.flag("keepdim", false);
  o.unbiased = a.flag("unbiased", true);
  return o;
}

// sum and mean: of all elements, along one axis, or along a list of them (axis=[0, 2]).
Value sum_or_mean(Arguments& a, bool mean_of) {
  const Tensor x = a.tensor("x");
  if (!a.has("axis")) return mean_of ? mean(x) : sum(x);
  const bool keepdim = a.flag("keepdim", false);
  if (a.expr("axis").kind == Expr::Kind::list) {
    const Shape listed = a.sizes("axis");
    const std::vector<std::int64_t> axes(listed.begin(), listed.end());
    return mean_of ? mean(x, axes, keepdim) : sum(x, axes, keepdim);
  }
  const std::int64_t axis = a.integer("axis");
  return mean_of ? mean(x, axis, keepdim) : sum(x, axis, keepdim);
}

}  // namespace

const std::vector<Builtin>& builtins() {
  static const std::vector<Builtin> table = {
      {"sigmoid", {"x"}, {}, "", [](Arguments& a) { return unary_op(sigmoid, a); }},
      {"tanh", {"x"}, {}, "", [](Arguments& a) { return unary_op(tanh, a); }},
      {"relu", {"x"}, {}, "", [](Arguments& a) { return unary_op(relu, a); }},
      {"exp", {"x"}, {}, "", [](Arguments& a) { return unary_op(exp, a); }},
      {"log", {"x"}, {}, "the natural logarithm", [](Arguments& a) { return unary_op(log, a); }},
      {"abs", {"x"}, {}, "", [](Arguments& a) { return unary_op(abs, a); }},
      {"pow", {"x", "exponent"}, {}, "exponent: a number; the same as x ^ exponent",
       [](Arguments& a) -> Value { return pow(a.tensor("x"), a.number("exponent")); }},
      {"hadamard", {"a", "b"}, {}, "the same as a * b",
       [](Arguments& a) -> Value { return hadamard(a.tensor("a"), a.tensor("b")); }},
      {"matmul", {"a", "b"}, {}, "the same as a @ b; 1-D operands and broadcast batches as torch.matmul",
       [](Arguments& a) -> Value {
         const Tensor left = a.tensor("a"), right = a.tensor("b");
         limit_work(a, "a", matmul_work(left, right));
         return matmul(left, right);
       }},
      {"outer", {"u", "v"}, {}, "u [m], v [n] → [m, n]",
       [](Arguments& a) -> Value { return outer(a.tensor("u"), a.tensor("v")); }},
      {"kron", {"a", "b"}, {}, "any ranks, as torch.kron",
       [](Arguments& a) -> Value { return kron(a.tensor("a"), a.tensor("b")); }},
      {"sum", {"x"}, {"axis", "keepdim"}, "all elements, or along an axis or axes (axis=[0, 2])",
       [](Arguments& a) { return sum_or_mean(a, false); }},
      {"mean", {"x"}, {"axis", "keepdim"}, "all elements, or along an axis or axes",
       [](Arguments& a) { return sum_or_mean(a, true); }},
      {"sum_to", {"x", "shape"}, {}, "sum_to(g, 4)",
       [](Arguments& a) -> Value { return sum_to(a.tensor("x"), a.sizes("shape")); }, true},
      {"reshape", {"x", "shape"}, {}, "reshape(x, 2, 3); one size may be -1",
       [](Arguments& a) -> Value { return reshape(a.tensor("x"), a.sizes("shape")); }, true},
      {"expand", {"x", "shape"}, {}, "expand(b, 4, 3); -1 keeps a size",
       [](Arguments& a) -> Value { return expand(a.tensor("x"), a.sizes("shape")); }, true},
      {"transpose", {"x"}, {"axis0", "axis1"}, "the last two axes by default",
       [](Arguments& a) -> Value {
         if (a.has("axis0") != a.has("axis1"))
           a.fail(a.expr(a.has("axis0") ? "axis0" : "axis1"), "give both axes or neither");
         if (!a.has("axis0")) return transpose(a.tensor("x"));
         return transpose(a.tensor("x"), a.integer("axis0"), a.integer("axis1"));
       }},
      {"flip", {"x", "axis"}, {}, "",
       [](Arguments& a) -> Value { return flip(a.tensor("x"), a.integer("axis")); }},
      {"flatten", {"x"}, {"start_axis", "end_axis"}, "[N, C, H, W] → [N, C·H·W] by default",
       [](Arguments& a) -> Value {
         return flatten(a.tensor("x"), a.integer("start_axis", 1), a.integer("end_axis", -1));
       }},
      {"to", {"x", "dtype"}, {}, "dtype: float32 or float64",
       [](Arguments& a) -> Value {
         const std::string d = a.word("dtype", {"float32", "float64"}, "float64");
         return to(a.tensor("x"), d == "float32" ? DType::float32 : DType::float64);
       }},
      {"softmax", {"x"}, {"axis"}, "along an axis, the last by default",
       [](Arguments& a) -> Value { return softmax(a.tensor("x"), a.integer("axis", -1)); }},
      {"log_softmax", {"x"}, {"axis"}, "computed stably; the last axis by default",
       [](Arguments& a) -> Value { return log_softmax(a.tensor("x"), a.integer("axis", -1)); }},
      {"mse_loss", {"prediction", "target"}, {}, "",
       [](Arguments& a) -> Value { return mse_loss(a.tensor("prediction"), a.tensor("target")); }},
      {"cross_entropy", {"logits", "targets"}, {"ignore_index"},
       "logits [N, C]; targets: N class indices or [N, C] rows of probabilities",
       [](Arguments& a) -> Value {
         return cross_entropy(a.tensor("logits"), a.tensor("targets"),
                              {.ignore_index = a.integer("ignore_index", -100)});
       }},
      {"conv2d", {"input", "weight"},
       {"bias", "stride", "padding", "dilation", "groups", "padding_mode"},
       "cross-correlation: [N, C, H, W] with [O, C, kH, kW], or 2-D with 2-D",
       [](Arguments& a) { return convolution(a, false); }},
      {"convolve2d", {"input", "weight"},
       {"bias", "stride", "padding", "dilation", "groups", "padding_mode"},
       "",
       [](Arguments& a) { return convolution(a, true); }},
      {"conv_transpose2d", {"input", "weight"},
       {"bias", "stride", "padding", "output_padding", "groups", "dilation"},
       "arguments in torch's order",
       [](Arguments& a) -> Value {
         // N·H·W · C·(O/groups)·kH·kW: each input element spread through the whole kernel.
         const Tensor input = a.tensor("input"), weight = a.tensor("weight");
         limit_work(a, "input", axis_or_one(input, 0) * padded_area(input, 0) * weight.numel());
         return conv_transpose2d(input, weight, a.optional_tensor("bias"),
                                 {.stride = a.pair("stride", 1),
                                  .padding = a.pair("padding", 0),
                                  .output_padding = a.pair("output_padding", 0),
                                  .groups = a.integer("groups", 1),
                                  .dilation = a.pair("dilation", 1)});
       }},
      {"conv2d_weight_grad", {"input", "grad_output", "kernel"},
       {"stride", "padding", "dilation", "groups"}, "",
       [](Arguments& a) -> Value {
         // N·O·oh·ow · C·kH·kW: each element of grad_output against a window of the input.
         const Tensor input = a.tensor("input"), grad_output = a.tensor("grad_output");
         const Pair kernel = a.pair("kernel", 1);
         limit_work(a, "input",
                    static_cast<double>(grad_output.numel()) * axis_or_one(input, 1) *
                        std::abs(static_cast<double>(kernel.h)) *
                        std::abs(static_cast<double>(kernel.w)));
         return conv2d_weight_grad(input, grad_output, kernel, conv_options(a));
       }},
      {"pad", {"x", "amount"}, {"mode"}, "pad(x, 1, reflect); amount: n or [top, bottom, left, right]",
       [](Arguments& a) -> Value {
         return pad(a.tensor("x"), a.padding("amount"), a.pad_mode("mode"));
       }},
      {"unpad", {"g", "amount"}, {"mode"}, "",
       [](Arguments& a) -> Value {
         return unpad(a.tensor("g"), a.padding("amount"), a.pad_mode("mode"));
       }},
      {"max_pool2d", {"x", "kernel"}, {"stride", "padding"}, "",
       [](Arguments& a) { return pooling(a, true); }},
      {"avg_pool2d", {"x", "kernel"}, {"stride", "padding"}, "",
       [](Arguments& a) { return pooling(a, false); }},
      {"concat", {"tensors"}, {"axis"},
       "axis 0 by default",
       [](Arguments& a) -> Value {
         return concat(a.tensors("tensors"), a.integer("axis", 0));
       }},
      {"stack", {"tensors"}, {"axis"},
       "a new axis, 0 by default",
       [](Arguments& a) -> Value {
         return stack(a.tensors("tensors"), a.integer("axis", 0));
       }},
      {"upsample", {"x", "k"}, {},
       "nearest neighbour",
       [](Arguments& a) -> Value { return upsample(a.tensor("x"), a.integer("k")); }},
      {"where", {"condition", "a", "b"}, {}, "condition, a and b broadcast",
       [](Arguments& a) -> Value {
         return where(a.tensor("condition"), a.tensor("a"), a.tensor("b"));
       }},
      {"sign", {"x"}, {}, "", [](Arguments& a) { return unary_op(sign, a); }},
      {"maximum", {"a", "b"}, {}, "",
       [](Arguments& a) -> Value { return maximum(a.tensor("a"), a.tensor("b")); }},
      {"minimum", {"a", "b"}, {}, "",
       [](Arguments& a) -> Value { return minimum(a.tensor("a"), a.tensor("b")); }},
      {"clamp", {"x"}, {"min", "max"}, "either bound may be left out",
       [](Arguments& a) -> Value {
         if (!a.has("min") && !a.has("max")) a.fail(a.expr("x"), "give min=…, max=… or both");
         Bounds bounds;
         if (a.has("min")) bounds.min = a.number("min");
         if (a.has("max")) bounds.max = a.number("max");
         return clamp(a.tensor("x"), bounds);
       }},
      {"trace", {"x"}, {}, "", [](Arguments& a) { return unary_op(trace, a); }},
      {"diag", {"x"}, {}, "",
       [](Arguments& a) { return unary_op(diag, a); }},
      {"eye", {"n"}, {"m"}, "the identity matrix [n, n] (or [n, m]), a constant",
       [](Arguments& a) -> Value {
         const std::int64_t n = a.integer("n"), m = a.integer("m", n);
         if (static_cast<double>(n) * static_cast<double>(m) > max_tensor_elements)
           a.fail(a.expr("n"), "an identity of " + std::to_string(n) + " × " + std::to_string(m) +
                                   " is larger than the " + std::to_string(max_tensor_elements) +
                                   " elements allowed here");
         return eye(n, m, a.dtype());
       }},
      {"inverse", {"x"}, {}, "a square matrix or a batch [B, n, n]; singular: an error",
       [](Arguments& a) -> Value {
         const Tensor x = a.tensor("x");
         limit_cubic(a, "x", x);
         return inverse(x);
       }},
      {"det", {"x"}, {}, "a square matrix or each of a batch",
       [](Arguments& a) -> Value {
         const Tensor x = a.tensor("x");
         limit_cubic(a, "x", x);
         return det(x);
       }},
      {"solve", {"A", "B"}, {}, "without forming A⁻¹; B: [n] or [n, k]",
       [](Arguments& a) -> Value {
         const Tensor A = a.tensor("A"), B = a.tensor("B");
         limit_cubic(a, "A", A);
         return solve(A, B);
       }},
      {"matrix_power", {"x", "k"}, {}, "Xᵏ for a whole number k (X⁰ = I; k < 0: (X⁻¹)^|k|), made of matmul and inverse",
       [](Arguments& a) -> Value {
         const Tensor x = a.tensor("x");
         const std::int64_t k = a.integer("k");
         limit_cubic(a, "x", x, 2 * std::log2(2.0 + std::abs(static_cast<double>(k))));
         return matrix_power(x, k);
       }},
      {"max", {"x"}, {"axis", "keepdim"},
       "ties share the gradient",
       [](Arguments& a) -> Value {
         if (!a.has("axis")) return max(a.tensor("x"));
         return max(a.tensor("x"), a.integer("axis"), a.flag("keepdim", false));
       }},
      {"min", {"x"}, {"axis", "keepdim"},
       "ties share the gradient",
       [](Arguments& a) -> Value {
         if (!a.has("axis")) return min(a.tensor("x"));
         return min(a.tensor("x"), a.integer("axis"), a.flag("keepdim", false));
       }},
      {"argmax", {"x"}, {"axis", "keepdim"},
       "flat without an axis",
       [](Arguments& a) -> Value {
         if (!a.has("axis")) return argmax(a.tensor("x"));
         return argmax(a.tensor("x"), a.integer("axis"), a.flag("keepdim", false));
       }},
      {"logsumexp", {"x"}, {"axis", "keepdim"}, "computed stably",
       [](Arguments& a) -> Value {
         if (!a.has("axis")) return logsumexp(a.tensor("x"));
         return logsumexp(a.tensor("x"), a.integer("axis"), a.flag("keepdim", false));
       }},
      {"var", {"x"}, {"axis", "keepdim", "unbiased"},
       "unbiased (/ (n − 1)) by default",
       [](Arguments& a) -> Value { return var(a.tensor("x"), spread(a)); }},
      {"std", {"x"}, {"axis", "keepdim", "unbiased"}, "var's options",
       [](Arguments& a) -> Value { return std(a.tensor("x"), spread(a)); }},
      {"norm", {"x"}, {}, "",
       [](Arguments& a) { return unary_op(norm, a); }},
      {"sqrt", {"x"}, {}, "", [](Arguments& a) { return unary_op(sqrt, a); }},
      {"sin", {"x"}, {}, "", [](Arguments& a) { return unary_op(sin, a); }},
      {"cos", {"x"}, {}, "", [](Arguments& a) { return unary_op(cos, a); }},
      {"leaky_relu", {"x"}, {"slope"}, "slope 0.01 by default",
       [](Arguments& a) -> Value {
         return leaky_relu(a.tensor("x"), a.has("slope") ? a.number("slope") : 0.01);
       }},
      {"elu", {"x"}, {"alpha"}, "α = 1 by default",
       [](Arguments& a) -> Value {
         return elu(a.tensor("x"), a.has("alpha") ? a.number("alpha") : 1.0);
       }},
      {"gelu", {"x"}, {}, "",
       [](Arguments& a) { return unary_op(gelu, a); }},
      {"softplus", {"x"}, {}, "computed stably",
       [](Arguments& a) { return unary_op(softplus, a); }},
      {"layer_norm", {"x", "gamma", "beta"}, {"eps"},
       "eps 1e-5 by default",
       [](Arguments& a) -> Value {
         return layer_norm(a.tensor("x"), a.tensor("gamma"), a.tensor("beta"),
                           a.has("eps") ? a.number("eps") : 1e-5);
       }},
      {"batch_norm", {"x", "gamma", "beta"}, {"eps"},
       "training statistics; eps 1e-5 by default",
       [](Arguments& a) -> Value {
         return batch_norm(a.tensor("x"), a.tensor("gamma"), a.tensor("beta"),
                           a.has("eps") ? a.number("eps") : 1e-5);
       }},
      {"dropout", {"x", "p"}, {"seed"},
       "the mask from seed (0 by default)",
       [](Arguments& a) -> Value {
         const std::int64_t seed = a.integer("seed", 0);
         if (seed < 0) a.fail(a.expr("seed"), "seed must be at least 0");
         return dropout(a.tensor("x"), a.number("p"), static_cast<std::uint64_t>(seed));
       }},
      {"embedding", {"W", "idx"}, {}, "",
       [](Arguments& a) -> Value { return embedding(a.tensor("W"), a.tensor("idx")); }},
      {"arange", {"start"}, {"stop", "step"},
       "a constant: arange(n) is 0, 1, …, n − 1; arange(start, stop, step) as torch.arange",
       [](Arguments& a) -> Value {
         if (!a.has("stop")) {
           if (a.has("step")) a.fail(a.expr("step"), "a step needs a stop: arange(start, stop, step)");
           return arange(a.number("start"), a.dtype());
         }
         return arange(a.number("start"), a.number("stop"), a.has("step") ? a.number("step") : 1.0,
                       a.dtype());
       }},
      {"zeros", {"shape"}, {}, "a constant of zeros: zeros(2, 3) or zeros([2, 3])",
       [](Arguments& a) -> Value { return zeros(a.sizes("shape"), a.dtype()); }, true},
      {"ones", {"shape"}, {}, "a constant of ones: ones(2, 3) or ones([2, 3])",
       [](Arguments& a) -> Value { return ones(a.sizes("shape"), a.dtype()); }, true},
      {"one_hot", {"y", "n"}, {}, "[S…] → [S…, n]",
       [](Arguments& a) -> Value { return one_hot(a.tensor("y"), a.integer("n")); }},
      {"index_add", {"target", "idx", "source"}, {"axis"},
       "axis 0 (rows) by default; repeats add up",
       [](Arguments& a) -> Value {
         return index_add(a.tensor("target"), a.tensor("idx"), a.tensor("source"),
                          a.integer("axis", 0));
       }},
      {"gather", {"x", "axis", "idx"}, {}, "idx has x's axes; the result idx's shape",
       [](Arguments& a) -> Value {
         return gather(a.tensor("x"), a.integer("axis"), a.tensor("idx"));
       }},
      {"scatter_add", {"x", "axis", "idx", "src"}, {}, "torch.scatter_add",
       [](Arguments& a) -> Value {
         return scatter_add(a.tensor("x"), a.integer("axis"), a.tensor("idx"), a.tensor("src"));
       }},
      {"grad", {"of", "wrt"}, {}, "∂of/∂wrt (of: one number), itself differentiable", gradient},
  };
  return table;
}

}  // namespace detail

using namespace detail;

// One entry per function: its signature, then what the op's OpInfo says (the formula and
// the gradient of each input, the same text as docs/ops.md and the diagrams' edge labels,
// written once beside the op), then the call's own note (defaults, shapes, spellings).
namespace {

std::string signature_of(const Builtin& b) {
  std::string signature = std::string(b.name) + "(";
  bool first = true;
  for (const char* p : b.required) {
    signature += (first ? "" : ", ") + std::string(p);
    first = false;
  }
  if (b.last_takes_the_rest) signature += "…";
  for (const char* p : b.optional) {
    signature += std::string(first ? "" : ", ") + p + "=…";
    first = false;
  }
  signature += ")";
  return signature;
}

}  // namespace

std::string describe_functions() {
  std::map<std::string, const OpInfo*> ops;
  for (const OpInfo* op : all_ops()) ops[op->name] = op;
  constexpr std::size_t column = 32;
  std::ostringstream out;
  for (const Builtin& b : builtins()) {
    const std::string signature = signature_of(b);
    out << "  " << signature;
    const std::size_t width = count_characters(signature, 0, signature.size()) + 2;
    if (width < column - 1)
      out << std::string(column - width, ' ');
    else
      out << "\n" << std::string(column, ' ');
    const auto op = ops.find(b.name);
    std::string text = op == ops.end() ? "" : op->second->formula;
    if (*b.note) text += (text.empty() ? "" : "; ") + std::string(b.note);
    out << text << '\n';
    if (op != ops.end())
      for (const char* gradient : op->second->gradients)
        out << std::string(column + 2, ' ') << gradient << '\n';
  }
  return out.str();
}

std::vector<std::pair<std::string, std::string>> functions_without_an_op() {
  std::set<std::string> ops;
  for (const OpInfo* op : all_ops()) ops.insert(op->name);
  std::vector<std::pair<std::string, std::string>> listed;
  for (const Builtin& b : builtins())
    if (!ops.count(b.name)) listed.emplace_back(signature_of(b), b.note);
  return listed;
}

}  // namespace gradlab::cli
