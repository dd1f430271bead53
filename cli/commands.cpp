// The `gradlab` command line: gradients, gradient checks and diagrams of an expression given
// in a JSON document, so that a learner can check a derivation without writing C++.
//
//   echo '{"expr": "sum(sigmoid(x))", "inputs": {"x": [[0.5, -1, 2]]}}' | gradlab grad
//
// Exit status: 0 done (for `check`, whether or not the claims hold: the JSON says), 1 a
// claim is wrong under `check --strict`, 2 bad input or usage, with one line on stderr that
// starts with "gradlab <subcommand>: " (a syntax error adds the expression and a caret).
#include "cli/commands.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/expr.hpp"
#include "cli/json_io.hpp"
#include "gradlab/core/budget.hpp"
#include "gradlab/tools/check.hpp"
#include "gradlab/tools/dot.hpp"
#include "gradlab/core/graph.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab::cli {

namespace {

// ---- help ----

const char* const program_help = R"HELP(gradlab: gradients, gradient checks and diagrams of an expression, from JSON.

usage: gradlab <subcommand> [options] < document.json
       gradlab <subcommand> --input document.json [options]

subcommands:
  grad    the value of "expr" and the gradients of sum(value ∘ seed), as JSON
  check   your hand-derived gradients ("claims") against the engine's, with a
          diagnosis of what went wrong, as JSON
  dot     the computation graph (or, with --backward, the gradient graph) as
          Graphviz DOT, or drawn to an SVG, PNG or PDF file

`gradlab <subcommand> --help` describes its input, its options and an example.

The document (the same for all three):
  {"expr": "h = sigmoid(x @ W); y = sigmoid(h @ V); 0.5 * sum((y - t)^2)",
   "inputs": {"x": [[0.5, -1, 2]], "W": [[…], […], […]], "V": …},
   "constants": {"t": [[1, 0]]}}
Nested arrays give the shapes ([[0.5, -1, 2]] is 1×3; a bare number is 0-dimensional).
JSON has no NaN or infinity: in the output, NaN, inf and -inf are printed as null.

Expressions:
  a @ b          the matrix product
  a * b          the Hadamard (elementwise) product; + - / are elementwise too,
                 and broadcast like NumPy
  x ^ 2          a power by a number; -x^2 is -(x^2), 2^3^2 is 2^(3^2)
  a > b          1 where true, 0 elsewhere (no gradient); also < >= <= == !=,
                 binding more loosely than arithmetic: x - 1 > 0 is (x - 1) > 0
  h = …; …       named steps before the value: claim them, see them in diagrams
  x[1:-1, ::2]   subscripts as torch reads them, binding tightest (x[0][1]): a
                 number picks an entry and drops its axis, start:stop:step slices,
                 x[idx] picks rows (idx: a tensor of indices), x[arange(n), y]
                 picks x[i, y[i]] for each i; None adds an axis of size 1, ...
                 stands for as many ':' as the other subscripts leave: y[..., None]
  f(a, k=v)      functions, with keyword arguments; sizes as 2 or [2, 1];
                 modes as bare words or strings: padding_mode=reflect
  ∘ · − ≥ ≤ ≠    accepted for * @ - >= <= != (formulas pasted from text)

Functions:
)HELP";

const char* const document_fields = R"HELP(Input fields:
  expr       the expression, after any named steps (see `gradlab --help`)
  inputs     {"name": array or number, …}: the tensors gradients are taken by
  constants  {"name": …}: tensors that need no gradient (targets, class indices)
  wrt        ["W", "V"]: the inputs or named steps whose gradients are wanted
             (default: every input; grad and dot)
  seed       an array shaped like the value: the gradients are those of
             sum(value ∘ seed) (default: all ones)
  dtype      "float64" (default) or "float32"
)HELP";

const char* const grad_help = R"HELP(usage: gradlab grad [--input FILE] < document.json

Evaluates "expr" and prints its value and the gradient of sum(value ∘ seed) with
respect to each of "wrt", as JSON: {"value": …, "grads": {"x": …, …}}.

%FIELDS%
Options:
%OPTIONS%
Example:
  echo '{"expr": "y = sigmoid(x); sum(y)", "inputs": {"x": [[0, 2]]}}' | gradlab grad
prints
  {
    "value": 1.3807970779778822,
    "grads": {
      "x": [
        [0.25, 0.10499358540350662]
      ]
    }
  }
)HELP";

