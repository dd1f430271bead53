// The expression language, third job: evaluating the tree as gradlab ops, so that the graph
// the engine records is exactly the expression the learner wrote. Names are looked up,
// operators applied, and calls bound to the functions of cli/builtins.cpp.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "cli/evaluator.hpp"
#include "cli/json_io.hpp"
#include "cli/syntax.hpp"
#include "gradlab/core/errors.hpp"
#include "gradlab/ops/compare.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/indexing.hpp"
#include "gradlab/ops/matmul.hpp"

namespace gradlab::cli {

namespace detail {

namespace {

// "did you mean 'sigmoid'?" — the closest candidate within two edits, if any.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitute = diagonal + (a[i - 1] != b[j - 1]);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

std::string suggestion(const std::string& wrong, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = 3;
  for (const std::string& c : candidates) {
    const std::size_t d = edit_distance(wrong, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best.empty() ? "" : ", did you mean '" + best + "'?";
}

std::string snippet(const std::string& source, const Expr& e) {
  std::string text;
  for (std::size_t i = e.begin; i < e.end && i < source.size(); ++i) {
    const bool space = std::isspace(static_cast<unsigned char>(source[i]));
    if (!space || (!text.empty() && text.back() != ' ')) text += space ? ' ' : source[i];
  }
  constexpr std::size_t limit = 48;
  if (text.size() > limit) {
    std::size_t cut = limit;
    while (cut > 0 && is_continuation_byte(text[cut])) --cut;
    text = text.substr(0, cut) + "…";
  }
  return text;
}

}  // namespace

std::string too_much_work(double work) {
  std::ostringstream message;
  message << std::setprecision(2) << "about " << work << " multiply-adds, more than the "
          << max_work << " allowed here (smaller tensors or kernels)";
  return message.str();
}

double matmul_work(const Tensor& a, const Tensor& b) {
  const Shape &sa = a.shape(), &sb = b.shape();
  const std::size_t batch_a = sa.size() > 2 ? sa.size() - 2 : 0;
  const std::size_t batch_b = sb.size() > 2 ? sb.size() - 2 : 0;
  double work = 1;
  for (std::size_t d = 0; d < std::max(batch_a, batch_b); ++d)  // from the innermost batch axis
    work *= static_cast<double>(std::max(d < batch_a ? sa[batch_a - 1 - d] : 1,
                                         d < batch_b ? sb[batch_b - 1 - d] : 1));
  const auto size = [](const Shape& s, std::size_t from_end) {
    return s.size() >= from_end ? static_cast<double>(s[s.size() - from_end]) : 1.0;
  };
  return work * size(sa, 2) * size(sa, 1) * (sb.size() >= 2 ? size(sb, 1) : 1.0);
}

class Evaluator {
 public:
  Evaluator(const std::string& source, Env& env) : source_(source), env_(env) {}

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::number:
        return e.number;
      case Expr::Kind::name:
        return lookup(e);
      case Expr::Kind::string:
        throw ExprError("a string is only an option's value, as in padding_mode=\"reflect\"",
                        e.offset);
      case Expr::Kind::list:
        throw ExprError("a list [ … ] is only for sizes, as in stride=[2, 1], and for the "
                        "tensors that concat and stack join, as in concat([a, b])",
                        e.offset);
      case Expr::Kind::negate:
        return negate(e);
      case Expr::Kind::binary:
        return binary(e);
      case Expr::Kind::call:
        return call(e);
      case Expr::Kind::subscript:
        return subscript(e);
      case Expr::Kind::slice:  // (the parser makes them only inside a subscript)
        throw ExprError("a slice start:stop:step is only for subscripts, as in x[1:3]", e.offset);
    }
    throw ExprError("unknown kind of expression", e.offset);
  }

  Tensor tensor(const Expr& e) { return as_tensor(eval(e), env_.dtype); }
  DType dtype() const { return env_.dtype; }

  // A plain number: a literal, arithmetic on literals, or a one-element constant.
  double number(const Expr& e, const std::string& what) {
    const Value v = eval(e);
    if (const double* d = std::get_if<double>(&v)) return *d;
    const Tensor& t = std::get<Tensor>(v);
    if (t.numel() == 1 && !t.requires_grad()) return t.item();
    throw ExprError(what + " must be a plain number, not a tensor of shape " + to_string(t.shape()),
                    e.offset);
  }

  // Runs `f`; an error an op raises is reported at `e`, with the part of the source it is in.
  template <class F>
  Value guarded(const Expr& e, F&& f) {
    try {
      return f();
    } catch (const gradlab::Error& error) {
      throw ExprError(error.what(), e.offset, false, snippet(source_, e));
    }
  }

