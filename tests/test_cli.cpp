// The `gradlab` command line, end to end: each test runs the built program with a JSON
// document on stdin and reads back its exit status, its JSON (or DOT) on stdout and its one
// line on stderr. The seed network's gradients are checked against the formulas derived by
// hand, computed here with plain loops.
#define BOOST_TEST_MODULE cli
#include <fcntl.h>
#include <graphviz/cgraph.h>
#include <spawn.h>
#include <sys/resource.h>
#include <stdlib.h>  // mkdtemp
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <gradlab/gradlab.hpp>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "testing.hpp"

extern char** environ;

using namespace gradlab;
using namespace gradlab::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- running the program ----

// A directory for the child's stdin/stdout/stderr and the files it draws, removed at exit.
struct Scratch {
  fs::path dir;
  Scratch() {
    std::string pattern = (fs::temp_directory_path() / "gradlab-cli-XXXXXX").string();
    BOOST_TEST_REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
  }
  ~Scratch() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};
const fs::path& scratch() {
  static const Scratch s;
  return s.dir;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Run {
  int status = -1;  // the exit status; 128 + the signal if the program crashed
  std::string out, err;

  json output() const {
    json j = json::parse(out, nullptr, false);
    BOOST_TEST_REQUIRE(!j.is_discarded(), "stdout is not JSON:\n" << out << "\nstderr:\n" << err);
    return j;
  }
  // Exactly one line on stderr, starting with `prefix`.
  bool one_line_starting(const std::string& prefix) const {
    return err.rfind(prefix, 0) == 0 && err.find('\n') == err.size() - 1;
  }
};

struct RunOptions {
  fs::path stdout_to = {};  // a file of our choice (/dev/full) instead of one read back
  rlim_t stack = 0;         // the child's stack limit in bytes, if not the usual 8 MB
};

// Runs `gradlab args…` (the program) with `input` on stdin.
Run run_cli(const std::vector<std::string>& args, const std::string& input = "",
            const RunOptions& options = {}) {
  const fs::path in = scratch() / "stdin", err = scratch() / "stderr";
  const fs::path out = options.stdout_to.empty() ? scratch() / "stdout" : options.stdout_to;
  std::ofstream(in, std::ios::binary) << input;

  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&files, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> words = {GRADLAB_CLI};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  // The child inherits the stack limit: lowered for the spawn only.
  rlimit usual{};
  getrlimit(RLIMIT_STACK, &usual);
  if (options.stack) {
    const rlimit lowered{options.stack, usual.rlim_max};
    BOOST_TEST_REQUIRE(setrlimit(RLIMIT_STACK, &lowered) == 0);
  }
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, GRADLAB_CLI, &files, nullptr, argv.data(), environ);
  if (options.stack) setrlimit(RLIMIT_STACK, &usual);
  posix_spawn_file_actions_destroy(&files);
  BOOST_TEST_REQUIRE(spawned == 0, "cannot run " << GRADLAB_CLI);
  int wait_status = 0;
  waitpid(pid, &wait_status, 0);

  Run r;
  r.status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  if (options.stdout_to.empty()) r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// `gradlab <subcommand>` on a document that must succeed; its JSON.
json ok(const std::string& subcommand, const json& document) {
  const Run r = run_cli({subcommand}, document.dump());
  BOOST_TEST_REQUIRE(r.status == 0, "exit " << r.status << ": " << r.err);
  BOOST_TEST(r.err.empty());
  return r.output();
}

// ---- numbers ----

using Matrix = std::vector<std::vector<double>>;

Matrix matrix(const Tensor& t) {
  Matrix m(static_cast<std::size_t>(t.size(0)));
  for (std::int64_t i = 0; i < t.size(0); ++i)
    for (std::int64_t j = 0; j < t.size(1); ++j) m[i].push_back(t.at({i, j}));
  return m;
}

// Any tensor as nested JSON arrays, as the program reads them.
json nested(const Tensor& t) {
  const std::vector<double> values = t.values();
  std::size_t next = 0;
  const auto build = [&](const auto& self, std::size_t axis) -> json {
    if (axis == t.shape().size()) return values[next++];
    json row = json::array();
    for (std::int64_t i = 0; i < t.shape()[axis]; ++i) row.push_back(self(self, axis + 1));
    return row;
  };
  return build(build, 0);
}

// JSON numbers (nested to any depth) equal `want` within tol, element by element.
void check_close(const json& got, const json& want, double tol, const std::string& where = "") {
  if (want.is_array()) {
    BOOST_TEST_REQUIRE(got.is_array(), where << ": " << got.dump() << " is not an array");
    BOOST_TEST_REQUIRE(got.size() == want.size(), where << ": " << got.dump() << " vs " << want.dump());
    for (std::size_t i = 0; i < want.size(); ++i)
      check_close(got[i], want[i], tol, where + "[" + std::to_string(i) + "]");
    return;
  }
  BOOST_TEST_REQUIRE(got.is_number(), where << ": " << got.dump() << " is not a number");
  BOOST_TEST(std::abs(got.get<double>() - want.get<double>()) <= tol,
             where << ": got " << got.get<double>() << ", want " << want.get<double>());
}

double sigma(double v) { return 1 / (1 + std::exp(-v)); }

// The seed network of the tutorials, 3 → 4 → 2 with sigmoids, with the weights of
// tutorials/03_backprop.cpp:  h = σ(x·W), ŷ = σ(h·V), C = ½‖ŷ − t‖².
// Everything below the document is the hand derivation, in plain loops:
//   δ_out = (ŷ − t) ∘ ŷ ∘ (1 − ŷ)         ∂C/∂V = hᵀ δ_out
//   δ_hid = (δ_out Vᵀ) ∘ h ∘ (1 − h)      ∂C/∂W = xᵀ δ_hid
struct SeedNetwork {
  std::vector<double> x = {0.5, -1.0, 2.0}, t = {1.0, 0.0};
  Matrix W, V;
  std::vector<double> h, y, delta_out, delta_hid;
  double C = 0;
  Matrix dW, dV;

  SeedNetwork() {
    Generator gen(42);
    W = matrix(randn({3, 4}, gen));
    V = matrix(randn({4, 2}, gen));
    h.assign(4, 0);
    for (int k = 0; k < 4; ++k) {
      double z = 0;
      for (int i = 0; i < 3; ++i) z += x[i] * W[i][k];
      h[k] = sigma(z);
    }
    y.assign(2, 0);
    for (int j = 0; j < 2; ++j) {
      double z = 0;
      for (int k = 0; k < 4; ++k) z += h[k] * V[k][j];
      y[j] = sigma(z);
      C += 0.5 * (y[j] - t[j]) * (y[j] - t[j]);
      delta_out.push_back((y[j] - t[j]) * y[j] * (1 - y[j]));
    }
    for (int k = 0; k < 4; ++k) {
      double back = 0;
      for (int j = 0; j < 2; ++j) back += delta_out[j] * V[k][j];
      delta_hid.push_back(back * h[k] * (1 - h[k]));
    }
    dV.assign(4, std::vector<double>(2));
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 2; ++j) dV[k][j] = h[k] * delta_out[j];
    dW.assign(3, std::vector<double>(4));
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 4; ++k) dW[i][k] = x[i] * delta_hid[k];
  }

  json document() const {
    return {{"expr", "z1 = x @ W; h = sigmoid(z1); z = h @ V; y = sigmoid(z); "
                     "0.5 * sum((y - t)^2)"},
            {"inputs", {{"x", {x}}, {"W", W}, {"V", V}}},
            {"constants", {{"t", {t}}}}};
  }
  json with_claims(const json& claims) const {
    json d = document();
    d["claims"] = claims;
    return d;
  }
};

const char* const delta_out_expr = "(y - t) * y * (1 - y)";
const char* const right_dV = "transpose(h) @ ((y - t) * y * (1 - y))";
const char* const right_dW =
    "transpose(x) @ ((((y - t) * y * (1 - y)) @ transpose(V)) * h * (1 - h))";

bool mentions(const json& diagnoses, const std::string& text) {
  for (const json& d : diagnoses)
    if (d.get<std::string>().find(text) != std::string::npos) return true;
  return false;
}

// ---- reading DOT back with libcgraph ----

struct Diagram {
  std::multiset<std::string> labels;  // of the nodes
  int edges = 0, dashed_edges = 0;
};

Diagram parse_dot(const std::string& dot) {
  std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> g(agmemread(dot.c_str()), agclose);
  BOOST_TEST_REQUIRE(g != nullptr, "libcgraph cannot read:\n" << dot);
  Diagram d;
  for (Agnode_t* n = agfstnode(g.get()); n; n = agnxtnode(g.get(), n)) {
    const char* label = agget(n, const_cast<char*>("label"));
    d.labels.insert(label ? label : "");
    for (Agedge_t* e = agfstout(g.get(), n); e; e = agnxtout(g.get(), e)) {
      ++d.edges;
      const char* style = agget(e, const_cast<char*>("style"));
      d.dashed_edges += style && std::string(style) == "dashed";
    }
  }
  return d;
}

// How many node labels show `text` in bold: a node's name or its op.
int bold(const Diagram& d, const std::string& text) {
  int n = 0;
  for (const std::string& label : d.labels) n += label.find("<b>" + text + "</b>") != std::string::npos;
  return n;
}

// Refused with exit status 2 and one line on stderr that says `says`.
void refused_here(const Run& r, const std::string& says) {
  BOOST_TEST(r.status == 2, "exit " << r.status << ": " << r.err);
  BOOST_TEST(r.err.find(says) != std::string::npos, r.err << " lacks: " << says);
  BOOST_TEST(r.err.find('\n') == r.err.size() - 1, r.err);
}

}  // namespace

