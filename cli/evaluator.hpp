// The expression language, third job's interface: a call's arguments as the functions of
// cli/builtins.cpp read them, and the table of those functions. Shared by the files of cli/
// that implement cli/expr.hpp (not part of its interface).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/expr.hpp"
#include "gradlab/ops/conv.hpp"
#include "gradlab/ops/pad.hpp"

namespace gradlab::cli::detail {

class Evaluator;

// A call's arguments, bound to the function's parameters by position or keyword, and read
// as the function needs them: a tensor, a number, a pair of sizes, a word such as `reflect`.
class Arguments {
 public:
  Arguments(Evaluator& evaluator, const std::string& function)
      : evaluator_(evaluator), function_(function) {}

  std::vector<const Expr*>& slot(const std::string& parameter) { return bound_[parameter]; }

  bool has(const char* parameter) const { return bound_.count(parameter) > 0; }
  Tensor tensor(const char* parameter);
  Tensor optional_tensor(const char* parameter) { return has(parameter) ? tensor(parameter) : Tensor(); }
  double number(const char* parameter);
  std::int64_t integer(const char* parameter, std::optional<std::int64_t> fallback = {});
  bool flag(const char* parameter, bool fallback);
  Pair pair(const char* parameter, Pair fallback);
  Padding padding(const char* parameter);
  Shape sizes(const char* parameter);
  std::vector<Tensor> tensors(const char* parameter);
  std::string word(const char* parameter, const std::vector<std::string>& allowed,
                   const std::string& fallback);
  PadMode pad_mode(const char* parameter);
  DType dtype() const;  // the document's: for tensors a function makes, such as eye(3)
  const Expr& expr(const char* parameter) const { return *bound_.at(parameter).front(); }
  [[noreturn]] void fail(const Expr& at, const std::string& message) const {
    throw ExprError(function_ + ": " + message, at.offset);
  }

 private:
  std::int64_t whole(const Expr& e, const std::string& what);

  Evaluator& evaluator_;
  const std::string& function_;
  std::map<std::string, std::vector<const Expr*>> bound_;
};

struct Builtin {
  const char* name;
  std::vector<const char*> required;  // parameters, in positional order
  std::vector<const char*> optional;  // … then these
  // For --help, after what the op's OpInfo says (cli/builtins.cpp: describe_functions):
  // defaults, shapes, spellings; never the formula again. A function that is no op of its
  // own (grad, eye, matrix_power) says here what it is.
  const char* note;
  std::function<Value(Arguments&)> apply;
  bool last_takes_the_rest = false;   // reshape(x, 2, 3): the last parameter takes 2 and 3
};

const std::vector<Builtin>& builtins();

// Products and sliding windows cost more than their output's size, which the limit on
// tensor sizes does not bound: conv2d of a 3000×3000 image with a 1500×1500 kernel is 5·10¹²
// multiply-adds (and its im2col buffer holds as many numbers), a [3000, 3000] @ [3000, 3000]
// 2.7·10¹⁰. Each is refused above this estimate (an upper bound: stride and dilation only
// lower the true cost), far above what a learner checks: 16 channels of 28×28 with 16 3×3
// kernels is 1.8·10⁶.
constexpr double max_work = 1e7;
std::string too_much_work(double work);  // the message
// [… m, k] @ [… k, n]: m·k·n for each product of the broadcast batch (a vector: m or n = 1).
double matmul_work(const Tensor& a, const Tensor& b);

}  // namespace gradlab::cli::detail