 private:
  Value lookup(const Expr& e) {
    const auto found = env_.names.find(e.text);
    if (found != env_.names.end()) return found->second;
    std::vector<std::string> known;
    for (const auto& [name, value] : env_.names) known.push_back(name);
    for (const Builtin& b : builtins())
      if (e.text == b.name)
        throw ExprError("'" + e.text + "' is a function: call it as " + e.text + "(…)", e.offset);
    std::string message = "unknown name '" + e.text + "'" + suggestion(e.text, known);
    if (message.back() != '?') {
      message += " (known: ";
      for (std::size_t i = 0; i < known.size(); ++i) message += (i ? ", " : "") + known[i];
      message += known.empty() ? "nothing)" : "; add it to \"inputs\" or \"constants\")";
    }
    throw ExprError(message, e.offset);
  }

  Value negate(const Expr& e) {
    const Value v = eval(e.args[0]);
    if (const double* d = std::get_if<double>(&v)) return -*d;
    return guarded(e, [&] { return Value(-std::get<Tensor>(v)); });
  }

  Value binary(const Expr& e) {
    const Value left = eval(e.args[0]);
    const char op = e.text[0];
    if (op == '^') {  // pow(x, p) takes p as a number: d/dx xᵖ = p·xᵖ⁻¹
      const double p = number(e.args[1], "the exponent of ^");
      if (const double* d = std::get_if<double>(&left)) return std::pow(*d, p);
      return guarded(e, [&] { return Value(pow(std::get<Tensor>(left), p)); });
    }
    const Value right = eval(e.args[1]);
    if (is_comparison(e.text)) return compare(e, left, right);
    return guarded(e, [&] {
      // Two numbers give a number; with a tensor on either side, gradlab's overloads (which
      // take a plain number on either side) record the op.
      return std::visit(
          [&](const auto& a, const auto& b) -> Value {
            switch (op) {
              case '@': return product(as_tensor(a, env_.dtype), as_tensor(b, env_.dtype), e);
              case '+': return a + b;
              case '-': return a - b;
              case '*': return a * b;
              default: return a / b;
            }
          },
          left, right);
    });
  }

  // A 0/1 tensor (a plain 0 or 1 for two numbers), carrying no gradient.
  Value compare(const Expr& e, const Value& left, const Value& right) {
    const std::string& op = e.text;
    const auto holds = [&](double a, double b) {
      return op == ">" ? a > b : op == "<" ? a < b : op == ">=" ? a >= b : op == "<=" ? a <= b
             : op == "==" ? a == b : a != b;
    };
    const double* a = std::get_if<double>(&left);
    const double* b = std::get_if<double>(&right);
    if (a && b) return holds(*a, *b) ? 1.0 : 0.0;
    return guarded(e, [&] {
      const Tensor x = as_tensor(left, env_.dtype), y = as_tensor(right, env_.dtype);
      if (op == ">") return Value(greater(x, y));
      if (op == "<") return Value(less(x, y));
      if (op == ">=") return Value(greater_equal(x, y));
      if (op == "<=") return Value(less_equal(x, y));
      if (op == "==") return Value(equal(x, y));
      return Value(not_equal(x, y));
    });
  }

  // x[s₀, s₁, …] as torch reads it (src/gradlab/ops/indexing.hpp): a number selects (its axis is
  // dropped), a slice slices, a tensor of indices picks; x[arange(n), y] picks x[i, y[i]];
  // None is a new axis of size 1 and ... as many ':' as the other subscripts leave.
  Value subscript(const Expr& e) {
    const Value base = eval(e.args[0]);
    std::vector<Subscript> items;
    for (std::size_t i = 1; i < e.args.size(); ++i) {
      const Expr& item = e.args[i];
      if (item.kind == Expr::Kind::slice) {
        Slice s;
        for (std::size_t k = 0; k < item.args.size(); ++k) {
          const std::string& part = item.keywords[k];
          const double v = number(item.args[k], "a slice's " + part);
          if (v != std::floor(v))
            throw ExprError("a slice's " + part + " must be a whole number, got " +
                                (std::ostringstream() << v).str(),
                            item.args[k].offset);
          // (Bounds past either end are clamped anyway; so is a step past any axis.)
          const auto whole = static_cast<std::int64_t>(std::clamp(v, -1e15, 1e15));
          if (part == "start")
            s.start = whole;
          else if (part == "stop")
            s.stop = whole;
          else
            s.step = whole;
        }
        items.emplace_back(s);
        continue;
      }
      if (item.kind == Expr::Kind::name && (item.text == "..." || item.text == "None")) {
        if (item.text == "...") items.emplace_back(all_axes);
        else items.emplace_back(new_axis);  // torch's None: a new axis of size 1
        continue;
      }
      const Value v = eval(item);
      const double* d = std::get_if<double>(&v);
      if (d && *d == std::floor(*d) && std::abs(*d) <= 1e15)
        items.emplace_back(static_cast<std::int64_t>(*d));
      else  // a tensor of indices; or a number the op refuses, naming it (0.5, 1e300)
        items.emplace_back(as_tensor(v, env_.dtype));
    }
    const Tensor x = as_tensor(base, env_.dtype);
    return guarded(e, [&] { return Value(gradlab::index(x, items)); });
  }