// ---- grad ----

BOOST_AUTO_TEST_CASE(seed_network_value_and_gradients_are_the_hand_derived_ones) {
  const SeedNetwork net;
  const json out = ok("grad", net.document());
  check_close(out["value"], net.C, 1e-14, "value");
  check_close(out["grads"]["V"], net.dV, 1e-14, "∂C/∂V = hᵀ δ_out");
  check_close(out["grads"]["W"], net.dW, 1e-14, "∂C/∂W = xᵀ δ_hid");
  // "wrt" defaults to every input, in the order the document lists them.
  std::vector<std::string> keys;
  for (const auto& [key, value] : out["grads"].items()) keys.push_back(key);
  BOOST_TEST(keys.size() == 3u);

  // wrt picks gradients, also of named steps: ∂C/∂z = δ_out.
  json doc = net.document();
  doc["wrt"] = {"z", "V"};
  const json picked = ok("grad", doc);
  BOOST_TEST(picked["grads"].size() == 2u);
  check_close(picked["grads"]["z"], json::array({net.delta_out}), 1e-14, "∂C/∂z = δ_out");

  // In float32 the same numbers, to float32 precision.
  doc = net.document();
  doc["dtype"] = "float32";
  const json single = ok("grad", doc);
  check_close(single["value"], net.C, 1e-6, "float32 value");
  check_close(single["grads"]["W"], net.dW, 1e-6, "float32 ∂C/∂W");
}

// grad(…) inside an expression is differentiable: d/dx Σ σ′(x) = σ″(x) = σ(1 − σ)(1 − 2σ).
BOOST_AUTO_TEST_CASE(second_derivative_through_grad) {
  const std::vector<double> x = {0.5, -1.0, 2.0};
  const json out = ok("grad", {{"expr", "sum(grad(sum(sigmoid(x)), x))"}, {"inputs", {{"x", x}}}});
  double first = 0;
  json second = json::array();
  for (double v : x) {
    const double s = sigma(v);
    first += s * (1 - s);
    second.push_back(s * (1 - s) * (1 - 2 * s));
  }
  check_close(out["value"], first, 1e-14, "Σ σ′(x)");
  check_close(out["grads"]["x"], second, 1e-14, "σ″(x)");

  // A third derivative of x⁴: 24x.
  const json third =
      ok("grad", {{"expr", "sum(grad(sum(grad(sum(x^4), x)), x))"}, {"inputs", {{"x", {1.5, -2}}}}});
  check_close(third["grads"]["x"], {36.0, -48.0}, 1e-12, "d³(x⁴)/dx³");
}

// The gradients are those of sum(value ∘ seed): for x∘x, 2x∘seed.
BOOST_AUTO_TEST_CASE(seed_weights_the_output) {
  const json out = ok("grad", {{"expr", "x * x"}, {"inputs", {{"x", {1, 2, 3}}}}, {"seed", {1, 0, -1}}});
  check_close(out["value"], {1.0, 4.0, 9.0}, 0, "value");
  check_close(out["grads"]["x"], {2.0, 0.0, -6.0}, 0, "2x ∘ seed");
  // No seed: all ones.
  const json ones = ok("grad", {{"expr", "x * x"}, {"inputs", {{"x", {1, 2, 3}}}}});
  check_close(ones["grads"]["x"], {2.0, 4.0, 6.0}, 0, "2x");
}

// Integer class targets are constants; cross_entropy's gradient is (softmax − onehot) / N.
BOOST_AUTO_TEST_CASE(constants_with_cross_entropy) {
  const Matrix logits = {{1, 2, 3}, {1, 0, -1}};
  const std::vector<int> targets = {2, 0};
  const json out = ok("grad", {{"expr", "cross_entropy(logits, targets)"},
                               {"inputs", {{"logits", logits}}},
                               {"constants", {{"targets", targets}}}});
  double loss = 0;
  json gradient = json::array();
  for (std::size_t i = 0; i < 2; ++i) {
    double total = 0;
    for (double v : logits[i]) total += std::exp(v);
    loss += (std::log(total) - logits[i][targets[i]]) / 2;
    json row = json::array();
    for (std::size_t c = 0; c < 3; ++c)
      row.push_back((std::exp(logits[i][c]) / total - (int(c) == targets[i] ? 1.0 : 0.0)) / 2);
    gradient.push_back(row);
  }
  check_close(out["value"], loss, 1e-14, "cross entropy");
  check_close(out["grads"]["logits"], gradient, 1e-14, "(softmax − onehot) / N");
  BOOST_TEST(!out["grads"].contains("targets"));  // constants have no gradient
}

// Precedence: ^ over unary minus over * / @ over + −; left-associative except ^.
BOOST_AUTO_TEST_CASE(precedence_and_associativity) {
  const std::vector<std::pair<std::string, double>> cases = {
      {"1 + 2 * 3 ^ 2", 19},  {"-2^2", -4},       {"2^-1", 0.5},      {"2^3^2", 512},
      {"8 / 4 / 2", 1},       {"10 - 4 - 3", 3},  {"(1 + 2) * 3", 9}, {"-(1 - 3) * 2", 4},
      {"2 * -3", -6},         {"1e-3 * 1000", 1}, {"h = 2; h ^ 3", 8}};
  for (const auto& [expr, want] : cases) {
    const json out = ok("grad", {{"expr", expr}});
    BOOST_TEST(out["value"].get<double>() == want, expr);
  }
  // -x^2 = -(x^2), so its gradient is −2x; x @ W + b adds after the product.
  const json out = ok("grad", {{"expr", "sum(-x^2)"}, {"inputs", {{"x", {3}}}}});
  check_close(out["grads"]["x"], {-6.0}, 0, "d(−x²)/dx");
  const json affine = ok("grad", {{"expr", "x @ W + b * 2"},
                                  {"inputs", {{"x", {{1, 2}}}, {"W", {{1}, {10}}}, {"b", {5}}}}});
  check_close(affine["value"], {{31.0}}, 0, "x @ W + b * 2");
}

// The other ops, by their obvious names and keyword arguments, agree with the library.
BOOST_AUTO_TEST_CASE(functions_and_keyword_arguments) {
  Generator gen(7);
  const Tensor image = randn({1, 1, 5, 5}, gen), kernel = randn({2, 1, 3, 3}, gen);
  const Tensor m = randn({2, 3}, gen), u = randn({3}, gen);
  const json inputs = {{"img", nested(image)}, {"k", nested(kernel)}, {"m", nested(m)}, {"u", nested(u)}};
  struct Case {
    std::string expr;
    double want;
  };
  const std::vector<Case> cases = {
      {"sum(conv2d(img, k, stride=2, padding=1, padding_mode=reflect))",
       sum(conv2d(image, kernel, {}, {.stride = 2, .padding = 1, .padding_mode = PadMode::reflect})).item()},
      {"sum(conv2d(img, k, padding=[1, 0], padding_mode=\"circular\", dilation=1))",
       sum(conv2d(image, kernel, {}, {.padding = Pair(1, 0), .padding_mode = PadMode::circular})).item()},
      {"sum(convolve2d(img, k))", sum(convolve2d(image, kernel)).item()},
      {"sum(pad(img, 1, replicate) ^ 2)", sum(pow(pad(image, 1, PadMode::replicate), 2)).item()},
      {"sum(max_pool2d(img, 2, stride=1))", sum(max_pool2d(image, 2, {.stride = 1})).item()},
      {"sum(avg_pool2d(img, kernel=3, padding=1))", sum(avg_pool2d(image, 3, {.padding = 1})).item()},
      {"sum(flatten(img) * 2)", 2 * sum(image).item()},
      {"sum(reshape(m, 3, 2) @ m)", sum(matmul(reshape(m, {3, 2}), m)).item()},
      {"sum(sum(m, axis=1) * sum(m, 1))", sum(pow(sum(m, 1), 2)).item()},
      {"sum(mean(m, 0, keepdim=true) @ reshape(u, 3, 1))",
       matmul(mean(m, 0, true), reshape(u, {3, 1})).item()},
      {"sum(log_softmax(m, axis=0))", sum(log_softmax(m, 0)).item()},
      {"sum(softmax(m) * m)", sum(softmax(m) * m).item()},
      {"mse_loss(m, 2 * m)", mse_loss(m, 2.0 * m).item()},
      {"sum(abs(m)) + sum(relu(m)) + sum(tanh(m)) + sum(exp(m))",
       sum(abs(m)).item() + sum(relu(m)).item() + sum(tanh(m)).item() + sum(exp(m)).item()},
      {"sum(kron(m, transpose(m)))", sum(kron(m, transpose(m))).item()},
      {"sum(outer(u, u) @ reshape(u, [3, -1]))", sum(matmul(outer(u, u), reshape(u, {3, 1}))).item()},
      {"sum(log(exp(m)))", sum(m).item()},
  };
  for (const Case& c : cases) {
    const json out = ok("grad", {{"expr", c.expr}, {"inputs", inputs}});
    check_close(out["value"], c.want, 1e-12, c.expr);
  }
  // And the gradient through a convolution with reflect padding, by the kernel.
  Tensor k = kernel.clone().set_requires_grad();
  const Tensor dk = grad({sum(conv2d(image, k, {}, {.padding = 1, .padding_mode = PadMode::reflect}))}, {k})[0];
  const json out = ok("grad", {{"expr", "sum(conv2d(img, k, padding=1, padding_mode=reflect))"},
                               {"inputs", inputs},
                               {"wrt", {"k"}}});
  check_close(out["grads"]["k"], nested(dk), 1e-12, "∂/∂k");
}