const char* const check_help = R"HELP(usage: gradlab check [--strict] [--rtol R] [--atol A] [--output FILE] [--input FILE] < document.json

Checks gradients you derived by hand ("claims") against the engine's gradient of
sum(value ∘ seed), and says what is wrong with the ones that differ: a missing
product with a value of the graph, a transpose, a factor (and which constant of
the graph it is), a missing local derivative σ(z) ∘ (1 − σ(z)), a missing term,
a sum over the wrong axis, the seed (upstream gradient) left out, …
A claim matches when every element is within R · ‖true‖∞ + A of the true
gradient (R = 1e-5; A at least the rounding floor); zeros for a gradient that is
not zero are always wrong. Each claim's "tolerance" says what was used.

%FIELDS%  claims     {"name": array or "expression", …}: the gradient you claim with
             respect to an input or a named step of expr. An expression may use
             the inputs, the constants and the named steps.

Prints, as JSON: "ok", "first_wrong_step" (the step of the derivation that went
wrong first, in the order backward visits them; "" when all agree), "warnings",
and per claim its "verdict" (match, wrong, not differentiable here), the shapes,
"max_abs_error", "max_rel_error", "worst_index", the "diagnoses", and the
"claimed" and "true" gradients. The exit status is 0 whether or not the claims
hold, unless --strict is given.

Options:
%OPTIONS%
Example:
  echo '{"expr": "z = x @ W; y = sigmoid(z); 0.5 * sum((y - t)^2)",
         "inputs": {"x": [[1, 2]], "W": [[0.5, -1], [0.25, 0.5]]},
         "constants": {"t": [[1, 0]]},
         "claims": {"z": "(y - t) * y * (1 - y)", "W": "transpose(x) @ (y - t)"}}' |
    gradlab check
says that the claim for z matches and the one for W is wrong: "it lacks the factor
the local derivative of the sigmoid node y (∂x = G ∘ σ(x) ∘ (1 − σ(x)))".
)HELP";

const char* const dot_help = R"HELP(usage: gradlab dot [--backward] [--output FILE] [--input FILE] < document.json

Prints the computation graph of "expr" as Graphviz DOT text, or draws it to FILE.
With --backward, the gradient graph is drawn beside it: the gradients of
sum(value ∘ seed) with respect to "wrt", recorded as a graph of their own, each
linked to its tensor by a dashed edge.

%FIELDS%
Options:
%OPTIONS%
Example:
  echo '{"expr": "h = sigmoid(x @ W); sum(h)",
         "inputs": {"x": [[1, 2]], "W": [[0.5], [-0.25]]}}' |
    gradlab dot --backward --formulas --output graph.svg
)HELP";

struct FlagInfo {
  const char* name;
  const char* argument;  // "FILE", or nullptr for a switch
  std::vector<std::string> subcommands;
  const char* meaning;
};

const std::vector<FlagInfo>& flag_table() {
  static const std::vector<FlagInfo> flags = {
      {"--input", "FILE", {"grad", "check", "dot"}, "read the document from FILE, not stdin"},
      {"--output", "FILE", {"check", "dot"}, "draw the diagram to FILE: .svg, .png or .pdf"},
      {"--strict", nullptr, {"check"}, "exit with status 1 when a claim is wrong"},
      {"--rtol", "R", {"check"}, "relative tolerance, times the size of the true gradient (1e-5)"},
      {"--atol", "A", {"check"}, "absolute tolerance (default: the rounding floor only)"},
      {"--backward", nullptr, {"dot"}, "draw the gradient graph too"},
      {"--values", nullptr, {"check", "dot"}, "print the numbers of small tensors in their boxes"},
      {"--formulas", nullptr, {"check", "dot"}, "label each edge with the gradient sent back along it"},
      {"--lr", nullptr, {"check", "dot"}, "lay the diagram out left to right"},
      {"--max-elements", "N", {"grad", "check", "dot"},
       "the numbers all its tensors may hold together (default 1e8)"},
      {"--max-nodes", "N", {"grad", "check", "dot"},
       "the ops all its graphs may record together (default 1e6)"},
      {"--max-input-bytes", "N", {"grad", "check", "dot"}, "the largest document read (default 16 MiB)"},
      {"--help", nullptr, {"grad", "check", "dot"}, "show this help"},
  };
  return flags;
}