  Value product(const Tensor& a, const Tensor& b, const Expr& e) {
    if (const double work = matmul_work(a, b); work > max_work)
      throw ExprError(too_much_work(work), e.offset, false, snippet(source_, e));
    return matmul(a, b);
  }

  Value call(const Expr& e) {
    const auto& all = builtins();
    const auto fn = std::find_if(all.begin(), all.end(),
                                 [&](const Builtin& b) { return e.text == b.name; });
    if (fn == all.end()) {
      std::vector<std::string> names;
      for (const Builtin& b : all) names.push_back(b.name);
      std::string message = "unknown function '" + e.text + "'";
      if (env_.names.count(e.text))
        message += ": '" + e.text + "' is a tensor (write * or @ for a product)";
      else if (const std::string close = suggestion(e.text, names); !close.empty())
        message += close;
      else
        message += "; gradlab --help lists the functions";
      throw ExprError(message, e.offset);
    }
    Arguments args(*this, e.text);
    bind(*fn, e, args);
    return guarded(e, [&] { return fn->apply(args); });
  }

  // Positional arguments fill the parameters in order, keywords by name.
  void bind(const Builtin& fn, const Expr& e, Arguments& args) {
    std::vector<const char*> parameters = fn.required;
    parameters.insert(parameters.end(), fn.optional.begin(), fn.optional.end());
    std::string signature = std::string(fn.name) + "(";
    for (std::size_t i = 0; i < parameters.size(); ++i)
      signature += (i ? ", " : "") + std::string(parameters[i]) +
                   (fn.last_takes_the_rest && i + 1 == parameters.size() ? "…" : "");
    signature += ")";
    std::size_t positional = 0;
    for (std::size_t i = 0; i < e.args.size(); ++i) {
      const std::string& keyword = e.keywords[i];
      std::string parameter;
      if (keyword.empty()) {
        if (positional < parameters.size())
          parameter = parameters[positional++];
        else if (fn.last_takes_the_rest && !parameters.empty())
          parameter = parameters.back();
        else
          throw ExprError(std::string(fn.name) + " takes at most " +
                              std::to_string(parameters.size()) + " argument" +
                              (parameters.size() == 1 ? "" : "s") + ", got " +
                              std::to_string(e.args.size()) + ": " + signature,
                          e.args[i].offset);
      } else {
        if (std::none_of(parameters.begin(), parameters.end(),
                         [&](const char* p) { return keyword == p; }))
          throw ExprError(std::string(fn.name) + " has no argument '" + keyword + "': " + signature,
                          e.args[i].offset);
        if (args.has(keyword.c_str()))
          throw ExprError(std::string(fn.name) + ": argument '" + keyword + "' is given twice",
                          e.args[i].offset);
        parameter = keyword;
      }
      args.slot(parameter).push_back(&e.args[i]);
    }
    for (const char* p : fn.required)
      if (!args.has(p))
        throw ExprError(std::string(fn.name) + " needs " + std::to_string(fn.required.size()) +
                            " argument" + (fn.required.size() == 1 ? "" : "s") + ", got " +
                            std::to_string(e.args.size()) + " (missing '" + p + "'): " + signature,
                        e.offset);
  }

