// Typed errors. Every message names the op and the shapes or values involved, e.g.
//   matmul: inner dimensions differ: [1, 3] @ [4, 2]
#pragma once

#include <stdexcept>
#include <string>

namespace gradlab {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Shapes that do not fit together, or a tensor of the wrong rank.
struct ShapeError : Error {
  using Error::Error;
};
// float32 mixed with float64, or a dtype an operation cannot take.
struct DTypeError : Error {
  using Error::Error;
};
// Misuse of the graph: backward through a freed graph, backward on a tensor that does not
// require grad, a non-scalar backward without grad_output.
struct GraphError : Error {
  using Error::Error;
};
// An argument with a bad value: an axis out of range, a class index outside [0, C).
struct ValueError : Error {
  using Error::Error;
};
// Element access outside the tensor.
struct IndexError : Error {
  using Error::Error;
};
// In detect_anomaly mode: the first NaN or infinity an op produced, forward or backward.
struct AnomalyError : Error {
  using Error::Error;
};
// A tensor's memory could not be had (std::bad_alloc underneath): the op, the shape, the
// dtype and the bytes asked for are in the message.
struct MemoryError : Error {
  using Error::Error;
};
// A file that cannot be read or written (the path is in the message).
struct IOError : Error {
  using Error::Error;
};
// A file that could be read but whose contents are wrong: not the expected format,
// truncated, or corrupted (the path, and where in the file, are in the message).
struct FormatError : Error {
  using Error::Error;
};
// The work a Budget allows is used up (src/gradlab/core/budget.hpp): too many elements allocated or
// ops recorded.
struct BudgetError : Error {
  using Error::Error;
};

}  // namespace gradlab