bool takes(const FlagInfo& flag, const std::string& subcommand) {
  return std::find(flag.subcommands.begin(), flag.subcommands.end(), subcommand) !=
         flag.subcommands.end();
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

std::string subcommand_help(const std::string& subcommand) {
  std::string options;
  for (const FlagInfo& f : flag_table()) {
    if (!takes(f, subcommand)) continue;
    std::string left = std::string(f.name) + (f.argument ? std::string(" ") + f.argument : "");
    options += "  " + left + std::string(left.size() < 21 ? 21 - left.size() : 1, ' ') +
               f.meaning + "\n";
  }
  const char* text = subcommand == "grad" ? grad_help : subcommand == "check" ? check_help : dot_help;
  return replace(replace(text, "%FIELDS%", document_fields), "%OPTIONS%", options);
}

// ---- the command line ----

struct Flags {
  std::string subcommand;
  std::map<std::string, std::string> given;  // flag → its argument ("" for a switch)
  bool has(const char* name) const { return given.count(name) > 0; }
  std::string value(const char* name) const { return has(name) ? given.at(name) : ""; }
};

Flags parse_flags(const std::string& subcommand, const std::vector<std::string>& args) {
  Flags flags{subcommand, {}};
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i], argument;
    bool has_argument = false;
    if (const std::size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      argument = name.substr(eq + 1);  // --input=FILE
      name = name.substr(0, eq);
      has_argument = true;
    }
    if (name == "-h") name = "--help";
    const auto& table = flag_table();
    const auto flag = std::find_if(table.begin(), table.end(),
                                   [&](const FlagInfo& f) { return name == f.name; });
    if (flag == table.end() || !takes(*flag, subcommand))
      throw InputError((flag == table.end() ? "unknown option '" : "option not taken here: '") +
                       args[i] + "' (try gradlab " + subcommand + " --help)");
    if (flag->argument && !has_argument) {
      if (i + 1 == args.size())
        throw InputError(name + " needs a " + flag->argument + " after it");
      argument = args[++i];
    } else if (!flag->argument && has_argument) {
      throw InputError(name + " takes no value");
    }
    flags.given[name] = argument;
  }
  return flags;
}

// ---- the document ----

struct Document {
  std::string expr;
  Json inputs = Json::object(), constants = Json::object(), claims = Json::object();
  std::optional<std::vector<std::string>> wrt;
  std::optional<Json> seed;
  DType dtype = DType::float64;
};

// ---- budgets ----

// What one document may cost: the work it describes is counted as it is done (the engine's
// Budget), the document itself as it is read. Each limit has its option, named in the error.
struct Limits {
  std::int64_t elements = 100'000'000;   // 800 MB in float64, were they all alive at once
  std::int64_t nodes = 1'000'000;        // about 200 MB of graph
  std::int64_t input_bytes = 16 << 20;   // a learner's document is a few kilobytes
};

std::int64_t limit_option(const Flags& flags, const char* name, std::int64_t fallback) {
  if (!flags.has(name)) return fallback;
  const std::string text = flags.value(name);
  std::int64_t n = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size() || n <= 0)
    throw InputError(std::string(name) + " needs a whole number above 0, not '" + printable(text) + "'");
  return n;
}

Limits read_limits(const Flags& flags) {
  const Limits defaults;
  return {limit_option(flags, "--max-elements", defaults.elements),
          limit_option(flags, "--max-nodes", defaults.nodes),
          limit_option(flags, "--max-input-bytes", defaults.input_bytes)};
}

std::string read_text(const Flags& flags, const ReadStdin& read_stdin, const Limits& limits) {
  const auto most = static_cast<std::size_t>(limits.input_bytes);
  std::string text;
  if (flags.has("--input")) {
    const std::string path = flags.value("--input");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError("cannot read '" + path + "': " + std::strerror(errno));
    const struct Closing {
      int fd;
      ~Closing() { ::close(fd); }
    } closing{fd};
    text = read_at_most(fd, most, "'" + path + "'");
  } else {
    text = read_stdin(flags.subcommand, most);
  }
  if (text.size() > most)
    throw InputError("the document is larger than the " + std::to_string(most) +
                     " bytes allowed (--max-input-bytes N raises the limit)");
  return text;
}