// Masks (issue 18): comparisons bind more loosely than arithmetic, give 0/1 constants, and
// broadcast; where, maximum, minimum, clamp and sign by their names.
BOOST_AUTO_TEST_CASE(masks_in_a_grad_document) {
  const std::vector<std::pair<std::string, double>> cases = {
      {"3 - 1 > 1", 1},  {"1 + 1 >= 2 * 1", 1}, {"2 < 1", 0},  {"2 <= 2", 1},
      {"1 == 1 + 0", 1}, {"1 != 1", 0},         {"(1 < 2) + (3 ≥ 4) + (1 ≠ 2)", 2}};
  for (const auto& [expr, want] : cases) {
    const json out = ok("grad", {{"expr", expr}});
    BOOST_TEST(out["value"].get<double>() == want, expr);
  }
  // relu by a mask: the mask carries no gradient, so ∂/∂x Σ x ∘ [x − 1 > 0] = [x > 1].
  const json relu = ok("grad", {{"expr", "sum(x * (x - 1 > 0))"}, {"inputs", {{"x", {0.5, 2, 3}}}}});
  check_close(relu["value"], 5.0, 0, "Σ x ∘ [x − 1 > 0]");
  check_close(relu["grads"]["x"], {0.0, 1.0, 1.0}, 0, "[x − 1 > 0]");
  // A step that is a mask, as CS231n writes relu's backward: dout ∘ (x > 0).
  const json step = ok("grad", {{"expr", "m = x > 0; sum(m * x)"}, {"inputs", {{"x", {-1, 2}}}}});
  check_close(step["grads"]["x"], {0.0, 1.0}, 0, "m = x > 0");
  // Broadcast: [2, 1] against [3].
  const json table = ok("grad", {{"expr", "c < r"}, {"constants", {{"c", {{1}, {2}}}, {"r", {0, 1.5, 3}}}}});
  check_close(table["value"], {{0.0, 1.0, 1.0}, {0.0, 0.0, 1.0}}, 0, "[2, 1] < [3]");

  // where, maximum (a tie shares the gradient), minimum, clamp, sign; as torch float64.
  const json out = ok("grad", {{"expr", "sum(where(x > 0, x^2, -x) + maximum(x, y) + minimum(x, 0) + "
                                        "clamp(x, min=-1, max=1.5) + clamp(y, max=0) + sign(x))"},
                               {"inputs", {{"x", {-2.0, 0.5, 2.0}}, {"y", {1.0, 0.5, -3.0}}}}});
  // where: 2 + 0.25 + 4; maximum: 1 + 0.5 + 2; minimum: −2; clamp: −1 + 0.5 + 1.5;
  // clamp(y, max=0): 0 + 0 − 3; sign: −1 + 1 + 1.
  check_close(out["value"], 6.25 + 3.5 - 2 + 1 - 3 + 1, 1e-14, "value");
  check_close(out["grads"]["x"], {-1 + 0 + 1 + 0 + 0.0, 1 + 0.5 + 0 + 1 + 0.0, 4 + 1 + 0 + 0 + 0.0},
              1e-14, "∂/∂x");
  check_close(out["grads"]["y"], {1.0 + 0, 0.5 + 0, 0 + 1.0}, 1e-14, "∂/∂y");
  // Errors: clamp without a bound, mismatched shapes naming the op.
  refused_here(run_cli({"grad"}, json({{"expr", "clamp(x)"}, {"inputs", {{"x", {1}}}}}).dump()),
               "clamp: give min=…, max=… or both");
  refused_here(run_cli({"grad"}, json({{"expr", "x > y"}, {"inputs", {{"x", {1, 2}}, {"y", {1, 2, 3}}}}}).dump()),
               "greater");
}

// Reductions and layers (issue 18), as torch float64 (tests/torch_reference/
// issue18_reductions_layers.py compares many more).
BOOST_AUTO_TEST_CASE(reductions_and_layers_in_a_grad_document) {
  // max's tie shares the gradient (torch.amax); argmax is a constant; var unbiased.
  const json r = ok("grad", {{"expr", "max(x) + sum(min(x, axis=1)) + argmax(x) + var(x) + norm(x)"},
                             {"inputs", {{"x", {{1, 3}, {3, 0}}}}}});
  // 3 + (1 + 0) + 1 + var{1, 3, 3, 0} = 6.75 / 3 = 2.25, + √19.
  check_close(r["value"], 3 + 1 + 0 + 1 + 2.25 + std::sqrt(19.0), 1e-14, "value");
  // max: ½ to each 3; min: 1 to x₀₀ and x₁₁; var: 2(x − 1.75)/3; norm: x/√19.
  const double n = std::sqrt(19.0);
  check_close(r["grads"]["x"], {{1 + 2 * (1 - 1.75) / 3 + 1 / n, 0.5 + 2 * (3 - 1.75) / 3 + 3 / n},
                                {0.5 + 2 * (3 - 1.75) / 3 + 3 / n, 1 + 2 * (0 - 1.75) / 3 + 0 / n}},
              1e-14, "∂/∂x");
  const json k = ok("grad", {{"expr", "sum(logsumexp(x, axis=0, keepdim=true)) + sum(std(x, axis=1, unbiased=false))"},
                             {"inputs", {{"x", {{0, 2}, {1, 0}}}}}});
  // Columns: ln(1 + e), ln(e² + 1); rows' biased std: 1 and ½.
  check_close(k["value"], std::log(1 + std::exp(1.0)) + std::log(std::exp(2.0) + 1) + 1.5, 1e-14, "value");
  const json l = ok("grad", {{"expr", "sum(leaky_relu(x, slope=0.1) + elu(x) + sin(x) + cos(x) + softplus(x) + gelu(x) + sqrt(x * x + 1))"},
                             {"inputs", {{"x", {-1.0, 2.0}}}}});
  const double want = -0.1 + 2 + (std::exp(-1.0) - 1) + 2 + std::sin(-1.0) + std::sin(2.0) + std::cos(-1.0) +
                      std::cos(2.0) + std::log1p(std::exp(-1.0)) + std::log1p(std::exp(2.0)) +
                      -0.5 * std::erfc(1 / std::sqrt(2.0)) + 2 * 0.5 * std::erfc(-2 / std::sqrt(2.0)) +
                      std::sqrt(2.0) + std::sqrt(5.0);
  check_close(l["value"], want, 1e-13, "value");
  const json nrm = ok("grad", {{"expr", "sum(layer_norm(x, g, b) * x) + sum(batch_norm(x, g, b, eps=0.5))"},
                               {"inputs", {{"x", {{1, 2}, {3, 5}}}, {"g", {1, 2}}, {"b", {0, 1}}}}});
  // layer_norm rows: ∓s₁ and ∓s₂ scaled by [1, 2], shifted by [0, 1], times x; batch_norm's
  // normalised columns sum to 0, leaving 2·Σb.
  const double s1 = 0.5 / std::sqrt(0.25 + 1e-5), s2 = 1 / std::sqrt(1 + 1e-5);
  check_close(nrm["value"], (-s1 * 1 + (2 * s1 + 1) * 2) + (-s2 * 3 + (2 * s2 + 1) * 5) + 2 * (0 + 1), 1e-12,
              "value");
  const json e = ok("grad", {{"expr", "sum(embedding(W, i) * embedding(W, i)) + sum(dropout(W, 0))"},
                             {"inputs", {{"W", {{1, 2}, {3, 4}}}}}, {"constants", {{"i", {1, 1, 0}}}}});
  check_close(e["value"], 2 * (9 + 16) + 1 + 4 + 10, 0, "value");
  check_close(e["grads"]["W"], {{2 + 1.0, 4 + 1.0}, {12 + 1.0, 16 + 1.0}}, 0, "∂W: rows added back");
  // Errors name the op.
  refused_here(run_cli({"grad"}, json({{"expr", "embedding(W, i)"}, {"inputs", {{"W", {{1, 2}}}}},
                                       {"constants", {{"i", {1}}}}}).dump()),
               "embedding: the index 1 at position [0] is out of range for 1 rows (0 to 0)");
  refused_here(run_cli({"grad"}, json({{"expr", "dropout(x, 1.5)"}, {"inputs", {{"x", {1}}}}}).dump()),
               "dropout: p must be in [0, 1], got 1.5");
  refused_here(run_cli({"grad"}, json({{"expr", "layer_norm(x, g, g)"}, {"inputs", {{"x", {{1, 2}}}, {"g", {1}}}}}).dump()),
               "layer_norm: gamma [1] must be [2]");
  refused_here(run_cli({"grad"}, json({{"expr", "max(x, axis=2)"}, {"inputs", {{"x", {1, 2}}}}}).dump()), "max");
}

