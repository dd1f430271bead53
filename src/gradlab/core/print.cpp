// Printing tensors: operator<< and to_string, one format for all elements.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "gradlab/core/graph.hpp"
#include "gradlab/core/tensor.hpp"

namespace gradlab {

namespace {

// One format for every element, chosen from all of them, so that columns line up:
// whole numbers print without decimals, moderate ones with 4, extreme ones in e-notation.
struct ElementFormat {
  bool integers = true;
  bool scientific = false;

  explicit ElementFormat(const std::vector<double>& values) {
    double largest = 0, smallest = INFINITY;
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      if (v != std::round(v)) integers = false;
      largest = std::max(largest, std::abs(v));
      if (v != 0) smallest = std::min(smallest, std::abs(v));
    }
    if (integers)
      scientific = largest >= 1e9;
    else
      scientific = largest >= 1e6 || smallest < 1e-4;
  }

  std::string operator()(double v) const {
    std::ostringstream s;
    if (std::isnan(v))
      s << "nan";
    else if (std::isinf(v))
      s << (v > 0 ? "inf" : "-inf");
    else if (scientific)
      s << std::scientific << std::setprecision(4) << v;
    else if (integers)
      s << std::fixed << std::setprecision(0) << v;
    else
      s << std::fixed << std::setprecision(4) << v;
    return s.str();
  }
};

constexpr std::int64_t summarize_above = 1000;  // elements; past this, show edges only
constexpr std::int64_t edge_items = 3;

// Prints the sub-tensor starting at `offset` along axis `axis`, with rows broken and
// indented so that a matrix reads as aligned rows.
void print_axis(std::ostream& out, const std::vector<std::string>& cells, const Shape& shape,
                std::size_t axis, std::int64_t offset, std::size_t width, std::size_t indent,
                bool summarize) {
  if (shape.empty()) {
    out << cells[0];
    return;
  }
  std::int64_t stride = 1;
  for (std::size_t k = axis + 1; k < shape.size(); ++k) stride *= shape[k];
  const std::int64_t n = shape[axis];
  const bool last = axis + 1 == shape.size();
  out << '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * edge_items && i == edge_items) {
      out << (last ? "..., " : "...,\n" + std::string(indent + axis + 1, ' '));
      i = n - edge_items;
    }
    if (last) {
      const std::string& c = cells[offset + i * stride];
      out << std::string(width - c.size(), ' ') << c;
    } else {
      print_axis(out, cells, shape, axis + 1, offset + i * stride, width, indent, summarize);
    }
    if (i + 1 < n) {
      out << ',';
      if (last)
        out << ' ';
      else
        out << std::string(shape.size() - axis - 1, '\n') << std::string(indent + axis + 1, ' ');
    }
  }
  out << ']';
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const Tensor& t) {
  if (!t.defined()) return out << "tensor(undefined)";
  const std::vector<double> values = t.values();
  const ElementFormat format(values);
  std::vector<std::string> cells;
  cells.reserve(values.size());
  std::size_t width = 0;
  for (double v : values) {
    cells.push_back(format(v));
    width = std::max(width, cells.back().size());
  }
  out << "tensor(";
  print_axis(out, cells, t.shape(), 0, 0, width, 7, t.numel() > summarize_above);
  if (t.numel() == 0) out << ", shape=" << to_string(t.shape());
  if (t.dtype() != DType::float64) out << ", dtype=" << to_string(t.dtype());
  if (!t.name().empty()) out << ", name=\"" << t.name() << '"';
  if (const Node* n = t.node())
    out << ", op=" << n->op->name;
  else if (t.requires_grad())
    out << ", requires_grad";
  return out << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream s;
  s << t;
  return s.str();
}

}  // namespace gradlab