Json object_field(const Json& root, const char* key) {
  if (!root.contains(key)) return Json::object();
  const Json& value = root.at(key);
  if (!value.is_object())
    throw InputError(std::string("\"") + key + "\" must be an object such as {\"x\": [[1, 2]]}, not " +
                     value.dump().substr(0, 30));
  for (const auto& [name, item] : value.items())
    if (!is_name(name))
      throw InputError(std::string(key) + ": '" + printable(name) +
                       "' cannot be used in an expression (a name is letters, digits and _, "
                       "not starting with a digit)");
  return value;
}

Document read_document(const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError("the input is empty: give a JSON document on stdin or with --input FILE");
  const Json root = parse_json(text);
  if (!root.is_object())
    throw InputError("the input must be a JSON object, such as {\"expr\": \"sum(x)\", \"inputs\": "
                     "{\"x\": [1, 2]}}");
  const std::vector<std::string> known = {"expr", "inputs", "constants", "wrt",
                                          "seed", "dtype",  "claims"};
  for (const auto& [key, value] : root.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw InputError("unknown field \"" + printable(key) +
                       "\" (the fields are expr, inputs, constants, wrt, seed, dtype, claims)");

  Document doc;
  if (!root.contains("expr") || !root["expr"].is_string())
    throw InputError("the document needs \"expr\": a string such as \"sum(sigmoid(x))\"");
  doc.expr = root["expr"].get<std::string>();
  doc.inputs = object_field(root, "inputs");
  doc.constants = object_field(root, "constants");
  doc.claims = object_field(root, "claims");
  for (const auto& [name, value] : doc.constants.items())
    if (doc.inputs.contains(name))
      throw InputError("'" + name + "' is both an input and a constant");
  if (root.contains("wrt")) {
    const Json& wrt = root["wrt"];
    if (!wrt.is_array() || !std::all_of(wrt.begin(), wrt.end(), [](const Json& w) { return w.is_string(); }))
      throw InputError("\"wrt\" must be an array of names, such as [\"W\", \"V\"]");
    doc.wrt = wrt.get<std::vector<std::string>>();
  }
  if (root.contains("seed")) doc.seed = root["seed"];
  if (root.contains("dtype")) {
    const Json& dtype = root["dtype"];
    if (dtype == "float32")
      doc.dtype = DType::float32;
    else if (dtype != "float64")
      throw InputError("\"dtype\" must be \"float64\" or \"float32\", not " + dtype.dump());
  }
  return doc;
}

// ---- from the document to tensors ----

// A syntax error in an expression, explained: the only message of more than one line (the
// error, then the expression's line and a caret under the column).
struct ExplainedSyntaxError : InputError {
  using InputError::InputError;
};

// Runs f; an expression error is explained against `source` (with a caret for a syntax
// error), after `label` ("claims.V: ").
template <class F>
auto explained(const std::string& label, const std::string& source, F&& f) {
  try {
    return f();
  } catch (const ExprError& e) {
    std::string message = label + explain(e, source);
    if (e.syntax) throw ExplainedSyntaxError(message);
    // An op's message on one line, whatever the expression's layout.
    std::replace(message.begin(), message.end(), '\n', ' ');
    throw InputError(message);
  }
}

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// The inputs in the order the document lists them, named after their keys.
NamedTensors make_tensors(const Json& object, DType dtype, const std::string& field,
                          bool requires_grad) {
  NamedTensors out;
  for (const auto& [name, value] : object.items()) {
    Tensor t = tensor_from_json(value, dtype, field + "." + name);
    t.name(name);
    if (requires_grad) t.set_requires_grad();
    out.emplace_back(name, t);
  }
  return out;
}

Env make_env(const NamedTensors& inputs, const NamedTensors& constants, DType dtype) {
  Env env{dtype, {}};
  for (const auto& [name, t] : inputs) env.names[name] = t;
  for (const auto& [name, t] : constants) env.names[name] = t;
  return env;
}

// The program and its value, evaluated on the inputs; env gains the named steps.
Tensor evaluate_document(const Program& program, Env& env) {
  return explained("", program.source,
                   [&] { return as_tensor(evaluate(program, env), env.dtype); });
}

// The seed: ∂(sum(value ∘ seed))/∂value = seed, so it is the gradient that enters the output.
Tensor make_seed(const Document& doc, const Tensor& value, DType dtype) {
  if (!doc.seed) return ones(value.shape(), dtype);
  const Tensor seed = tensor_from_json(*doc.seed, dtype, "seed");
  if (seed.shape() != value.shape())
    throw InputError("seed has shape " + to_string(seed.shape()) + " but the value of expr has shape " +
                     to_string(value.shape()) + "; give the seed the value's shape");
  return seed;
}

// The tensors named in "wrt" (default: every input).
NamedTensors gradient_targets(const Document& doc, const NamedTensors& inputs, const Env& env) {
  if (!doc.wrt) return inputs;
  NamedTensors out;
  for (const std::string& name : *doc.wrt) {
    const auto found = env.names.find(name);
    const Tensor* t = found == env.names.end() ? nullptr : std::get_if<Tensor>(&found->second);
    if (!t)
      throw InputError("wrt: '" + printable(name) + "' is neither an input nor a named step of expr");
    if (doc.constants.contains(name))
      throw InputError("wrt: '" + printable(name) + "' is a constant; move it to \"inputs\" for its gradient");
    out.emplace_back(name, *t);
  }
  return out;
}

// ∂ sum(value ∘ seed) / ∂ each target; zeros when the value depends on no input at all.
std::vector<Tensor> gradients(const Tensor& value, const NamedTensors& targets, const Tensor& seed,
                              bool create_graph) {
  std::vector<Tensor> wrt;
  for (const auto& [name, t] : targets) wrt.push_back(t);
  if (wrt.empty()) return {};
  if (!value.requires_grad()) {
    std::vector<Tensor> zero;
    for (const Tensor& t : wrt) zero.push_back(zeros_like(t));
    return zero;
  }
  return grad({value}, wrt, {.grad_outputs = {seed}, .create_graph = create_graph});
}

DotOptions dot_options(const Flags& flags, const Document& doc) {
  DotOptions options;
  options.left_to_right = flags.has("--lr");
  options.show_values = flags.has("--values");
  options.formulas = flags.has("--formulas");
  options.title = doc.expr;
  return options;
}

Json number_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

// ---- the subcommands ----

int run_grad(const Document& doc, std::ostream& output) {
  const Program program = explained("", doc.expr, [&] { return parse(doc.expr); });
  const NamedTensors inputs = make_tensors(doc.inputs, doc.dtype, "inputs", true);
  const NamedTensors constants = make_tensors(doc.constants, doc.dtype, "constants", false);
  Env env = make_env(inputs, constants, doc.dtype);
  const Tensor value = evaluate_document(program, env);
  const NamedTensors targets = gradient_targets(doc, inputs, env);
  const std::vector<Tensor> grads =
      gradients(value, targets, make_seed(doc, value, doc.dtype), false);

  Json out = Json::object();
  out["value"] = tensor_to_json(value);
  out["grads"] = Json::object();
  for (std::size_t i = 0; i < targets.size(); ++i)
    out["grads"][targets[i].first] = tensor_to_json(grads[i]);
  output << format_json(out);
  return 0;
}

int run_dot(const Document& doc, const Flags& flags, std::ostream& output) {
  const Program program = explained("", doc.expr, [&] { return parse(doc.expr); });
  const NamedTensors inputs = make_tensors(doc.inputs, doc.dtype, "inputs", true);
  const NamedTensors constants = make_tensors(doc.constants, doc.dtype, "constants", false);
  Env env = make_env(inputs, constants, doc.dtype);
  const Tensor value = evaluate_document(program, env);
  DotOptions options = dot_options(flags, doc);
  if (flags.has("--backward")) {
    // The backward pass recorded as a graph of its own (create_graph), drawn beside the
    // forward one with a dashed edge from each gradient to its tensor.
    const NamedTensors targets = gradient_targets(doc, inputs, env);
    const std::vector<Tensor> grads =
        gradients(value, targets, make_seed(doc, value, doc.dtype), true);
    for (std::size_t i = 0; i < targets.size(); ++i)
      options.gradients.emplace_back(grads[i], targets[i].second);
  }
  const std::string dot = to_dot({value}, options);
  if (flags.has("--output"))
    render(dot, flags.value("--output"));
  else
    output << dot;
  return 0;
}

Json claim_to_json(const ClaimReport& c) {
  const bool same_shape = c.claimed_shape == c.true_shape;
  Json out = Json::object();
  out["verdict"] = to_string(c.verdict);
  out["claimed_shape"] = shape_to_json(c.claimed_shape);
  out["true_shape"] = shape_to_json(c.true_shape);
  out["max_abs_error"] = same_shape ? number_or_null(c.max_abs_error) : Json(nullptr);
  out["max_rel_error"] = same_shape ? number_or_null(c.max_rel_error) : Json(nullptr);
  out["worst_index"] = same_shape ? shape_to_json(c.worst_index) : Json(nullptr);
  out["claimed_at_worst"] = same_shape ? number_or_null(c.claimed_at_worst) : Json(nullptr);
  out["true_at_worst"] = same_shape ? number_or_null(c.true_at_worst) : Json(nullptr);
  out["rel_error"] = same_shape ? number_or_null(c.rel_error) : Json(nullptr);
  out["tolerance"] = {{"per_element", c.tolerance}, {"rtol", c.rtol}, {"atol", c.atol}};
  out["diagnoses"] = c.diagnoses;
  out["explained"] = c.explained;
  out["claimed"] = c.claimed.defined() ? tensor_to_json(c.claimed) : Json(nullptr);
  out["true"] = c.truth.defined() ? tensor_to_json(c.truth) : Json(nullptr);
  return out;
}

// --rtol R / --atol A: a number ≥ 0.
double tolerance_flag(const Flags& flags, const char* name, double fallback) {
  if (!flags.has(name)) return fallback;
  const std::string text = flags.value(name);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !(value >= 0) || !std::isfinite(value))
    throw InputError(std::string(name) + " needs a number ≥ 0, such as 1e-6, not '" + printable(text) + "'");
  return value;
}