// Linear algebra (issue 18): ∂ tr(AXB)/∂X = AᵀBᵀ, ∂ log det X/∂X = X⁻ᵀ, inverse, solve,
// matrix_power, diag and eye; a singular matrix is an error naming the op.
BOOST_AUTO_TEST_CASE(linear_algebra_in_a_grad_document) {
  const json tr = ok("grad", {{"expr", "trace(A @ X @ B)"},
                              {"inputs", {{"X", {{1, 2}, {3, 4}}}}},
                              {"constants", {{"A", {{1, 0}, {2, 1}}}, {"B", {{0, 1}, {1, 1}}}}}});
  // tr(AXB) with AXB = [[2, 3], [8, 13]] after the products: 2 + 13.
  check_close(tr["value"], 15.0, 0, "tr(AXB)");
  check_close(tr["grads"]["X"], {{2.0, 3.0}, {1.0, 1.0}}, 1e-15, "AᵀBᵀ");
  // X = [[4, 7], [2, 6]]: det 10, X⁻¹ = [[0.6, −0.7], [−0.2, 0.4]].
  const json ld = ok("grad", {{"expr", "log(det(X))"}, {"inputs", {{"X", {{4, 7}, {2, 6}}}}}});
  check_close(ld["value"], std::log(10.0), 1e-15, "log det X");
  check_close(ld["grads"]["X"], {{0.6, -0.2}, {-0.7, 0.4}}, 1e-15, "X⁻ᵀ");
  // torch float64: the value 6.6 and these gradients of the sum of the four.
  const json mix = ok("grad", {{"expr", "det(X) + sum(inverse(X)) + sum(solve(X, b)) + "
                                        "sum(matrix_power(X, -2))"},
                               {"inputs", {{"X", {{2, 1}, {1, 3}}}, {"b", {1, 2}}}}});
  check_close(mix["value"], 6.6, 1e-14, "value");
  check_close(mix["grads"]["X"], {{2.6, -1.36}, {-1.16, 1.84}}, 1e-14, "∂X");
  check_close(mix["grads"]["b"], {0.4, 0.2}, 1e-14, "∂b");
  const json d = ok("grad", {{"expr", "sum(diag(v) @ eye(2, 3)) + trace(eye(2)) + sum(diag(diag(v)))"},
                             {"inputs", {{"v", {1, 2}}}}});
  check_close(d["value"], 3.0 + 2 + 3, 0, "diag, eye");
  check_close(d["grads"]["v"], {2.0, 2.0}, 0, "∂v");
  // float32: the same inverse.
  const json single = ok("grad", {{"expr", "inverse(X)"}, {"inputs", {{"X", {{4, 7}, {2, 6}}}}}, {"dtype", "float32"}});
  check_close(single["value"], {{0.6, -0.7}, {-0.2, 0.4}}, 1e-6, "float32 X⁻¹");
  // A singular matrix, and a shape that is not square.
  refused_here(run_cli({"grad"}, json({{"expr", "inverse(X)"}, {"inputs", {{"X", {{1, 2}, {2, 4}}}}}}).dump()),
               "inverse: the [2, 2] matrix is singular");
  refused_here(run_cli({"grad"}, json({{"expr", "solve(X, b)"}, {"inputs", {{"X", {{1, 2}, {2, 4}}}, {"b", {1, 1}}}}}).dump()),
               "solve: A [2, 2] is singular");
  refused_here(run_cli({"grad"}, json({{"expr", "det(X)"}, {"inputs", {{"X", {{1, 2, 3}}}}}}).dump()),
               "det: needs a square matrix [n, n] or a batch of them [B, n, n], got [1, 3]");
  refused_here(run_cli({"grad"}, json({{"expr", "matrix_power(X, 0.5)"}, {"inputs", {{"X", {{1}}}}}}).dump()),
               "k must be a whole number");
}

// Joining (issue 18): list literals of tensors for concat and stack, upsample, kron of any
// rank; tests/torch_reference/issue18_join.py compares more with torch.
BOOST_AUTO_TEST_CASE(joining_in_a_grad_document) {
  const json inputs = {{"a", {{1, 2}, {3, 4}}}, {"b", {{5, 6}}}, {"v", {1, 2}}};
  const json cat = ok("grad", {{"expr", "c = concat([a, b, 2 * b]); sum(c * c)"}, {"inputs", inputs}});
  // 1 + 4 + 9 + 16 + 25 + 36 + 100 + 144; ∂b = 2b + 2·2·(2b) = 10b.
  check_close(cat["value"], 335.0, 0, "concat");
  check_close(cat["grads"]["a"], {{2.0, 4.0}, {6.0, 8.0}}, 0, "∂a");
  check_close(cat["grads"]["b"], {{50.0, 60.0}}, 0, "∂b");
  const json cols = ok("grad", {{"expr", "concat([a, transpose(b)], axis=-1)"}, {"inputs", inputs}});
  check_close(cols["value"], {{1.0, 2.0, 5.0}, {3.0, 4.0, 6.0}}, 0, "axis=-1");
  const json st = ok("grad", {{"expr", "stack([v, 3 * v], axis=1)"}, {"inputs", inputs}});
  check_close(st["value"], {{1.0, 3.0}, {2.0, 6.0}}, 0, "stack");
  check_close(st["grads"]["v"], {4.0, 4.0}, 0, "∂v of stack");
  const json up = ok("grad", {{"expr", "sum(upsample(b, 2) * upsample(b, 2))"}, {"inputs", inputs}});
  check_close(up["value"], 4 * (25.0 + 36.0), 0, "upsample");
  check_close(up["grads"]["b"], {{40.0, 48.0}}, 0, "∂b: 4 copies, each 2b");
  const json k = ok("grad", {{"expr", "kron(v, a)"}, {"inputs", inputs}});
  check_close(k["value"], {{1.0, 2.0, 2.0, 4.0}, {3.0, 4.0, 6.0, 8.0}}, 0, "kron [2] ⊗ [2, 2]");
  // A list of sizes is still a list of sizes; a one-item list joins one tensor.
  check_close(ok("grad", {{"expr", "reshape(concat([v]), [2, 1])"}, {"inputs", inputs}})["value"],
              {{1.0}, {2.0}}, 0, "reshape with a list");
  // Errors: one line naming the op, the item and the axis.
  const auto refused_expr = [&](const std::string& expr, const std::string& says) {
    refused_here(run_cli({"grad"}, json({{"expr", expr}, {"inputs", inputs}}).dump()), says);
  };
  refused_expr("concat([a, v])", "concat: tensor 1 [2] has 1 axes, tensor 0 [2, 2] has 2");
  refused_expr("concat([a, transpose(b)])",
               "concat: tensor 1 [2, 1] does not match tensor 0 [2, 2] along axis 1");
  refused_expr("concat([a, b], axis=2)", "concat: axis 2 is out of range for a tensor of rank 2");
  refused_expr("concat([])", "concat: needs at least one tensor");
  refused_expr("concat(a)", "concat: tensors must be a list of tensors, as in concat([a, b])");
  refused_expr("stack([a, b])", "stack: tensor 1 [1, 2] does not match tensor 0 [2, 2]");
  refused_expr("upsample(a, 0)", "upsample: the factor k must be at least 1, got 0");
  refused_expr("upsample(a, 1.5)", "upsample: k must be a whole number");
  refused_expr("upsample(v, 2)", "upsample: needs at least 2 axes");
  refused_expr("[a, b] + 1", "a list [ … ] is only for sizes");
  // Syntax errors inside a list: the caret under the column.
  for (const auto& [expr, column] : std::vector<std::pair<std::string, int>>{
           {"concat([a, b)", 13}, {"concat([a,, b])", 11}, {"stack([a b])", 10}}) {
    const Run r = run_cli({"grad"}, json({{"expr", expr}, {"inputs", inputs}}).dump());
    BOOST_TEST(r.status == 2, expr);
    BOOST_TEST(r.err.find("syntax error at column " + std::to_string(column) + ": ") != std::string::npos,
               expr << " → " << r.err);
    BOOST_TEST(r.err.find("\n    " + expr + "\n" + std::string(3 + column, ' ') + "^") !=
                   std::string::npos,
               expr << " → " << r.err);
  }
}

// Indexing (issue 18): subscripts as torch reads them, binding tightest; arange, zeros, ones,
// one_hot, index_add, gather, scatter_add; bad indices named, syntax errors with the caret.
BOOST_AUTO_TEST_CASE(indexing_in_a_grad_document) {
  const json x = {{1, 2, 3}, {4, 5, 6}};
  const json s = ok("grad", {{"expr", "sum(x[1:, ::2] * 2) + x[-1][0] + x[0, -1]"}, {"inputs", {{"x", x}}}});
  check_close(s["value"], 2 * (4 + 6) + 4 + 3, 0, "value");
  check_close(s["grads"]["x"], {{0, 0, 1}, {3, 0, 2}}, 0, "∂x: G back in place");
  // x[arange(n), y] picks x[i, y[i]]; W[idx] is an embedding lookup (a row twice: both).
  const json p = ok("grad", {{"expr", "sum(x[arange(2), y]) + sum(W[idx] ^ 2)"},
                             {"inputs", {{"x", x}, {"W", {{1, 2}, {3, 4}}}}},
                             {"constants", {{"y", {2, -3}}, {"idx", {{1, 1}, {0, -1}}}}}});
  check_close(p["value"], 3 + 4 + 3 * 25 + 5, 0, "value");
  check_close(p["grads"]["x"], {{0, 0, 1}, {1, 0, 0}}, 0, "∂x");
  check_close(p["grads"]["W"], {{2, 4}, {18, 24}}, 0, "∂W");
  // -x[0]^2 is -((x[0])^2); x[:, 0][1:] chains.
  check_close(ok("grad", {{"expr", "-x[0]^2"}, {"inputs", {{"x", {3, 2}}}}})["value"], -9.0, 0);
  check_close(ok("grad", {{"expr", "x[:, 0][1:]"}, {"inputs", {{"x", x}}}})["value"], {4}, 0);
  // None adds an axis, ... stands for the axes left: one_hot's reading y[..., None] == arange(3).
  check_close(ok("grad", {{"expr", "x[..., 0] * x[None, 1][0, 0]"}, {"inputs", {{"x", x}}}})["value"], {4, 16}, 0);
  check_close(ok("grad", {{"expr", "sum(x * (y[..., None] == arange(3)))"}, {"inputs", {{"x", x}}},
                          {"constants", {{"y", {2, 0}}}}})["value"],
              3 + 4, 0);
  // A step or a constant of one number may be an index or a bound.
  check_close(ok("grad", {{"expr", "k = 1; x[k, :k + 1]"}, {"inputs", {{"x", x}}}})["value"], {4, 5}, 0);
  const json f = ok("grad", {{"expr", "sum(one_hot(y, 3) * x) + sum(gather(x, 1, i)) + "
                                      "sum(index_add(x, j, x[0:1] * 3)) + sum(scatter_add(x, 0, i, x))"},
                             {"inputs", {{"x", x}}},
                             {"constants", {{"y", {2, 0}}, {"i", {{0}, {1}}}, {"j", {1}}}}});
  check_close(f["value"], (3 + 4) + (1 + 5) + (21 + 18) + (21 + 1 + 4), 0, "value");
  check_close(f["grads"]["x"], {{7, 5, 6}, {4, 3, 2}}, 0, "∂x");
  check_close(ok("grad", {{"expr", "sum(zeros(2, 3) + ones([3]) * arange(3)) + sum(arange(1, 2, 0.5))"},
                          {"inputs", {{"x", {1}}}}})["value"],
              2 * (0 + 1 + 2) + (1 + 1.5), 0, "value");
}