  const std::string& source_;
  Env& env_;
};

// ---- reading arguments ----

Tensor Arguments::tensor(const char* parameter) { return evaluator_.tensor(expr(parameter)); }

DType Arguments::dtype() const { return evaluator_.dtype(); }

double Arguments::number(const char* parameter) {
  return evaluator_.number(expr(parameter), function_ + ": " + parameter);
}

std::int64_t Arguments::whole(const Expr& e, const std::string& what) {
  const double v = evaluator_.number(e, function_ + ": " + what);
  if (v != std::floor(v) || std::abs(v) > 1e15)
    fail(e, what + " must be a whole number, got " + (std::ostringstream() << v).str());
  return static_cast<std::int64_t>(v);
}

std::int64_t Arguments::integer(const char* parameter, std::optional<std::int64_t> fallback) {
  if (!has(parameter) && fallback) return *fallback;
  return whole(expr(parameter), parameter);
}

bool Arguments::flag(const char* parameter, bool fallback) {
  if (!has(parameter)) return fallback;
  const Expr& e = expr(parameter);
  if (e.kind == Expr::Kind::name && (e.text == "true" || e.text == "false")) return e.text == "true";
  const std::int64_t v = whole(e, parameter);
  if (v != 0 && v != 1) fail(e, std::string(parameter) + " must be true or false");
  return v == 1;
}

// One number for both directions, or [rows, columns].
Pair Arguments::pair(const char* parameter, Pair fallback) {
  if (!has(parameter)) return fallback;
  const Expr& e = expr(parameter);
  if (e.kind != Expr::Kind::list) return whole(e, parameter);
  if (e.args.size() != 2)
    fail(e, std::string(parameter) + " must be one number or [rows, columns]");
  return Pair(whole(e.args[0], parameter), whole(e.args[1], parameter));
}

// One number for every side, or [top, bottom, left, right].
Padding Arguments::padding(const char* parameter) {
  const Expr& e = expr(parameter);
  if (e.kind != Expr::Kind::list) return whole(e, parameter);
  if (e.args.size() != 4)
    fail(e, std::string(parameter) + " must be one number or [top, bottom, left, right]");
  return Padding(whole(e.args[0], parameter), whole(e.args[1], parameter),
                 whole(e.args[2], parameter), whole(e.args[3], parameter));
}

// reshape(x, 2, 3) or reshape(x, [2, 3]).
Shape Arguments::sizes(const char* parameter) {
  std::vector<const Expr*> items = bound_.at(parameter);
  if (items.size() == 1 && items[0]->kind == Expr::Kind::list) {
    const Expr* list = items[0];
    items.clear();
    for (const Expr& item : list->args) items.push_back(&item);
  }
  if (items.size() > max_axes)
    fail(*items[max_axes], std::string(parameter) + " has " + std::to_string(items.size()) +
                               " sizes; a tensor has at most " + std::to_string(max_axes) + " axes");
  Shape shape;
  for (const Expr* item : items) shape.push_back(whole(*item, parameter));
  return shape;
}

// concat([a, b, c]): the list's items, each a tensor.
std::vector<Tensor> Arguments::tensors(const char* parameter) {
  const Expr& e = expr(parameter);
  if (e.kind != Expr::Kind::list)
    fail(e, std::string(parameter) + " must be a list of tensors, as in " + function_ + "([a, b])");
  std::vector<Tensor> list;
  for (const Expr& item : e.args) list.push_back(evaluator_.tensor(item));
  return list;
}

// A bare word or a string: padding_mode=reflect, padding_mode="reflect".
std::string Arguments::word(const char* parameter, const std::vector<std::string>& allowed,
                            const std::string& fallback) {
  if (!has(parameter)) return fallback;
  const Expr& e = expr(parameter);
  std::string choices;
  for (const std::string& a : allowed) choices += (choices.empty() ? "" : ", ") + a;
  if ((e.kind != Expr::Kind::name && e.kind != Expr::Kind::string) ||
      std::find(allowed.begin(), allowed.end(), e.text) == allowed.end())
    fail(e, std::string(parameter) + " must be one of " + choices +
                (e.kind == Expr::Kind::name || e.kind == Expr::Kind::string
                     ? ", got '" + printable(e.text) + "'"
                     : ""));
  return e.text;
}

PadMode Arguments::pad_mode(const char* parameter) {
  const std::string mode =
      word(parameter, {"zeros", "reflect", "replicate", "circular"}, "zeros");
  if (mode == "reflect") return PadMode::reflect;
  if (mode == "replicate") return PadMode::replicate;
  if (mode == "circular") return PadMode::circular;
  return PadMode::zeros;
}

}  // namespace detail

using namespace detail;

Tensor as_tensor(const Value& value, DType dtype) {
  if (const double* d = std::get_if<double>(&value)) return scalar(*d, dtype);
  return std::get<Tensor>(value);
}

Value evaluate(const Program& program, Env& env) {
  Evaluator evaluator(program.source, env);
  for (const Step& step : program.steps) {
    if (env.names.count(step.name))
      throw ExprError("'" + step.name + "' is already the name of an input, a constant or a "
                      "step; give this step a name of its own",
                      step.value.begin);
    Value value = evaluator.eval(step.value);
    if (Tensor* t = std::get_if<Tensor>(&value)) {
      // A step is a value the expression can be differentiated against, even one made of
      // constants only, such as h = grad(sum(relu(x)), x) (a mask of constants: relu's
      // backward records nothing); ∂/∂h of sum(h * x) is x, as in PyTorch. Such a step has no
      // node, so it loses nothing by becoming a leaf of its own, the same numbers with a
      // gradient; the inputs get none through it either way.
      if (!t->requires_grad()) *t = t->detach().set_requires_grad();
      // Named (unless it already is a tensor with a name, such as an input), so that
      // claims and diagrams can refer to it.
      if (t->name().empty()) t->name(step.name);
    }
    env.names[step.name] = value;
  }
  return evaluator.eval(program.value);
}

}  // namespace gradlab::cli