int run_check(const Document& doc, const Flags& flags, std::ostream& output) {
  const Program program = explained("", doc.expr, [&] { return parse(doc.expr); });
  if (doc.claims.empty())
    throw InputError("nothing to check: add \"claims\", e.g. {\"W\": \"transpose(x) @ delta\"}");
  // check_gradient works in float64 on copies of the inputs; so do the function it is given
  // and the claims. The inputs go to it in the document's dtype, so that it can warn.
  const NamedTensors inputs = make_tensors(doc.inputs, doc.dtype, "inputs", false);
  const NamedTensors inputs64 = make_tensors(doc.inputs, DType::float64, "inputs", true);
  const NamedTensors constants64 = make_tensors(doc.constants, DType::float64, "constants", false);

  // One evaluation of our own, for the named steps the claims may use.
  Env env = make_env(inputs64, constants64, DType::float64);
  const Tensor value = evaluate_document(program, env);
  const Tensor seed = make_seed(doc, value, DType::float64);

  std::map<std::string, Tensor> claims;
  for (const auto& [name, claim] : doc.claims.items()) {
    const auto found = env.names.find(name);
    const Tensor* target = found == env.names.end() ? nullptr : std::get_if<Tensor>(&found->second);
    if (!target || doc.constants.contains(name) || !target->requires_grad())
      throw InputError("claims: '" + name + "' is not an input or a named step of expr " +
                       (doc.constants.contains(name) ? "(it is a constant)"
                                                     : "(name a step as in 'h = …;' to claim it)"));
    const std::string where = "claims." + name;
    Tensor claimed;
    if (claim.is_string()) {
      const std::string text = claim.get<std::string>();
      claimed = explained(where + ": ", text, [&] {
        const Program claim_program = parse(text);
        // A claim's own steps stay its own: they are taken out of env again afterwards
        // (copying env instead made 40 000 claims on 40 000 steps take minutes).
        std::vector<std::string> own;
        for (const Step& step : claim_program.steps)
          if (!env.names.count(step.name)) own.push_back(step.name);
        const auto forget = [&] {
          for (const std::string& name : own) env.names.erase(name);
        };
        try {
          const Tensor t = as_tensor(evaluate(claim_program, env), DType::float64);
          forget();
          return t;
        } catch (...) {
          forget();
          throw;
        }
      });
    } else {
      claimed = tensor_from_json(claim, DType::float64, where);
    }
    claims[name] = to(claimed, DType::float64).detach();
  }

  // The function the checker differentiates: the expression on its inputs; the checker
  // reduces it to sum(value ∘ seed), so that it knows the seed (the upstream gradient).
  const Function function = [&](const std::vector<Tensor>& xs) {
    // The checker also calls this on plain copies under no_grad (for difference quotients at
    // kinks); grad(…) inside the expression needs a recorded graph all the same.
    enable_grad recording;
    NamedTensors named;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      Tensor x = xs[i];
      if (!x.requires_grad()) x = x.detach().set_requires_grad().name(inputs[i].first);
      named.emplace_back(inputs[i].first, x);
    }
    Env e = make_env(named, constants64, DType::float64);
    return evaluate_document(program, e);
  };
  std::vector<Tensor> input_tensors;
  for (const auto& [name, t] : inputs) input_tensors.push_back(t);
  CheckOptions options;
  options.rtol = tolerance_flag(flags, "--rtol", options.rtol);
  options.atol = tolerance_flag(flags, "--atol", options.atol);
  if (doc.seed || value.numel() != 1) options.seed = seed;  // without one: all ones
  const CheckReport report = check_gradient(function, input_tensors, claims, options);

  Json out = Json::object();
  out["value"] = tensor_to_json(value);
  out["ok"] = report.ok();
  out["first_wrong_step"] = report.first_wrong_step;
  out["warnings"] = report.warnings;
  out["claims"] = Json::object();
  bool any_wrong = false;
  for (const ClaimReport& c : report.claims) {
    out["claims"][c.name] = claim_to_json(c);
    any_wrong = any_wrong || c.verdict == Verdict::wrong;
  }
  if (flags.has("--output")) {
    DotOptions options = dot_options(flags, doc);
    options.title.clear();  // the checker's own title names the first wrong step
    render(check_diagram(report, options), flags.value("--output"));
  }
  output << format_json(out);
  return flags.has("--strict") && any_wrong ? 1 : 0;
}

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}
}  // namespace