BOOST_AUTO_TEST_CASE(indexing_errors_name_the_op_the_position_and_the_bound) {
  const json inputs = {{"x", {{1, 2, 3}, {4, 5, 6}}}};
  const auto refused_expr = [&](const std::string& expr, const std::string& says) {
    refused_here(run_cli({"grad"}, json({{"expr", expr}, {"inputs", inputs}, {"constants", {{"i", {0, 2}}}}}).dump()),
                 says);
  };
  refused_expr("x[2]", "index: the index 2 is out of range for axis 0 of size 2 (-2 to 1) (in 'x[2]', column 2)");
  refused_expr("x[0, i + 1]", "index: the index 3 at position [1] is out of range for axis 1 of size 3 (-3 to 2)");
  refused_expr("x[0.5]", "index: the index 0.5 at position [] is not a whole number");
  refused_expr("x[1e300]", "is out of range for axis 0 of size 2");
  refused_expr("x[0, 0, 0]", "index: 3 subscripts for [2, 3], which has 2 axes");
  refused_expr("x[::-1]", "slice: the step must be at least 1, got -1");
  refused_expr("x[0:1.5]", "a slice's stop must be a whole number, got 1.5 (column 5)");
  refused_expr("x[0:x]", "a slice's stop must be a plain number");
  refused_expr("x[i, arange(3)]", "index: shapes cannot be broadcast together: [2] and [3]");
  refused_expr("one_hot(i, 2)", "one_hot: the index 2 at position [1] is out of range for 2 classes (0 to 1)");
  refused_expr("gather(x, 1, [[3]])", "a list [ … ] is only for sizes");
  refused_expr("gather(x, 1, x)", "gather: the index 3 at position [0, 2] is out of range for axis 1 of size 3 (0 to 2)");
  refused_expr("index_add(x, i, x)", "index_add: the index 2 at position [1] is out of range for axis 0 of size 2 (0 to 1)");
  refused_expr("scatter_add(x, 0, x, x)", "scatter_add: the index 2 at position [0, 1]");
  refused_expr("arange(1, step=2)", "arange: a step needs a stop");
  refused_expr("x[..., ...]", "index: all_axes (...) may stand only once");
  refused_expr("arange(0, 1, 0)", "arange: the step must not be 0");
  // Index tensors that broadcast to more picks than a tensor may hold: refused before any is made.
  refused_here(run_cli({"grad"}, json({{"expr", "x[a, b]"}, {"inputs", inputs},
                                       {"constants", {{"a", std::vector<std::vector<double>>(4000, {0.0})},
                                                      {"b", std::vector<double>(4000, 0.0)}}}}).dump()),
               "index: the index tensors broadcast to [4000, 4000], more than the 10000000 elements");
  // Syntax errors: the caret under the column.
  for (const auto& [expr, column] : std::vector<std::pair<std::string, int>>{
           {"x[]", 3}, {"x[0", 4}, {"x[1:2:3:4]", 8}, {"x[0,]", 5}, {"x[:, ]", 6}, {"x[0)", 4},
           {"x[....]", 6}, {"sum(...)", 5}}) {
    const Run r = run_cli({"grad"}, json({{"expr", expr}, {"inputs", inputs}}).dump());
    BOOST_TEST(r.status == 2, expr);
    BOOST_TEST(r.err.find("syntax error at column " + std::to_string(column) + ": ") != std::string::npos,
               expr << " → " << r.err);
    BOOST_TEST(r.err.find("\n    " + expr + "\n" + std::string(3 + column, ' ') + "^") != std::string::npos,
               expr << " → " << r.err);
  }
  // --help lists the new functions and the subscripts.
  const Run help = run_cli({"--help"});
  for (const char* f : {"arange(start", "zeros(shape…)", "ones(shape…)", "one_hot(y, n)",
                        "index_add(target, idx, source, axis=…)", "gather(x, axis, idx)",
                        "scatter_add(x, axis, idx, src)", "x[1:-1, ::2]", "x[arange(n), y]", "y[..., None]"})
    BOOST_TEST(help.out.find(f) != std::string::npos, f);
}

// PyTorch's conventions (issue 18): matmul of vectors and broadcast batches, conv_transpose2d's
// positional order, expand with -1, mse_loss broadcasting, sums over several axes, float32
// promoted with float64, cross_entropy's ignore_index and probability targets.
BOOST_AUTO_TEST_CASE(pytorch_conventions_in_a_grad_document) {
  // u·v = 4 + 10 + 18; M·u = [14, 32], and so is u·Mᵀ; the batch B [2, 1, 2] broadcasts.
  const json mm = ok("grad", {{"expr", "u @ v + sum(M @ u) + sum(u @ transpose(M)) + sum(B @ M @ u)"},
                              {"inputs", {{"u", {1, 2, 3}}, {"v", {4, 5, 6}}}},
                              {"constants", {{"M", {{1, 2, 3}, {4, 5, 6}}}, {"B", {{{1, 0}}, {{0, 2}}}}}}});
  // B [2, 1, 2] @ (M u) [2] → [2, 1]: 14 and 64.
  check_close(mm["value"], 32 + 46 + 46 + 14 + 64, 0, "vectors and batches");
  // ∂/∂u: v + 2·Mᵀ[1, 1] + Mᵀ(Bᵢ summed = [1, 2]) = [4, 5, 6] + 2·[5, 7, 9] + [9, 12, 15].
  check_close(mm["grads"]["u"], {4 + 10 + 9, 5 + 14 + 12, 6 + 18 + 15}, 1e-15, "∂u");
  check_close(mm["grads"]["v"], {1, 2, 3}, 0, "∂v");
  refused_here(run_cli({"grad"}, json({{"expr", "u @ v"}, {"inputs", {{"u", {1, 2}}, {"v", {1, 2, 3}}}}}).dump()),
               "matmul: inner dimensions differ: [2] @ [3]");

  // torch's order: (input, weight, bias, stride, padding, output_padding, groups, dilation).
  Generator gen(21);
  const Tensor x = randn({1, 2, 3, 3}, gen), w = randn({2, 1, 2, 2}, gen), b = randn({2}, gen);
  const json conv_inputs = {{"x", nested(x)}, {"w", nested(w)}, {"b", nested(b)}};
  const double want = sum(pow(conv_transpose2d(x, w, b, {.stride = 2, .padding = 1, .output_padding = 1,
                                                         .groups = 2, .dilation = 3}), 2)).item();
  for (const char* e : {"sum(conv_transpose2d(x, w, b, 2, 1, 1, 2, 3) ^ 2)",
                        "sum(conv_transpose2d(x, w, b, 2, 1, 1, dilation=3, groups=2) ^ 2)"})
    check_close(ok("grad", {{"expr", e}, {"inputs", conv_inputs}})["value"], want, 1e-12, e);

  // expand with -1; mse_loss broadcast; sums over several axes.
  const json ex = ok("grad", {{"expr", "sum(expand(c, -1, 3) * expand(c, 2, -1, 3)) + mse_loss(c, r)"},
                              {"inputs", {{"c", {{1}, {2}}}}}, {"constants", {{"r", {1, 3}}}}});
  // 2·3·(1 + 4) = 30; mse over [[0, −2], [1, −1]]: 6 / 4.
  check_close(ex["value"], 30 + 1.5, 1e-15, "expand -1, mse_loss");
  check_close(ex["grads"]["c"], {{12 + (0 - 2) / 2.0}, {24 + (1 - 1) / 2.0}}, 1e-15, "∂c");
  const json s = ok("grad", {{"expr", "sum(sum(t, axis=[0, 2]) * k) + sum(mean(t, axis=[-1, 0], keepdim=true))"},
                             {"inputs", {{"t", {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}}}}},
                             {"constants", {{"k", {1, 10}}}}});
  // Σ over axes 0, 2: [1 + 2 + 5 + 6, 3 + 4 + 7 + 8] = [14, 22]; means over 0 and 2: 3.5, 5.5.
  check_close(s["value"], 14 + 220 + 3.5 + 5.5, 1e-14, "sum over [0, 2]");
  check_close(s["grads"]["t"], {{{1.25, 1.25}, {10.25, 10.25}}, {{1.25, 1.25}, {10.25, 10.25}}}, 1e-15, "∂t");
  refused_here(run_cli({"grad"}, json({{"expr", "sum(t, axis=[0, -2])"}, {"inputs", {{"t", {{1, 2}}}}}}).dump()),
               "sum: axis 0 appears twice in [0, -2] for shape [1, 2]");
  refused_here(run_cli({"grad"}, json({{"expr", "mean(t, axis=[])"}, {"inputs", {{"t", {{1, 2}}}}}}).dump()),
               "mean: the list of axes is empty");
  refused_here(run_cli({"grad"}, json({{"expr", "sum(expand(t, -1, 2))"}, {"inputs", {{"t", {2}}}}}).dump()),
               "expand: -1 (keep the size) at axis 0");

  // float32 with float64: computed in float64 (0.1 as float32 keeps its float32 digits).
  const json mixed = ok("grad", {{"expr", "sum(to(x, float32) * y)"},
                                 {"inputs", {{"x", {0.1, 1}}, {"y", {1, 2}}}}});
  check_close(mixed["value"], static_cast<double>(0.1f) + 2, 0, "float32 · float64");
  check_close(mixed["grads"]["y"], {static_cast<double>(0.1f), 1.0}, 0, "∂y");

  // cross_entropy: the ignored row out of the mean; rows of probabilities.
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const json ce = ok("grad", {{"expr", "cross_entropy(z, t, ignore_index=1) + cross_entropy(z, p)"},
                              {"inputs", {{"z", {{1, 2, 3}, {0, 0, 0}}}}},
                              {"constants", {{"t", {2, 1}}, {"p", {{0.5, 0, 0.5}, {0, 1, 0}}}}}});
  check_close(ce["value"], (lse - 3) + (lse - 2 + std::log(3.0)) / 2, 1e-14, "ignore_index, probabilities");
  refused_here(run_cli({"grad"}, json({{"expr", "cross_entropy(z, p)"}, {"inputs", {{"z", {{1, 2}}}}},
                                       {"constants", {{"p", {{1, 0, 0}}}}}}).dump()),
               "cross_entropy: probability targets must have the logits' shape [1, 2], got [1, 3]");
}

