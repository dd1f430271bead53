#include "cli/json_io.hpp"

#include <algorithm>
#include <cmath>

namespace gradlab::cli {

namespace {

std::string shown(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 24) text = text.substr(0, 21) + "...";
  return text;
}


std::string elements(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " element" : " elements");
}

// The shape the first element at each depth suggests; every other element is held to it.
Shape probe_shape(const Json& value) {
  Shape shape;
  for (const Json* v = &value; v->is_array(); v = &v->front()) {
    if (shape.size() == max_axes)  // collect() recurses once per axis
      throw InputError("arrays nested more than " + std::to_string(max_axes) +
                       " deep: a tensor has at most " + std::to_string(max_axes) + " axes here");
    shape.push_back(static_cast<std::int64_t>(v->size()));
    if (v->empty()) break;
  }
  return shape;
}

void collect(const Json& value, const Shape& shape, std::size_t depth, const std::string& path,
             const std::string& first_path, std::vector<double>& out) {
  const bool should_be_number = depth == shape.size();
  if (value.is_number() && should_be_number) {
    out.push_back(value.get<double>());
    return;
  }
  if (value.is_array() && !should_be_number) {
    if (static_cast<std::int64_t>(value.size()) != shape[depth])
      throw InputError("ragged array: " + path + " has " + elements(value.size()) + " where " +
                       first_path + " has " + elements(static_cast<std::size_t>(shape[depth])));
    for (std::size_t i = 0; i < value.size(); ++i)
      collect(value[i], shape, depth + 1, path + "[" + std::to_string(i) + "]",
              first_path + "[0]", out);
    return;
  }
  if (value.is_number() || value.is_array())
    throw InputError("ragged array: " + path + " is " + (value.is_array() ? "a list" : "a number") +
                     " where " + first_path + " is " + (should_be_number ? "a number" : "a list"));
  throw InputError(path + " is " + shown(value) + ", not a number");
}

// nlohmann's own parser, building the same value, but counting how deeply it nests and
// keeping the place of an error: its message for a number that overflows has none.
class DepthLimitedParser : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  DepthLimitedParser(const std::string& text, Json& root)
      : nlohmann::detail::json_sax_dom_parser<Json>(root), text_(text) {}

  bool start_object(std::size_t n) { return deeper() && json_sax_dom_parser::start_object(n); }
  bool start_array(std::size_t n) { return deeper() && json_sax_dom_parser::start_array(n); }
  bool end_object() { return --depth_, json_sax_dom_parser::end_object(); }
  bool end_array() { return --depth_, json_sax_dom_parser::end_array(); }

  // `position` is the number of bytes read, up to the end of `token`.
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& error) {
    std::string message = error.what();  // "[json.exception.parse_error.101] parse error at …"
    if (const std::size_t bracket = message.find("] "); bracket != std::string::npos)
      message = message.substr(bracket + 2);
    if (error.id == 406)  // out_of_range: "number overflow parsing '1e309'", with no place
      message = "the number " + token + " at " + place(position - std::min(position, token.size())) +
                " is too large for a double (the largest is about 1.8e308)";
    throw InputError("the input is not valid JSON: " + message);
  }

 private:
  bool deeper() {
    if (++depth_ > max_json_depth)
      throw InputError("the input nests arrays and objects more than " +
                       std::to_string(max_json_depth) + " deep (a tensor has at most " +
                       std::to_string(max_axes) + " axes)");
    return true;
  }

  // "line 1, column 30" of a byte offset, counted as nlohmann counts them.
  std::string place(std::size_t offset) const {
    offset = std::min(offset, text_.size());
    const std::size_t line_start = text_.rfind('\n', offset == 0 ? 0 : offset - 1);
    const std::size_t column = line_start == std::string::npos || offset == 0 ? offset : offset - line_start - 1;
    const auto lines = std::count(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(offset), '\n');
    return "line " + std::to_string(lines + 1) + ", column " + std::to_string(column + 1);
  }

  const std::string& text_;
  std::size_t depth_ = 0;
};

}  // namespace

Json parse_json(const std::string& text) {
  Json root;
  DepthLimitedParser parser(text, root);
  Json::sax_parse(text, &parser);
  return root;
}

Tensor tensor_from_json(const Json& value, DType dtype, const std::string& where) {
  if (!value.is_number() && !value.is_array())
    throw InputError(where + " is " + shown(value) +
                     ", not a number or a nested array of numbers");
  const Shape shape = probe_shape(value);
  std::vector<double> numbers;
  numbers.reserve(static_cast<std::size_t>(numel(shape)));
  collect(value, shape, 0, where, where, numbers);
  return from_vector(numbers, shape, dtype);
}

Json tensor_to_json(const Tensor& t) {
  const Shape& shape = t.shape();
  if (shape.size() > max_axes)  // build() recurses once per axis
    throw InputError("a tensor with " + std::to_string(shape.size()) + " axes cannot be written: " +
                     "at most " + std::to_string(max_axes) + " fit in JSON here");
  const std::vector<double> values = t.values();
  std::size_t next = 0;
  // Depth-first over the axes, taking the numbers in row-major order.
  auto build = [&](auto& self, std::size_t depth) -> Json {
    if (depth == shape.size()) {
      const double v = values[next++];
      return std::isfinite(v) ? Json(v) : Json(nullptr);
    }
    Json row = Json::array();
    for (std::int64_t i = 0; i < shape[depth]; ++i) row.push_back(self(self, depth + 1));
    return row;
  };
  return build(build, 0);
}

Json shape_to_json(std::span<const std::int64_t> shape) {
  Json out = Json::array();
  for (std::int64_t n : shape) out.push_back(n);
  return out;
}

namespace {

std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
}

void format(const Json& value, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent) + 2, ' ');
  const std::string close_pad(static_cast<std::size_t>(indent), ' ');
  const auto is_number = [](const Json& v) { return v.is_number() || v.is_null(); };
  if (value.is_object() && !value.empty()) {
    out += "{\n";
    std::size_t i = 0;
    for (const auto& [key, item] : value.items()) {
      out += pad + dump(Json(key)) + ": ";
      format(item, indent + 2, out);
      out += ++i < value.size() ? ",\n" : "\n";
    }
    out += close_pad + "}";
  } else if (value.is_array() && std::all_of(value.begin(), value.end(), is_number)) {
    out += "[";  // a row of numbers: on one line
    for (std::size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + dump(value[i]);
    out += "]";
  } else if (value.is_array()) {
    out += "[\n";  // rows, strings, objects: one per line
    for (std::size_t i = 0; i < value.size(); ++i) {
      out += pad;
      format(value[i], indent + 2, out);
      out += i + 1 < value.size() ? ",\n" : "\n";
    }
    out += close_pad + "]";
  } else {
    out += dump(value);
  }
}

}  // namespace

std::string format_json(const Json& value) {
  std::string out;
  format(value, 0, out);
  return out + "\n";
}

}  // namespace gradlab::cli
