// Fuzzes the expression language: the bytes are an expression over a fixed set of tensors
// (the seed network's x [1×3], W [3×4], V [4×2] and target t [1×2], and a scalar s), which
// is parsed, evaluated and differentiated as `gradlab grad` does.
//
// The contract checked: an expression either evaluates (and then its gradients can be taken
// without any error), or parse/evaluate throws cli::ExprError, whose explanation is one line
// naming a column — a syntax error adds exactly two lines, the expression's line and a caret.
// Any other exception escapes, and libFuzzer reports it with the input that raised it; a
// broken contract is __builtin_trap().
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/expr.hpp"
#include "gradlab/core/graph.hpp"

using namespace gradlab;

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines(1);
  for (char c : text) {
    if (c == '\n')
      lines.emplace_back();
    else
      lines.back() += c;
  }
  return lines;
}

// What the learner would read: one line with the column, or for a syntax error that line,
// then "    <the line of the expression>" and "    <spaces or tabs>^".
void check_explanation(const cli::ExprError& error, const std::string& source) {
  const std::string text = cli::explain(error, source);
  for (const char c : text)  // nothing that would cut the message short or garble a terminal
    require(c == '\n' || c == '\t' || static_cast<unsigned char>(c) >= 0x20);
  const std::vector<std::string> lines = split_lines(text);
  require(lines[0].find("column ") != std::string::npos);
  if (!error.syntax) {
    require(lines.size() == 1);
    return;
  }
  require(lines.size() == 3);
  require(lines[0].rfind("syntax error at ", 0) == 0);
  require(lines[1].rfind("    ", 0) == 0);
  const std::string& caret = lines[2];
  require(caret.size() >= 5 && caret.rfind("    ", 0) == 0 && caret.back() == '^');
  require(caret.find_first_not_of(" \t", 4) == caret.size() - 1);
}

Tensor leaf(const std::vector<double>& values, const Shape& shape, const char* name,
            bool requires_grad) {
  Tensor t = from_vector(values, shape);
  t.name(name);
  if (requires_grad) t.set_requires_grad();
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  // The command line allows tensors of up to 10⁷ elements; here 10⁵, so that an input such
  // as pad(W, 3000) costs milliseconds, not seconds: the same code paths (the limit is hit
  // sooner, not differently), many more executions.
  set_max_elements(100000);
  // Fresh tensors each time, so that no input can leave a trace in the next one.
  const std::vector<Tensor> inputs = {
      leaf({0.5, -1, 2}, {1, 3}, "x", true),
      leaf({0.3, -0.2, 0.1, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, -1.0, 1.1, -1.2}, {3, 4}, "W", true),
      leaf({0.25, -0.5, 0.75, -1, 1.25, -1.5, 1.75, -2}, {4, 2}, "V", true),
  };
  cli::Env env{DType::float64, {}};
  for (const Tensor& t : inputs) env.names[t.name()] = t;
  env.names["t"] = leaf({1, 0}, {1, 2}, "t", false);
  env.names["s"] = leaf({2}, {}, "s", false);

  Tensor value;
  try {
    const cli::Program program = cli::parse(source);
    value = cli::as_tensor(cli::evaluate(program, env), env.dtype);
  } catch (const cli::ExprError& error) {
    check_explanation(error, source);
    return 0;
  }
  // What `gradlab grad` does next: ∂ sum(value) / ∂ each input.
  if (value.requires_grad()) {
    const std::vector<Tensor> grads = grad({value}, inputs, {.grad_outputs = {ones_like(value)}});
    require(grads.size() == inputs.size());
    for (std::size_t i = 0; i < grads.size(); ++i) require(grads[i].shape() == inputs[i].shape());
  }
  return 0;
}