// ---- check ----

BOOST_AUTO_TEST_CASE(check_agrees_with_a_right_derivation) {
  const SeedNetwork net;
  const json doc = net.with_claims({{"V", right_dV}, {"W", right_dW}, {"z", delta_out_expr}});
  const json out = ok("check", doc);
  BOOST_TEST(out["ok"] == true);
  BOOST_TEST(out["first_wrong_step"] == "");
  for (const char* name : {"V", "W", "z"}) {
    BOOST_TEST(out["claims"][name]["verdict"] == "match", name);
    BOOST_TEST(out["claims"][name]["max_abs_error"].get<double>() < 1e-12, name);
  }
  check_close(out["claims"]["V"]["true"], net.dV, 1e-14, "true ∂C/∂V");
  // Claims may also be plain numbers, e.g. worked out on paper.
  const json numbers = ok("check", net.with_claims({{"W", net.dW}}));
  BOOST_TEST(numbers["claims"]["W"]["verdict"] == "match");
  BOOST_TEST(run_cli({"check", "--strict"}, doc.dump()).status == 0);
}

// ∂C/∂V written without the product with h: shape [1, 2] instead of [4, 2].
BOOST_AUTO_TEST_CASE(check_finds_the_missing_product_with_h) {
  const SeedNetwork net;
  const json doc = net.with_claims({{"V", delta_out_expr}});
  const json out = ok("check", doc);
  const json& v = out["claims"]["V"];
  BOOST_TEST(out["ok"] == false);
  BOOST_TEST(out["first_wrong_step"] == "V");
  BOOST_TEST(v["verdict"] == "wrong");
  BOOST_TEST(v["claimed_shape"] == json({1, 2}));
  BOOST_TEST(v["true_shape"] == json({4, 2}));
  BOOST_TEST((mentions(v["diagnoses"], "hᵀ") || mentions(v["diagnoses"], "product with h")),
             v["diagnoses"].dump());
  // Exit 0 either way, unless --strict.
  const Run strict = run_cli({"check", "--strict"}, doc.dump());
  BOOST_TEST(strict.status == 1);
  BOOST_TEST(strict.output()["claims"]["V"]["verdict"] == "wrong");
}

// ∂C/∂V without σ′: hᵀ(ŷ − t), the derivative of the sigmoid node y left out.
BOOST_AUTO_TEST_CASE(check_finds_the_missing_sigmoid_derivative) {
  const SeedNetwork net;
  const json out = ok("check", net.with_claims({{"V", "transpose(h) @ (y - t)"}}));
  const json& v = out["claims"]["V"];
  BOOST_TEST(v["verdict"] == "wrong");
  BOOST_TEST(v["claimed_shape"] == v["true_shape"]);
  BOOST_TEST(v["max_abs_error"].get<double>() > 0);
  BOOST_TEST(v["worst_index"].size() == 2u);
  BOOST_TEST((mentions(v["diagnoses"], "σ(x) ∘ (1 − σ(x))") || mentions(v["diagnoses"], "node y")),
             v["diagnoses"].dump());
}

// 1 − 1/(1 + e^z) is σ(z), not 1 − σ(z): a sign flipped inside the exp.
BOOST_AUTO_TEST_CASE(check_finds_a_sign_flipped_inside_exp) {
  const SeedNetwork net;
  const json out = ok("check", net.with_claims(
                                   {{"V", "transpose(h) @ ((y - t) * y * (1 - 1/(1+exp(z))))"}}));
  const json& v = out["claims"]["V"];
  BOOST_TEST(v["verdict"] == "wrong");
  BOOST_TEST(mentions(v["diagnoses"], "e^"), v["diagnoses"].dump());
}

// The first wrong step: a wrong δ at z makes every claim built on it wrong too, but the
// mistake was made at z.
BOOST_AUTO_TEST_CASE(check_names_the_first_wrong_step) {
  const SeedNetwork net;
  const json both_wrong = ok("check", net.with_claims({{"z", "y - t"}, {"V", "transpose(h) @ (y - t)"}}));
  BOOST_TEST(both_wrong["first_wrong_step"] == "z");
  BOOST_TEST(both_wrong["claims"]["z"]["verdict"] == "wrong");
  BOOST_TEST(both_wrong["claims"]["V"]["verdict"] == "wrong");

  const json z_right = ok("check", net.with_claims({{"z", delta_out_expr}, {"V", "transpose(h) @ (y - t)"}}));
  BOOST_TEST(z_right["first_wrong_step"] == "V");
  BOOST_TEST(z_right["claims"]["z"]["verdict"] == "match");
}

BOOST_AUTO_TEST_CASE(check_draws_its_diagram) {
  const SeedNetwork net;
  const fs::path svg = scratch() / "check.svg";
  const Run r = run_cli({"check", "--output", svg.string(), "--lr"},
                        net.with_claims({{"V", delta_out_expr}}).dump());
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(r.output()["first_wrong_step"] == "V");  // stdout is still the JSON
  const std::string text = read_file(svg);
  BOOST_TEST(text.find("<svg") != std::string::npos);
  BOOST_TEST(text.find("the first wrong step is V") != std::string::npos);
}

// ---- dot ----

BOOST_AUTO_TEST_CASE(dot_draws_the_forward_and_the_gradient_graph) {
  const SeedNetwork net;
  const Run forward = run_cli({"dot"}, net.document().dump());
  BOOST_TEST_REQUIRE(forward.status == 0, forward.err);
  const Diagram f = parse_dot(forward.out);
  for (const char* name : {"x", "W", "V", "t", "sigmoid", "matmul", "sum"})
    BOOST_TEST(bold(f, name) >= 1, name);
  BOOST_TEST(bold(f, "sigmoid") == 2);
  BOOST_TEST(bold(f, "matmul") == 2);
  BOOST_TEST(f.dashed_edges == 0);
  // Named steps appear beside their op: "<b>h</b> · 1×4 · float64".
  const bool h_named = std::any_of(f.labels.begin(), f.labels.end(), [](const std::string& l) {
    return l.find("<b>sigmoid</b>") != std::string::npos && l.find("<b>h</b>") != std::string::npos;
  });
  BOOST_TEST(h_named);

  const Run backward = run_cli({"dot", "--backward", "--formulas"}, net.document().dump());
  BOOST_TEST_REQUIRE(backward.status == 0, backward.err);
  const Diagram b = parse_dot(backward.out);
  BOOST_TEST(b.dashed_edges == 3);  // one from each gradient to x, W and V
  BOOST_TEST(b.labels.size() > f.labels.size());
  // sigmoid's ∂x = G ∘ σ(x) ∘ (1 − σ(x)), written for its input z1 (src/gradlab/tools/dot.cpp).
  BOOST_TEST(backward.out.find("∂z1 = G ∘ σ(z1) ∘ (1 − σ(z1))") != std::string::npos);

  json only_w = net.document();
  only_w["wrt"] = {"W"};
  BOOST_TEST(parse_dot(run_cli({"dot", "--backward"}, only_w.dump()).out).dashed_edges == 1);
}

BOOST_AUTO_TEST_CASE(dot_renders_files) {
  const SeedNetwork net;
  const fs::path svg = scratch() / "net.svg", png = scratch() / "net.png";
  const Run r = run_cli({"dot", "--values", "--output", svg.string()}, net.document().dump());
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  BOOST_TEST(r.out.empty());  // the diagram went to the file
  const std::string text = read_file(svg);
  BOOST_TEST(text.find("<svg") != std::string::npos);
  BOOST_TEST(text.find("</svg>") != std::string::npos);
  BOOST_TEST_REQUIRE(run_cli({"dot", "--backward", "--output=" + png.string()}, net.document().dump()).status == 0);
  BOOST_TEST(read_file(png).rfind("\x89PNG", 0) == 0);
}

// ---- help and bad input ----

BOOST_AUTO_TEST_CASE(help_for_the_program_and_each_subcommand) {
  const Run top = run_cli({"--help"});
  BOOST_TEST(top.status == 0);
  BOOST_TEST(top.out.find("Functions:") != std::string::npos);
  BOOST_TEST(top.out.find("conv2d(input, weight") != std::string::npos);
  for (const char* sub : {"grad", "check", "dot"}) {
    const Run r = run_cli({sub, "--help"});
    BOOST_TEST(r.status == 0, sub);
    BOOST_TEST(r.out.find("Example") != std::string::npos, sub);
    BOOST_TEST(r.out.find("\"expr\"") != std::string::npos, sub);
  }
}

