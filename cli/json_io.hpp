// Tensors to and from JSON: nested arrays give the shape ([[0.5, -1, 2]] is 1×3, a bare number
// is 0-dimensional), and a document that is not a rectangular array of numbers is an error
// naming the place, e.g. `inputs.x[1] has 2 elements where inputs.x[0] has 3`.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "gradlab/core/tensor.hpp"

namespace gradlab::cli {

// The input document keeps the order its keys were written in ("inputs" in the order the
// learner listed them), and so does the output.
using Json = nlohmann::ordered_json;

// Bad input the user can fix; the message is shown as it is, after "gradlab <subcommand>: ".
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The most axes a tensor of the command line may have, read from JSON, made by reshape or
// expand, or written back: reading and writing nested arrays recurse once per axis.
constexpr std::size_t max_axes = 64;

// The most deeply arrays and objects may nest in a document: copying, printing and freeing
// a JSON value recurse once per level, so 100 000 levels (200 KB of brackets) would overflow
// the stack. A tensor's max_axes, inside the document and one of its fields, fit.
constexpr std::size_t max_json_depth = max_axes + 8;

// The document `text` as JSON. A syntax error, a number too large for a double (1e309) and
// arrays or objects nested deeper than max_json_depth are InputErrors naming the line and
// column, after "the input is not valid JSON: ".
Json parse_json(const std::string& text);

// `where` names the value in messages: "inputs.x", "seed", "claims.V".
Tensor tensor_from_json(const Json& value, DType dtype, const std::string& where);

// Nested arrays in row-major order; a 0-dimensional tensor is a bare number. Numbers that
// are not finite become null, as JSON has no NaN or infinity.
Json tensor_to_json(const Tensor& t);
Json shape_to_json(std::span<const std::int64_t> shape);

// JSON for people: objects one key per line, arrays of numbers on one line, a matrix one
// row per line.
std::string format_json(const Json& value);

}  // namespace gradlab::cli
