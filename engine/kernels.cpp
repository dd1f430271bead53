#include "engine/kernels.hpp"

namespace gradlab::kernels {

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw DTypeError(std::string(op) + ": dtypes differ: " + to_string(a.dtype()) + " " +
                     to_string(a.shape()) + " and " + to_string(b.dtype()) + " " +
                     to_string(b.shape()) + " (convert one with to())");
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    // Align at the right: axis k of the result is axis k - (rank - size) of each operand.
    const std::int64_t da = k + a.size() >= rank ? a[k + a.size() - rank] : 1;
    const std::int64_t db = k + b.size() >= rank ? b[k + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(std::string(op) + ": shapes cannot be broadcast together: " + to_string(a) +
                       " and " + to_string(b));
    out[k] = da == 1 ? db : da;
  }
  return out;
}

std::vector<std::int64_t> broadcast_strides(const Shape& from, const Shape& to) {
  std::vector<std::int64_t> strides(to.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t k = from.size(); k-- > 0;) {
    const std::size_t j = k + to.size() - from.size();
    strides[j] = from[k] == 1 ? 0 : stride;
    stride *= from[k];
  }
  return strides;
}

std::int64_t normalize_axis(const char* op, std::int64_t axis, std::int64_t rank) {
  if (axis < -rank || axis >= rank)
    throw ValueError(std::string(op) + ": axis " + std::to_string(axis) +
                     " is out of range for a tensor of rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

}  // namespace gradlab::kernels