// A function's help is its op's OpInfo (formula, then each input's gradient), the same text
// as docs/ops.md: the formula is written once, beside the op.
BOOST_AUTO_TEST_CASE(the_functions_help_is_each_ops_opinfo) {
  const Run top = run_cli({"--help"});
  BOOST_TEST_REQUIRE(top.status == 0);
  std::size_t described = 0;
  for (const OpInfo* op : all_ops()) {
    const std::size_t at = top.out.find("\n  " + std::string(op->name) + "(");
    if (at == std::string::npos) continue;  // an op no formula calls by name (add, gather, …)
    ++described;
    // The entry: from its signature to the next line that is not indented further.
    std::size_t end = at + 1;
    do end = top.out.find('\n', end + 1);
    while (end != std::string::npos && top.out.compare(end + 1, 3, "   ") == 0);
    const std::string entry = top.out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    BOOST_TEST(entry.find(op->formula) != std::string::npos, op->name << ": " << entry);
    for (const char* gradient : op->gradients)
      BOOST_TEST(entry.find(gradient) != std::string::npos, op->name << ": " << gradient);
  }
  BOOST_TEST(described >= 60);
}

// Every mistake: exit status 2 and one line on stderr naming the subcommand, never a crash.
BOOST_AUTO_TEST_CASE(bad_input_is_one_line_and_exit_2) {
  struct Case {
    std::vector<std::string> args;
    std::string input;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"grad"}, R"J({"expr": "x", "inputs": {"x": [1, 2})J", "not valid JSON"},
      {{"grad"}, "", "the input is empty"},
      {{"grad"}, "[1, 2]", "must be a JSON object"},
      {{"grad"}, R"J({"inputs": {"x": [1]}})J", "needs \"expr\""},
      {{"grad"}, R"J({"expr": "x", "inptus": {}})J", "unknown field \"inptus\""},
      {{"grad"}, R"J({"expr": "sigmod(x)", "inputs": {"x": [1]}})J",
       "unknown function 'sigmod', did you mean 'sigmoid'? (column 1)"},
      {{"grad"}, R"J({"expr": "sum(frobnicate(x))", "inputs": {"x": [1]}})J",
       "unknown function 'frobnicate'"},
      {{"grad"}, R"J({"expr": "sigmoid(x, x)", "inputs": {"x": [1]}})J",
       "sigmoid takes at most 1 argument, got 2"},
      {{"grad"}, R"J({"expr": "mse_loss(x)", "inputs": {"x": [1]}})J",
       "mse_loss needs 2 arguments, got 1"},
      {{"grad"}, R"J({"expr": "conv2d(x, x, strides=2)", "inputs": {"x": [1]}})J",
       "conv2d has no argument 'strides'"},
      {{"grad"}, R"J({"expr": "x @ W", "inputs": {"x": [[1, 2]]}})J", "unknown name 'W'"},
      {{"grad"}, R"J({"expr": "x", "inputs": {"x": [[1, 2], [3]]}})J",
       "ragged array: inputs.x[1] has 1 element where inputs.x[0] has 2"},
      {{"grad"}, R"J({"expr": "x", "inputs": {"x": [[1, 2], 3]}})J", "ragged array"},
      {{"grad"}, R"J({"expr": "x", "inputs": {"x": [1, "two"]}})J", "inputs.x[1] is \"two\", not a number"},
      {{"grad"}, R"J({"expr": "x", "constants": {"x": [null]}})J", "constants.x[0] is null, not a number"},
      {{"grad"}, R"J({"expr": "x @ W", "inputs": {"x": [[1, 2]], "W": [[1, 2]]}})J",
       "matmul: inner dimensions differ: [1, 2] @ [1, 2] (in 'x @ W', column 3)"},
      {{"grad"}, R"J({"expr": "pad(x, 1, mirror)", "inputs": {"x": [[1]]}})J",
       "mode must be one of zeros, reflect, replicate, circular"},
      {{"grad"}, R"J({"expr": "x ^ x", "inputs": {"x": [1, 2]}})J", "the exponent of ^ must be a plain number"},
      {{"grad"}, R"J({"expr": "grad(x, x)", "inputs": {"x": [1, 2]}})J", "must be a single number"},
      {{"grad"}, R"J({"expr": "x", "inputs": {"x": [1]}, "seed": [1, 2]})J", "seed has shape [2]"},
      {{"grad"}, R"J({"expr": "x", "inputs": {"x": [1]}, "wrt": ["q"]})J", "wrt: 'q'"},
      {{"grad"}, R"J({"expr": "x", "inputs": {"x": [1]}, "dtype": "float16"})J", "\"dtype\" must be"},
      {{"grad", "--strict"}, "{}", "option not taken here: '--strict'"},
      {{"grad", "--frobnicate"}, "{}", "unknown option '--frobnicate'"},
      {{"grad", "--input", "/nonexistent/doc.json"}, "", "cannot read '/nonexistent/doc.json'"},
      {{"check"}, R"J({"expr": "sum(x)", "inputs": {"x": [1]}})J", "nothing to check"},
      {{"check"}, R"J({"expr": "sum(x)", "inputs": {"x": [1]}, "claims": {"q": [1]}})J",
       "claims: 'q' is not an input or a named step"},
      {{"check"}, R"J({"expr": "sum(x)", "inputs": {"x": [1]}, "claims": {"x": "sigmoid(q)"}})J",
       "claims.x: unknown name 'q'"},
      {{"dot", "--output", "graph.gif"}, R"J({"expr": "sum(x)", "inputs": {"x": [1]}})J", "gif"},
  };
  for (const Case& c : cases) {
    const Run r = run_cli(c.args, c.input);
    const std::string prefix = "gradlab " + c.args[0] + ": ";
    BOOST_TEST(r.status == 2, c.input << " → exit " << r.status);
    BOOST_TEST(r.one_line_starting(prefix), c.input << " → stderr:\n" << r.err);
    BOOST_TEST(r.err.find(c.says) != std::string::npos, c.input << " → " << r.err << "lacks: " << c.says);
    BOOST_TEST(r.out.empty(), c.input << " → stdout: " << r.out);
  }
  const Run none = run_cli({});
  BOOST_TEST(none.status == 2);
  BOOST_TEST(none.one_line_starting("gradlab: "));
  const Run unknown = run_cli({"integrate"});
  BOOST_TEST(unknown.status == 2);
  BOOST_TEST(unknown.one_line_starting("gradlab: unknown subcommand 'integrate'"));
}

// A syntax error: the line, then the expression and a caret under the column it names.
BOOST_AUTO_TEST_CASE(syntax_errors_show_a_caret_under_the_column) {
  const std::vector<std::pair<std::string, int>> cases = {
      {"sum(x) +* 2", 9}, {"sum(x", 6}, {"h = sigmoid(x) x", 16}, {"2x", 2}, {"x # 2", 3}, {"", 1},
      {"x < 1 < 2", 7}, {"x ! 2", 3}, {"x >", 4}, {"x > = 1", 5}, {"x => 1", 4}};
  for (const auto& [expr, column] : cases) {
    const Run r = run_cli({"grad"}, json({{"expr", expr}, {"inputs", {{"x", {1}}}}}).dump());
    BOOST_TEST(r.status == 2, expr);
    std::vector<std::string> lines;
    std::istringstream in(r.err);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    BOOST_TEST_REQUIRE(lines.size() == 3u, expr << " →\n" << r.err);
    BOOST_TEST(lines[0].rfind("gradlab grad: syntax error at column " + std::to_string(column) + ": ", 0) == 0,
               lines[0]);
    BOOST_TEST(lines[1] == "    " + expr);
    BOOST_TEST(lines[2] == std::string(3 + column, ' ') + "^", expr << " →\n" << r.err);
  }
}

// ---- limits and failures (issue 19) ----

// One line, exit status 2, nothing on stdout.
void refused(const Run& r, const std::string& subcommand, const std::string& says,
             const std::string& what) {
  BOOST_TEST(r.status == 2, what << " → exit " << r.status);
  BOOST_TEST(r.one_line_starting("gradlab " + subcommand + ": "), what << " → stderr:\n" << r.err);
  BOOST_TEST(r.err.find(says) != std::string::npos, what << " → " << r.err << "lacks: " << says);
  BOOST_TEST(r.out.empty(), what << " → stdout: " << r.out.substr(0, 200));
}

// 1e309 is past the largest double: from_chars said so, and the expression read it as 0.
BOOST_AUTO_TEST_CASE(numbers_too_large_for_a_double_are_errors_naming_the_column) {
  for (const char* expr : {"sum(x * 1e309)", "x^1e309", "sum(x) + 2e400"}) {
    const Run r = run_cli({"grad"}, json({{"expr", expr}, {"inputs", {{"x", {1, 2}}}}}).dump());
    refused(r, "grad", "is too large for a double", expr);
    BOOST_TEST(r.err.find("(column ") != std::string::npos, r.err);
  }
  // A number too small for a double is 0, as C, JSON readers and Python read it.
  check_close(ok("grad", {{"expr", "sum(x * 1e-400)"}, {"inputs", {{"x", {1}}}}})["value"], 0.0, 0);
  // In the document: nlohmann's own message had no place in it.
  const Run r = run_cli({"grad"}, "{\"expr\": \"sum(x)\",\n \"inputs\": {\"x\": [1, -1e309]}}");
  refused(r, "grad", "the number -1e309 at line 2, column 22 is too large for a double", "JSON");
}