std::string read_at_most(int fd, std::size_t max_bytes, const std::string& name) {
  std::string text;
  char buffer[1 << 16];
  while (text.size() <= max_bytes) {
    const std::size_t want = std::min(sizeof buffer, max_bytes + 1 - text.size());
    const ssize_t n = ::read(fd, buffer, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw InputError("cannot read " + name + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

Outcome run(const std::vector<std::string>& args, const ReadStdin& read_stdin) {
  std::ostringstream out;
  std::string prefix = "gradlab";
  try {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
      out << program_help << describe_functions()
          << "\nLimits (each subcommand's --help has its option): the elements all tensors of a "
             "document hold\ntogether (1e8), the ops its graphs record (1e6), its size (16 MiB), "
             + std::to_string(max_height) + " levels of nesting.\n"
          << "\nExit status: 0 done; 1 a wrong claim under `check --strict`; 2 bad input, "
             "usage, a limit\nreached, or output that could not be written.\n";
      return {0, out.str(), "", prefix};
    }
    if (args.empty())
      throw InputError("which subcommand: grad, check or dot? (try gradlab --help)");
    const std::string& subcommand = args[0];
    if (subcommand != "grad" && subcommand != "check" && subcommand != "dot")
      throw InputError("unknown subcommand '" + subcommand + "' (grad, check or dot; try gradlab --help)");
    prefix += " " + subcommand;
    const Flags flags = parse_flags(subcommand, {args.begin() + 1, args.end()});
    if (flags.has("--help")) return {0, subcommand_help(subcommand), "", prefix};
    const Limits limits = read_limits(flags);
    set_max_elements(std::min(max_tensor_elements, limits.elements));
    const Budget budget({.elements = limits.elements,
                         .nodes = limits.nodes,
                         .elements_hint = "--max-elements N raises the limit",
                         .nodes_hint = "--max-nodes N raises the limit"});
    const Document doc = read_document(read_text(flags, read_stdin, limits));
    int status = 0;
    if (subcommand == "grad")
      status = run_grad(doc, out);
    else if (subcommand == "check")
      status = run_check(doc, flags, out);
    else
      status = run_dot(doc, flags, out);
    return {status, out.str(), "", prefix};
  } catch (const ExplainedSyntaxError& e) {
    // The message, then the expression and a caret: explain() made those two lines safe
    // to print (and the caret lines up only as they are).
    const std::string text = e.what();
    const std::size_t end = std::min(text.find('\n'), text.size());
    return {2, "", prefix + ": " + printable(text.substr(0, end)) + text.substr(end) + "\n", prefix};
  } catch (const std::exception& e) {  // InputError, or an error no check foresaw
    // Whatever it quotes (a path, an option, nlohmann's "last read: …") may hold any byte.
    return {2, "", prefix + ": " + printable(one_line(e.what())) + "\n", prefix};
  } catch (...) {
    return {2, "", prefix + ": unexpected error\n", prefix};
  }
}

}  // namespace gradlab::cli
