// The expression language of the `gradlab` command line: a tokenizer, a recursive-descent
// parser that builds a small tree, and an evaluator that turns the tree into gradlab ops, so
// the graph the engine records is exactly the expression the learner wrote. One file per
// job: cli/lexer.cpp (tokens, and the caret of a syntax error), cli/parser.cpp (the tree),
// cli/evaluator.cpp (names, operators, binding a call's arguments), cli/builtins.cpp (the
// functions a formula may call, and their help); cli/syntax.hpp and cli/evaluator.hpp are
// what those files share.
//
//   h = sigmoid(x @ W); y = sigmoid(h @ V); 0.5 * sum((y - t)^2)
//
// Grammar (lowest precedence first; every binary operator is left-associative except ^):
//   program  := { NAME '=' compare ';' } compare [';']   named steps, then the value
//   compare  := sum [ ('>' | '<' | '>=' | '<=' | '==' | '!=') sum ]   not chained: a < b < c
//                                                  is refused (it means different things in
//                                                  C and Python)
//   sum      := product { ('+' | '-') product }
//   product  := unary { ('*' | '/' | '@') unary }  * is the Hadamard product, @ matmul
//   unary    := '-' unary | power                  so -x^2 is -(x^2)
//   power    := postfix [ '^' unary ]              right-associative: x^-1, 2^3^2
//   postfix  := primary { '[' item { ',' item } ']' }   x[0], x[1:-1, ::2], x[idx], x[0][1]:
//                                                  binds tightest, so -x[0]^2 is -((x[0])^2)
//   item     := compare | [ compare ] ':' [ compare ] [ ':' [ compare ] ] | '...'
//                                                  start:stop:step; None is a new axis
//   primary  := NUMBER | NAME | STRING | NAME '(' [ argument { ',' argument } ] ')'
//             | '(' compare ')' | '[' [ compare { ',' compare } ] ']'   (sizes: stride=[2, 1])
//   argument := [ NAME '=' ] compare                keyword arguments by name
// `∘`, `·`, `−`, `≥`, `≤` and `≠` are accepted for `*`, `@`, `-`, `>=`, `<=` and `!=`, as
// formulas are often pasted from text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab::cli {

// A mistake in an expression, with the byte offset in the source it is about. A syntax
// error is shown with the expression and a caret under that place; any other (an unknown
// function or name, a wrong number of arguments, an op's shape error) is one line.
struct ExprError : std::runtime_error {
  ExprError(const std::string& message, std::size_t offset, bool syntax = false,
            std::string snippet = {})
      : std::runtime_error(message), offset(offset), syntax(syntax), snippet(std::move(snippet)) {}
  std::size_t offset;
  bool syntax;
  std::string snippet;  // the part of the expression an op error happened in, if any
};

// The error as the user should read it: "syntax error at column 7: …" followed by the
// source line and a caret, or "… at column 7" on one line.
std::string explain(const ExprError& error, const std::string& source);

// ---- the tree ----

struct Expr {
  enum class Kind { number, name, string, list, negate, binary, call, subscript, slice };
  Kind kind = Kind::number;
  double number = 0;                       // Kind::number
  std::string text = {};                   // a name, a string, a function's name or an operator
  std::vector<Expr> args = {};             // operands, list items, a call's arguments, or a
                                           // subscript's tensor and then its items
  std::vector<std::string> keywords = {};  // for a call, one per argument: "" when positional;
                                           // for a slice, its parts given: "start", "stop", "step"
  std::size_t offset = 0;          // where error messages point (an operator, a name)
  std::size_t begin = 0, end = 0;  // the source range it was parsed from
  std::size_t height = 1;          // of the tree below it; the parser caps it (see max_height)
};

// Parsing, evaluating and freeing the tree recurse once per level, so a pathological
// expression, ((((…)))), x^1^1^… or x + x + … 100 000 times, is refused as a syntax error
// instead of overflowing the stack. The limit holds on a 1 MB stack, with room for the ops'
// own frames, in the AddressSanitizer build too, whose frames are largest: there a level of
// parentheses, ((…)), takes about 18 KB since subscripts joined the grammar (2 KB in
// Release), and 56 of them overflow 1 MB. No formula a learner writes comes near 48; named
// steps (h = …;) start afresh.
constexpr std::size_t max_height = 48;

// The most elements any tensor of an evaluation may have (80 MB in float64): far above any
// formula a learner checks, far below what pad(W, 30000) or kron(kron(a, a), kron(a, a))
// would allocate. The command line sets it with gradlab::set_max_elements before evaluating;
// a larger tensor is an op's error at its column.
constexpr std::int64_t max_tensor_elements = 10'000'000;

struct Step {
  std::string name;
  Expr value;
};

struct Program {
  std::string source;
  std::vector<Step> steps;  // in order; each may use the ones before it
  Expr value;               // the last expression (a program ending in a step: that step)
};

// Throws ExprError (with syntax = true) on malformed text.
Program parse(const std::string& source);

// ---- evaluating ----

// A value is a plain number until it meets a tensor, so `0.5 * x` uses the number overload
// and `1 / 2` is folded; a number becomes a 0-dimensional tensor of Env::dtype when an op
// needs a tensor.
using Value = std::variant<double, Tensor>;

struct Env {
  DType dtype = DType::float64;
  std::map<std::string, Value> names;  // inputs and constants; evaluate() adds the steps
};

// Evaluates the steps (adding each to env.names and naming its tensor after it, so that
// gradient checks and diagrams can find it) and returns the value. Throws ExprError.
Value evaluate(const Program& program, Env& env);

Tensor as_tensor(const Value& value, DType dtype);

// "  sigmoid(x)            σ(x) = 1 / (1 + e⁻ˣ)" and its gradients, per function, for --help.
std::string describe_functions();

// The functions that are no op of their own (eye, arange, matrix_power, grad, …), as
// (signature, what it is), for docs/ops.md: the ops' rows cover the rest.
std::vector<std::pair<std::string, std::string>> functions_without_an_op();

// `text` as it may appear inside a message: a newline, a tab or another control character
// is written as \n, \t or \x1b, and a byte that is not part of well-formed UTF-8 as \xff, so
// that a message quoting the user stays on one line and nothing raw reaches the terminal.
std::string printable(const std::string& text);

// Whether `text` can be used as a name in an expression.
bool is_name(const std::string& text);

}  // namespace gradlab::cli