// grad(sum(relu(x)), x) is a mask of constants, yet a value to differentiate against:
// ∂/∂h sum(h ∘ x) = x, as PyTorch says; the same for abs and the poolings.
BOOST_AUTO_TEST_CASE(a_step_made_of_constants_only_can_be_differentiated_against) {
  for (const char* op : {"relu(x)", "abs(x)", "max_pool2d(x, 1)", "avg_pool2d(x, 1)"}) {
    const bool image = std::string(op).find("pool") != std::string::npos;
    const json x = image ? json{{1, -2}} : json{1, -2};
    const json out = ok("grad", {{"expr", std::string("h = grad(sum(") + op + "), x); sum(h * x)"},
                                 {"inputs", {{"x", x}}},
                                 {"wrt", {"h"}}});
    check_close(out["grads"]["h"], x, 0, op);
  }
  // And inside an expression: grad(…, h) of such a step.
  const json out = ok("grad", {{"expr", "h = grad(sum(relu(x)), x); sum(grad(sum(h * h * x), h))"},
                               {"inputs", {{"x", {1, -2}}}}});
  check_close(out["value"], 2.0, 1e-12);  // 2·h·x = 2·1·1 + 2·0·(−2)
}

// Each of these crashed with SIGSEGV (a recursion per level); on a 1 MB stack each must end
// in one line and exit status 2.
BOOST_AUTO_TEST_CASE(deep_documents_end_in_one_line_on_a_1_MB_stack) {
  const RunOptions small_stack{.stack = 1 << 20};
  const std::string deep = std::string(130000, '[') + "1" + std::string(130000, ']');
  for (const std::string& document : std::vector<std::string>{R"J({"expr": "sum(x)", "inputs": {"x": )J" + deep + "}}",
        R"J({"expr": "sum(x)", "inputs": {"x": [1]}, "seed": )J" + deep + "}",
        R"J({"expr": "sum(x)", "inputs": {"x": [1]}, "claims": {"x": )J" + deep + "}}"})
    refused(run_cli({"check"}, document, small_stack), "check", "nests arrays and objects more than",
            document.substr(0, 50));
  std::string powers = "sum(x", shape = "reshape(x, [";
  for (int i = 0; i < 10000; ++i) powers += "^1";
  for (int i = 0; i < 20000; ++i) shape += "1, ";
  const std::vector<std::pair<std::string, std::string>> expressions = {
      {powers + ")", "nested too deeply"},
      {shape + "2])", "a tensor has at most 64 axes"},
      {std::string(5000, '(') + "x" + std::string(5000, ')'), "nested too deeply"},
      {std::string(5000, '-') + "x", "nested too deeply"},
  };
  for (const auto& [expr, says] : expressions) {
    const Run r = run_cli({"grad"}, json({{"expr", expr}, {"inputs", {{"x", {1, 2}}}}}).dump(), small_stack);
    BOOST_TEST(r.status == 2, expr.substr(0, 40) << " → exit " << r.status);
    BOOST_TEST(r.err.find(says) != std::string::npos, expr.substr(0, 40) << " → " << r.err.substr(0, 300));
  }
  // Expressions near the limit (48 levels) still evaluate on that stack, each kind of nesting.
  const std::size_t n = 44;
  std::string calls, parens = std::string(n, '(') + "x" + std::string(n, ')'), power = "x";
  for (std::size_t i = 0; i < n; ++i) calls += "sigmoid(";
  calls.append("x").append(n, ')');
  for (std::size_t i = 0; i + 2 < n; ++i) power += "^1";
  for (const std::string& expr : {calls, parens, power, std::string(n - 2, '-') + "x"}) {
    const Run r = run_cli({"grad"}, json({{"expr", "sum(" + expr + ")"}, {"inputs", {{"x", {1, 2}}}}}).dump(),
                          small_stack);
    BOOST_TEST(r.status == 0, expr.substr(0, 40) << " → exit " << r.status << ": " << r.err.substr(0, 300));
  }
}

// `> /dev/full` used to exit 0 with nothing written.
BOOST_AUTO_TEST_CASE(a_failed_write_to_stdout_is_an_error) {
  const Run r = run_cli({"grad"}, R"J({"expr": "sum(x)", "inputs": {"x": [1, 2]}})J",
                        {.stdout_to = "/dev/full"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.one_line_starting("gradlab grad: cannot write the output to stdout: "), r.err);
  BOOST_TEST(r.err.find(std::strerror(ENOSPC)) != std::string::npos, r.err);
}

// A document's budget: the elements its tensors hold together, the ops its graphs record,
// its own size; each checked as the work proceeds, each error naming the option to raise it.
BOOST_AUTO_TEST_CASE(each_document_has_a_budget_named_in_its_error) {
  std::string steps;
  for (int i = 0; i < 40; ++i) steps.append("h").append(std::to_string(i)).append(" = expand(x, 5000000, 2) + 1; ");
  const json forty_big_steps = {{"expr", steps + "sum(h0)"}, {"inputs", {{"x", {1, 2}}}}};
  refused(run_cli({"grad"}, forty_big_steps.dump()), "grad",
          "more than the 100000000 allowed; --max-elements N raises the limit", "40 steps of 10⁷");
  std::string nested = "sigmoid(x)";
  for (int i = 0; i < 14; ++i) nested = "grad(sum(tanh(" + nested + ")), x)";  // doubling each time
  refused(run_cli({"grad"}, json({{"expr", "sum(" + nested + ")"}, {"inputs", {{"x", {1, 2}}}}}).dump()),
          "grad", "ops recorded, more than the 1000000 allowed; --max-nodes N raises the limit",
          "nested grad");
  refused(run_cli({"grad", "--input", "/dev/zero"}), "grad",
          "the document is larger than the 16777216 bytes allowed (--max-input-bytes N raises", "/dev/zero");

  // Each limit is the option's; raised, the same document goes through.
  const json small = {{"expr", "h = expand(x, 500, 2) + 1; sum(h * h)"}, {"inputs", {{"x", {1, 2}}}}};
  for (const std::string subcommand : {"grad", "dot"})
    refused(run_cli({subcommand, "--max-elements", "1000"}, small.dump()), subcommand,
            "more than the 1000 allowed; --max-elements N raises the limit", subcommand);
  refused(run_cli({"grad", "--max-nodes", "2"}, small.dump()), "grad", "more than the 2 allowed", "nodes");
  refused(run_cli({"grad", "--max-input-bytes", "20"}, small.dump()), "grad",
          "larger than the 20 bytes allowed", "input");
  BOOST_TEST(run_cli({"grad", "--max-elements", "20000", "--max-nodes", "10"}, small.dump()).status == 0);
  json claimed = small;
  claimed["claims"] = {{"x", "sum(2 * h, axis=0)"}};
  refused(run_cli({"check", "--max-elements=2000"}, claimed.dump()), "check", "--max-elements N raises", "check");
  for (const char* bad : {"0", "-5", "1e9", "many"})
    refused(run_cli({"grad", "--max-elements", bad}, small.dump()), "grad",
            "--max-elements needs a whole number above 0", bad);
}

// Messages: a directory given as --input was read as an empty document.
BOOST_AUTO_TEST_CASE(input_that_is_a_directory_names_the_path) {
  refused(run_cli({"grad", "--input", scratch().string()}), "grad",
          "cannot read '" + scratch().string() + "': " + std::strerror(EISDIR), "a directory");
}

// Bytes that are not printable UTF-8 (a NUL, 0xff, an escape) never reach the terminal as
// they are, wherever the message quotes them from: nlohmann's "last read: …" quoted them raw.
BOOST_AUTO_TEST_CASE(messages_never_echo_raw_bytes) {
  const auto well_formed = [](const std::string& text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      const auto byte = static_cast<unsigned char>(text[i]);
      if (byte == '\n' && i + 1 == text.size()) continue;
      if (byte < 0x20 || byte == 0x7f) return false;
      if (byte < 0x80) continue;
      std::size_t n = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC2 ? 2 : 0;
      if (n == 0 || i + n > text.size()) return false;
      for (std::size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
      i += n - 1;
    }
    return true;
  };
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"grad"}, "{\"expr\": \"sum(\xff\xfe)\", \"inputs\": {\"x\": [1]}}"},
      {{"grad"}, std::string("{\"expr\": \"sum(x)\", \"inputs\": {\"x\": [1, \0\x1b]}}", 42)},
      {{"grad"}, "{\"expr\": \"sum(x)\", \"inputs\": {\"x\": [1, \xc3]}}"},
      {{"grad", "--\xff\x1b[2J"}, "{}"},
      {{"grad", "--input", "/nonexistent/\xff\x1b.json"}, ""},
      {{"grad"}, R"J({"expr": "x", "inputs": {"x": [1]}, "wrt": ["\u001b[2J\u0000"]})J"},
  };
  for (const auto& [args, input] : cases) {
    const Run r = run_cli(args, input);
    BOOST_TEST(r.status == 2);
    BOOST_TEST(r.one_line_starting("gradlab grad: "), r.err);
    BOOST_TEST(well_formed(r.err), json(r.err).dump(-1, ' ', true, json::error_handler_t::replace));
  }
}

// --output through a link to a device: the device is written to (and its failure reported),
// where the link used to be replaced by a regular file and the run said nothing.
BOOST_AUTO_TEST_CASE(a_failed_write_to_output_is_an_error) {
  const fs::path link = scratch() / "full.svg";
  fs::remove(link);
  fs::create_symlink("/dev/full", link);
  const Run r = run_cli({"dot", "--output", link.string()}, R"J({"expr": "sum(x)", "inputs": {"x": [1, 2]}})J");
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.one_line_starting("gradlab dot: "), r.err);
  BOOST_TEST(r.err.find(std::strerror(ENOSPC)) != std::string::npos, r.err);
  BOOST_TEST(fs::is_symlink(link));
  fs::remove(link);
}
