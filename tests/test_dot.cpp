#define BOOST_TEST_MODULE dot
#include <graphviz/cgraph.h>

#include <algorithm>
#include <cctype>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <functional>
#include <gradlab/gradlab.hpp>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// ---- the programs we draw ----

// The seed network of the tutorials: h = σ(x·W), ŷ = σ(h·V), C = ½‖ŷ − t‖². With
// `layers`, each layer is recorded inside a `cluster` scope.
struct SeedNetwork {
  Tensor x, t, W, V, h, y, C;
  explicit SeedNetwork(bool layers = false) {
    Generator gen(42);
    x = tensor({{0.5, -1.0, 2.0}}).name("x");
    t = tensor({{1.0, 0.0}}).name("t");
    W = randn({3, 4}, gen).set_requires_grad().name("W");
    V = randn({4, 2}, gen).set_requires_grad().name("V");
    {
      std::unique_ptr<cluster> scope;
      if (layers) scope = std::make_unique<cluster>("hidden layer");
      h = sigmoid(matmul(x, W)).name("h");
    }
    {
      std::unique_ptr<cluster> scope;
      if (layers) scope = std::make_unique<cluster>("output layer");
      y = sigmoid(matmul(h, V)).name("ŷ");
    }
    C = (0.5 * sum(pow(y - t, 2))).name("C");
  }
};

// x₀ → sigmoid → sigmoid → … (n ops); x₀ requires grad.
Tensor sigmoid_chain(int n) {
  Tensor x = tensor({0.25}).set_requires_grad().name("x0");
  for (int i = 0; i < n; ++i) x = sigmoid(x);
  return x;
}

// ---- reading DOT back with libcgraph ----

using Graph = std::unique_ptr<Agraph_t, int (*)(Agraph_t*)>;

Graph parse(const std::string& dot) {
  Graph g(agmemread(dot.c_str()), agclose);
  BOOST_TEST_REQUIRE(g != nullptr, "libcgraph cannot read the DOT text:\n" << dot);
  return g;
}

// An attribute of a graph, node or edge; "" when it is not set.
std::string attr(void* object, const char* name) {
  const char* value = agget(object, const_cast<char*>(name));
  return value ? value : "";
}
std::string label(void* object) { return attr(object, "label"); }
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<Agnode_t*> nodes(Agraph_t* g) {
  std::vector<Agnode_t*> all;
  for (Agnode_t* n = agfstnode(g); n; n = agnxtnode(g, n)) all.push_back(n);
  return all;
}
std::vector<Agedge_t*> edges(Agraph_t* g) {
  std::vector<Agedge_t*> all;
  for (Agnode_t* n = agfstnode(g); n; n = agnxtnode(g, n))
    for (Agedge_t* e = agfstout(g, n); e; e = agnxtout(g, e)) all.push_back(e);
  return all;
}
// Where an edge's arrow starts and ends as drawn: the backward pass's edges are written
// reversed, with dir=back (Note [The backward pass goes up] in src/gradlab/tools/dot.cpp).
bool reversed(Agedge_t* e) { return attr(e, "dir") == "back"; }
Agnode_t* source(Agedge_t* e) { return reversed(e) ? aghead(e) : agtail(e); }
Agnode_t* target(Agedge_t* e) { return reversed(e) ? agtail(e) : aghead(e); }
std::vector<Agedge_t*> edges_into(Agraph_t* g, Agnode_t* n) {
  std::vector<Agedge_t*> in;
  for (Agedge_t* e = agfstin(g, n); e; e = agnxtin(g, e))
    if (!reversed(e)) in.push_back(e);
  for (Agedge_t* e = agfstout(g, n); e; e = agnxtout(g, e))
    if (reversed(e)) in.push_back(e);
  return in;
}
std::vector<Agedge_t*> edges_out_of(Agraph_t* g, Agnode_t* n) {
  std::vector<Agedge_t*> out;
  for (Agedge_t* e = agfstout(g, n); e; e = agnxtout(g, e))
    if (!reversed(e)) out.push_back(e);
  for (Agedge_t* e = agfstin(g, n); e; e = agnxtin(g, e))
    if (reversed(e)) out.push_back(e);
  return out;
}
std::size_t count_edges(Agraph_t* g, const std::function<bool(Agedge_t*)>& which) {
  const auto all = edges(g);
  return std::count_if(all.begin(), all.end(), which);
}

std::vector<Agnode_t*> nodes_with(Agraph_t* g, const std::string& text) {
  std::vector<Agnode_t*> found;
  for (Agnode_t* n : nodes(g))
    if (contains(label(n), text)) found.push_back(n);
  return found;
}
// The one node whose label contains `text`.
Agnode_t* node_with(Agraph_t* g, const std::string& text) {
  const auto found = nodes_with(g, text);
  BOOST_TEST_REQUIRE(found.size() == 1u, found.size() << " nodes have \"" << text << "\"");
  return found[0];
}

// The bold parts of a label: a leaf's name; an op's name, then its output's name if any.
std::vector<std::string> bold_parts(const std::string& label) {
  std::vector<std::string> parts;
  for (std::size_t at = label.find("<b>"); at != std::string::npos; at = label.find("<b>", at)) {
    at += 3;
    parts.push_back(label.substr(at, label.find("</b>", at) - at));
  }
  return parts;
}
// What a box is called: a leaf's or named output's name, else the op's name.
std::string tag(Agnode_t* n) {
  const auto parts = bold_parts(label(n));
  return parts.empty() ? "" : parts.back();
}
// The tags of the boxes with an edge into n, sorted.
std::multiset<std::string> input_tags(Agraph_t* g, Agnode_t* n) {
  std::multiset<std::string> tags;
  for (Agedge_t* e : edges_into(g, n)) tags.insert(tag(source(e)));
  return tags;
}
bool has_edge(Agraph_t* g, Agnode_t* from, Agnode_t* to) {
  for (Agedge_t* e : edges_out_of(g, from))
    if (target(e) == to) return true;
  return false;
}

// The text of an HTML-like label as a reader sees it: tags dropped, entities decoded.
std::string plain(const std::string& html) {
  std::string text;
  bool in_tag = false;
  for (char c : html) {
    if (c == '<') in_tag = true;
    if (!in_tag) text += c;
    if (c == '>') in_tag = false;
  }
  for (const auto& [entity, c] : {std::pair{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""},
                                  {"&amp;", "&"}})
    for (std::size_t at; (at = text.find(entity)) != std::string::npos;)
      text.replace(at, std::string(entity).size(), c);
  return text;
}

// A number as the diagrams print it in a table cell: four significant digits, ">-1.234<".
// (Built with snprintf: GCC 12 warns, wrongly, about ">" + string.)
std::string cell(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, ">%.4g<", v);
  return buf;
}

constexpr const char* forward_fill = "#fff4d6";  // what dot.cpp paints forward ops with
constexpr const char* red = "#d62728";           // and highlighted paths

}  // namespace

// ---- 1. the forward graph ----

// 13 boxes: the leaves x, W, V, t and the constant 0.5, and the eight ops
// matmul → sigmoid → matmul → sigmoid → sub → pow → sum → hadamard (0.5 · Σ).
BOOST_AUTO_TEST_CASE(forward_graph_of_the_seed_network) {
  const SeedNetwork net;
  const Graph g = parse(to_dot({net.C}));
  BOOST_TEST(agnnodes(g.get()) == 13);
  BOOST_TEST(agnedges(g.get()) == 12);

  std::multiset<std::string> leaves, ops;
  for (Agnode_t* n : nodes(g.get())) {
    if (edges_into(g.get(), n).empty())
      leaves.insert(tag(n));
    else
      ops.insert(bold_parts(label(n)).front());
  }
  BOOST_TEST(leaves == (std::multiset<std::string>{"0.5", "V", "W", "t", "x"}));
  BOOST_TEST(ops == (std::multiset<std::string>{"hadamard", "matmul", "matmul", "pow", "sigmoid",
                                                "sigmoid", "sub", "sum"}));

  // Parameters say so; inputs do not. Every box gives shape and dtype.
  Agnode_t *x = node_with(g.get(), "<b>x</b>"), *W = node_with(g.get(), "<b>W</b>");
  Agnode_t *V = node_with(g.get(), "<b>V</b>"), *t = node_with(g.get(), "<b>t</b>");
  Agnode_t *h = node_with(g.get(), "<b>h</b>"), *y = node_with(g.get(), "<b>ŷ</b>");
  Agnode_t* C = node_with(g.get(), "<b>C</b>");
  BOOST_TEST(contains(label(W), "requires grad"));
  BOOST_TEST(contains(label(V), "requires grad"));
  BOOST_TEST(!contains(label(x), "requires grad"));
  BOOST_TEST(!contains(label(t), "requires grad"));
  BOOST_TEST(contains(label(W), "3×4 · float64"));
  BOOST_TEST(contains(label(V), "4×2 · float64"));
  BOOST_TEST(contains(label(x), "1×3 · float64"));
  BOOST_TEST(contains(label(h), "<b>sigmoid</b>"));
  BOOST_TEST(contains(label(h), "1×4 · float64"));
  BOOST_TEST(contains(label(y), "1×2 · float64"));
  BOOST_TEST(contains(label(C), "<b>hadamard</b>"));
  BOOST_TEST(contains(label(C), "scalar · float64"));

  // An edge from every input of every op to the op: these are all 12 edges.
  const auto only_input = [&](Agnode_t* n) {
    const auto in = edges_into(g.get(), n);
    BOOST_TEST_REQUIRE(in.size() == 1u);
    return source(in[0]);
  };
  Agnode_t* first_matmul = only_input(h);
  Agnode_t* second_matmul = only_input(y);
  BOOST_TEST(input_tags(g.get(), first_matmul) == (std::multiset<std::string>{"W", "x"}));
  BOOST_TEST(input_tags(g.get(), second_matmul) == (std::multiset<std::string>{"V", "h"}));
  BOOST_TEST(has_edge(g.get(), W, first_matmul));
  BOOST_TEST(has_edge(g.get(), h, second_matmul));
  Agnode_t* sub = node_with(g.get(), "<b>sub</b>");
  Agnode_t* pow = node_with(g.get(), "<b>pow</b>");
  Agnode_t* sum = node_with(g.get(), "<b>sum</b>");
  BOOST_TEST(input_tags(g.get(), sub) == (std::multiset<std::string>{"t", "ŷ"}));
  BOOST_TEST(has_edge(g.get(), sub, pow));
  BOOST_TEST(has_edge(g.get(), pow, sum));
  BOOST_TEST(input_tags(g.get(), C) == (std::multiset<std::string>{"0.5", "sum"}));
  // Only the output is drawn with a double border.
  BOOST_TEST(attr(C, "peripheries") == "2");
  BOOST_TEST(count_edges(g.get(), [](Agedge_t* e) { return !label(e).empty(); }) == 0u);
}

// ---- 2. the gradient graph ----

BOOST_AUTO_TEST_CASE(gradient_graph_of_the_seed_network) {
  const SeedNetwork net;
  const auto grads = grad({net.C}, {net.W, net.V}, {.create_graph = true});
  const Graph g = parse(to_dot({net.C}, {.formulas = true,
                                         .gradients = {{grads[0], net.W}, {grads[1], net.V}}}));
  Agnode_t *W = node_with(g.get(), "<b>W</b>"), *V = node_with(g.get(), "<b>V</b>");
  Agnode_t* h = node_with(g.get(), "<b>h</b>");
  Agnode_t* dW = node_with(g.get(), "∂/∂W");
  Agnode_t* dV = node_with(g.get(), "∂/∂V");

  // The backward pass's ops have a colour of their own; the eight forward ops keep theirs.
  const std::string backward_fill = attr(dW, "fillcolor");
  BOOST_TEST(backward_fill != forward_fill);
  BOOST_TEST(attr(dV, "fillcolor") == backward_fill);
  BOOST_TEST(attr(h, "fillcolor") == forward_fill);
  std::vector<Agnode_t*> forward_ops, backward_ops;
  for (Agnode_t* n : nodes(g.get())) {
    if (attr(n, "fillcolor") == forward_fill) forward_ops.push_back(n);
    if (attr(n, "fillcolor") == backward_fill) backward_ops.push_back(n);
  }
  BOOST_TEST(forward_ops.size() == 8u);
  BOOST_TEST(backward_ops.size() > 8u);
  BOOST_TEST(std::any_of(backward_ops.begin(), backward_ops.end(),
                         [](Agnode_t* n) { return contains(label(n), "<b>hadamard</b>"); }));

  // ∂C/∂V = hᵀ · δ_out: a matmul fed by the transpose of h.
  BOOST_TEST(contains(label(dV), "<b>matmul</b>"));
  BOOST_TEST(contains(label(dV), "4×2"));
  Agnode_t* hT = nullptr;
  for (Agedge_t* e : edges_into(g.get(), dV))
    if (contains(label(source(e)), "<b>transpose</b>")) hT = source(e);
  BOOST_TEST_REQUIRE(hT != nullptr);
  BOOST_TEST(attr(hT, "fillcolor") == backward_fill);
  BOOST_TEST(has_edge(g.get(), h, hT));
  BOOST_TEST(contains(label(hT), "4×1"));

  // ∂C/∂W = xᵀ · δ_hid: x needs no gradient, so xᵀ is a constant; it holds x's numbers
  // transposed, and is called so.
  BOOST_TEST(contains(label(dW), "<b>matmul</b>"));
  BOOST_TEST(contains(label(dW), "3×4"));
  Agnode_t* xT = nullptr;
  for (Agedge_t* e : edges_into(g.get(), dW))
    if (edges_into(g.get(), source(e)).empty()) xT = source(e);
  BOOST_TEST_REQUIRE(xT != nullptr);
  BOOST_TEST(tag(xT) == "xᵀ");
  BOOST_TEST(contains(label(xT), "3×1 · float64"));
  BOOST_TEST(!contains(label(xT), ">-1<"));  // a name, so not its numbers
  BOOST_TEST(!contains(label(xT), "requires grad"));

  // Two dashed edges, one from each gradient to its tensor; they rank the gradient level
  // with its tensor (minlen=0), their text an xlabel (see Note [The backward pass goes up]).
  const auto dashed = [](Agedge_t* e) { return attr(e, "style") == "dashed"; };
  BOOST_TEST(count_edges(g.get(), dashed) == 2u);
  for (auto [from, to, text] : {std::tuple{dW, W, "∂/∂W"}, {dV, V, "∂/∂V"}}) {
    const auto out = edges_out_of(g.get(), from);
    BOOST_TEST_REQUIRE(out.size() == 1u);
    BOOST_TEST(target(out[0]) == to);
    BOOST_TEST(dashed(out[0]));
    BOOST_TEST(attr(out[0], "minlen") == "0");
    BOOST_TEST(attr(out[0], "xlabel") == text);
  }

  // formulas label the forward graph's 12 edges only, not the backward ones.
  BOOST_TEST(count_edges(g.get(), [&](Agedge_t* e) {
               return contains(label(e), "∂") && !dashed(e);
             }) == 12u);
  BOOST_TEST(count_edges(g.get(), [&](Agedge_t* e) {
               return attr(target(e), "fillcolor") == backward_fill && !label(e).empty();
             }) == 0u);
}

// Note [Names for what the backward pass made]: every box of the gradient graph says what it
// is; none is a bare "#N".
BOOST_AUTO_TEST_CASE(what_the_backward_pass_made_is_called_what_it_is) {
  const SeedNetwork net;
  const auto grads = grad({net.C}, {net.W, net.V}, {.create_graph = true});
  const Graph g = parse(to_dot({net.C}, {.gradients = {{grads[0], net.W}, {grads[1], net.V}}}));
  std::multiset<std::string> described;  // in italics: what an unnamed op computed
  for (Agnode_t* n : nodes(g.get())) {
    const std::string text = label(n);
    BOOST_TEST(!contains(text, "<b>#"), text);
    if (const std::size_t at = text.find("<i>"); at != std::string::npos)
      described.insert(text.substr(at + 3, text.find("</i>") - at - 3));
  }
  // σ′ = s ∘ (1 − s) for both sigmoids; the transposes of matmul's backward.
  for (const char* what : {"1 − ŷ", "1 − h", "Vᵀ", "hᵀ"})
    BOOST_TEST(described.count(what) == 1u, what);
  BOOST_TEST(tag(node_with(g.get(), "<b>xᵀ</b>")) == "xᵀ");
  // The ½ of the cost: the gradient arriving at the square, ½ in each of its two elements
  // (beside the forward graph's own 0.5); and the 2 that the square's p·xᵖ⁻¹ multiplies by.
  std::multiset<std::string> halves;  // their shapes
  for (Agnode_t* n : nodes_with(g.get(), "<b>0.5</b>"))
    halves.insert(contains(label(n), "1×2 · float64") ? "1×2" : "scalar");
  BOOST_TEST(halves == (std::multiset<std::string>{"1×2", "scalar"}));
  Agnode_t* two = node_with(g.get(), "<b>2</b>");
  const auto out = edges_out_of(g.get(), two);
  BOOST_TEST_REQUIRE(out.size() == 1u);
  BOOST_TEST(contains(label(target(out[0])), "<b>hadamard</b>"));
}

// Note [The backward pass goes up]: its own edges are written reversed (drawn the same way
// with dir=back), and those from the forward pass into it do not rank.
BOOST_AUTO_TEST_CASE(the_backward_pass_is_ranked_from_the_loss_up) {
  const SeedNetwork net;
  const auto grads = grad({net.C}, {net.W, net.V}, {.create_graph = true});
  const Graph g = parse(to_dot({net.C}, {.gradients = {{grads[0], net.W}, {grads[1], net.V}}}));
  const std::string backward_fill = attr(node_with(g.get(), "∂/∂W"), "fillcolor");
  std::size_t up = 0, loose = 0;
  for (Agedge_t* e : edges(g.get())) {
    if (attr(e, "style") == "dashed") continue;
    const bool into_backward = attr(target(e), "fillcolor") == backward_fill;
    const bool from_backward = attr(source(e), "fillcolor") == backward_fill;
    const bool from_forward = attr(source(e), "fillcolor") == forward_fill ||
                              contains(label(source(e)), "requires grad");
    if (!into_backward) {
      BOOST_TEST(!reversed(e));
      BOOST_TEST(attr(e, "constraint") != "false");
    } else if (from_backward) {
      BOOST_TEST(reversed(e));
      up += 1;
    } else if (from_forward) {
      BOOST_TEST(attr(e, "constraint") == "false");
      loose += 1;
    }
  }
  BOOST_TEST(up > 8u);
  BOOST_TEST(loose >= 6u);  // h, ŷ twice each, V, the forward sub
}

BOOST_AUTO_TEST_CASE(a_legend_says_what_the_colours_and_dashes_mean) {
  const SeedNetwork net;
  const auto grads = grad({net.C}, {net.W, net.V}, {.create_graph = true});
  const DotOptions options{.gradients = {{grads[0], net.W}, {grads[1], net.V}}};
  const Graph g = parse(to_dot({net.C}, options));
  Agnode_t* legend = agnode(g.get(), const_cast<char*>("legend"), 0);
  BOOST_TEST_REQUIRE(legend != nullptr);
  BOOST_TEST(edges_into(g.get(), legend).empty());
  BOOST_TEST(edges_out_of(g.get(), legend).empty());
  // A row for each fill the picture uses, each in the words for it.
  const std::string key = label(legend);
  std::set<std::string> fills;
  for (Agnode_t* n : nodes(g.get()))
    if (n != legend) fills.insert(attr(n, "fillcolor"));
  BOOST_TEST(fills.size() == 4u);  // parameter, constant, forward op, backward op
  for (const std::string& fill : fills) BOOST_TEST(contains(key, "bgcolor=\"" + fill + "\""), fill);
  for (const char* words : {"parameter", "constant", "forward pass", "backward pass", "dashed",
                            "double border"})
    BOOST_TEST(contains(plain(key), words), words);
  BOOST_TEST(!contains(plain(key), "red"));  // nothing highlighted, so no word about it

  DotOptions without = options;
  without.legend = false;
  BOOST_TEST(agnode(parse(to_dot({net.C}, without)).get(), const_cast<char*>("legend"), 0) ==
             nullptr);
  // A forward graph has no gradient graph to explain.
  BOOST_TEST(agnode(parse(to_dot({net.C})).get(), const_cast<char*>("legend"), 0) == nullptr);
}

// ---- 3. options ----

BOOST_AUTO_TEST_CASE(left_to_right_sets_rankdir) {
  const SeedNetwork net;
  BOOST_TEST(attr(parse(to_dot({net.C})).get(), "rankdir") == "TB");
  BOOST_TEST(attr(parse(to_dot({net.C}, {.left_to_right = true})).get(), "rankdir") == "LR");
}

BOOST_AUTO_TEST_CASE(title_is_printed_above_the_diagram) {
  const SeedNetwork net;
  const Graph g = parse(to_dot({net.C}, {.title = "Seed <network> & loss"}));
  BOOST_TEST(plain(label(g.get())) == "Seed <network> & loss");
  BOOST_TEST(attr(g.get(), "labelloc") == "t");
}

BOOST_AUTO_TEST_CASE(show_values_prints_the_numbers_of_small_tensors) {
  const SeedNetwork net;
  const Graph plain_graph = parse(to_dot({net.C}));
  BOOST_TEST(!contains(label(node_with(plain_graph.get(), "<b>x</b>")), "0.5"));

  const Graph g = parse(to_dot({net.C}, {.show_values = true}));
  const std::string x = label(node_with(g.get(), "<b>x</b>"));
  for (const char* number : {">0.5<", ">-1<", ">2<"}) BOOST_TEST(contains(x, number));
  const std::string W = label(node_with(g.get(), "<b>W</b>"));
  for (double v : net.W.values()) BOOST_TEST(contains(W, cell(v)));

  // W has 12 numbers: past value_limit it is drawn without them.
  const Graph limited = parse(to_dot({net.C}, {.show_values = true, .value_limit = 10}));
  BOOST_TEST(!contains(label(node_with(limited.get(), "<b>W</b>")), cell(net.W.at({0, 0}))));
  BOOST_TEST(contains(label(node_with(limited.get(), "<b>V</b>")), cell(net.V.at({0, 0}))));
}

BOOST_AUTO_TEST_CASE(show_grads_prints_gradients_after_backward) {
  const SeedNetwork net;
  BOOST_TEST(!contains(label(node_with(parse(to_dot({net.C}, {.show_grads = true})).get(),
                                       "<b>W</b>")),
                       ">grad</font>"));
  net.C.backward();
  const Graph g = parse(to_dot({net.C}, {.show_grads = true}));
  const std::string W = label(node_with(g.get(), "<b>W</b>"));
  BOOST_TEST(contains(W, ">grad</font>"));
  for (double v : net.W.grad().values()) BOOST_TEST(contains(W, cell(v)));
}

// Each edge into an op carries the gradient text the op declares, written with the
// program's names for the op's inputs: Note [Edge labels in the program's names].
BOOST_AUTO_TEST_CASE(formulas_label_edges_with_the_gradient_each_op_declares) {
  const SeedNetwork net;
  const Graph g = parse(to_dot({net.C}, {.formulas = true}));
  Agnode_t* h = node_with(g.get(), "<b>h</b>");
  const auto into_sigmoid = edges_into(g.get(), h);
  BOOST_TEST_REQUIRE(into_sigmoid.size() == 1u);
  // sigmoid's input (x·W) has no name, and x is the program's: so its letter is primed.
  BOOST_TEST(net.h.node()->op->gradients.at(0) == std::string("∂x = G ∘ σ(x) ∘ (1 − σ(x))"));
  BOOST_TEST(plain(label(into_sigmoid[0])) == "∂x′ = G ∘ σ(x′) ∘ (1 − σ(x′))");

  // matmul(x, W) declares ∂A = G · Bᵀ and ∂B = Aᵀ · G: here A is x and B is W.
  const OpInfo& matmul_info = *net.h.node()->inputs()[0].node()->op;
  BOOST_TEST(matmul_info.gradients.at(0) == std::string("∂A = G · Bᵀ"));
  Agnode_t* matmul = source(into_sigmoid[0]);
  for (Agedge_t* e : edges_into(g.get(), matmul)) {
    const std::string text = plain(label(e));
    if (tag(source(e)) == "x") {
      BOOST_TEST(text == "∂x = G · Wᵀ");
    } else {
      BOOST_TEST(tag(source(e)) == "W");
      BOOST_TEST(text == "∂W = xᵀ · G");
    }
  }
  // 0.5 · Σ: the number stands in the formula, but not after ∂ (a number has no gradient).
  Agnode_t* C = node_with(g.get(), "<b>C</b>");
  for (Agedge_t* e : edges_into(g.get(), C))
    BOOST_TEST(plain(label(e)) == (tag(source(e)) == "0.5" ? "∂a = G ∘ b" : "∂b = G ∘ 0.5"));
  BOOST_TEST(count_edges(g.get(), [](Agedge_t* e) { return label(e).empty(); }) == 0u);
}

// The words of a formula that name a tensor of the picture (not G, not a letter of its own).
std::set<std::string> names_in(const std::string& formula, const std::set<std::string>& names) {
  std::set<std::string> found;
  std::string word;
  for (char c : formula + " ") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += c;
      continue;
    }
    if (names.contains(word)) found.insert(word);
    word.clear();
  }
  return found;
}

// Tutorial 1's graphs: d = a·b, e = d + c, L = e², and M = u·v with u = a + c, v = a·b. Every
// name an edge's text speaks of is one of that op's own inputs, and the ∂ is its tail's.
BOOST_AUTO_TEST_CASE(formulas_never_speak_of_another_tensor_of_the_picture) {
  const Tensor a = scalar(2.0).set_requires_grad().name("a");
  const Tensor b = scalar(-3.0).set_requires_grad().name("b");
  const Tensor c = scalar(10.0).set_requires_grad().name("c");
  const Tensor d = (a * b).name("d"), e = (d + c).name("e"), L = pow(e, 2).name("L");
  const Tensor u = (a + c).name("u"), v = (a * b).name("v"), M = (u * v).name("M");
  const std::set<std::string> names = {"a", "b", "c", "d", "e", "L", "u", "v", "M"};
  std::map<std::pair<std::string, std::string>, std::string> texts;  // (from, to) → text
  for (const Tensor& out : {L, M}) {
    const Graph g = parse(to_dot({out}, {.formulas = true}));
    for (Agedge_t* edge : edges(g.get())) {
      const std::string text = plain(label(edge)), from = tag(source(edge));
      Agnode_t* op = target(edge);
      const std::string to = tag(op);
      texts[{from, to}] = text;
      std::multiset<std::string> inputs = input_tags(g.get(), op);
      for (const std::string& name : names_in(text, names))
        BOOST_TEST(inputs.contains(name), "\"" << text << "\" on " << from << " → " << to);
      BOOST_TEST(text.starts_with("∂" + from + " "), text);
    }
  }
  BOOST_TEST(texts.at({"d", "e"}) == "∂d = G");  // add's ∂a = G: d here, not the leaf a
  BOOST_TEST(texts.at({"c", "e"}) == "∂c = G");
  BOOST_TEST(texts.at({"b", "d"}) == "∂b = G ∘ a");
  BOOST_TEST(texts.at({"e", "L"}) == "∂e = G ∘ p·eᵖ⁻¹");
  BOOST_TEST(texts.at({"u", "M"}) == "∂u = G ∘ v");
  BOOST_TEST(texts.at({"v", "M"}) == "∂v = G ∘ u");  // hadamard's ∂b = G ∘ a, with its a = u
}

// A name of more than one term goes in parentheses; the article in "(a step)" is no input.
BOOST_AUTO_TEST_CASE(formulas_keep_their_sense_with_any_names) {
  const Tensor a = tensor({1.0, -1.0}).set_requires_grad().name("a <&> b");
  const Tensor r = relu(a);
  const Graph g = parse(to_dot({r}, {.formulas = true}));
  const auto e = edges(g.get());
  BOOST_TEST_REQUIRE(e.size() == 1u);  // and '>', '<', '&' reach the diagram intact
  BOOST_TEST(plain(label(e[0])) == "∂(a <&> b) = G ∘ [(a <&> b) > 0]");
  BOOST_TEST(contains(plain(label(node_with(g.get(), "requires grad"))), "a <&> b"));

  const Tensor p = tensor({1.0, 2.0}).set_requires_grad().name("p");
  const Tensor q = tensor({3.0, 4.0}).set_requires_grad().name("q");
  const Tensor picked = where(greater(p, q), p, q);
  const Graph w = parse(to_dot({picked}, {.formulas = true}));
  std::multiset<std::string> texts;
  for (Agedge_t* edge : edges(w.get())) texts.insert(plain(label(edge)));
  BOOST_TEST(texts == (std::multiset<std::string>{"∂c: none (a step)", "∂p = where(c, G, 0)",
                                                  "∂q = where(c, 0, G)"}));
}

BOOST_AUTO_TEST_CASE(clusters_hold_their_ops_and_the_leaves_only_they_use) {
  const SeedNetwork net(/*layers=*/true);
  const Graph g = parse(to_dot({net.C}));
  std::map<std::string, std::multiset<std::string>> members;  // label → tags
  for (Agraph_t* s = agfstsubg(g.get()); s; s = agnxtsubg(s)) {
    BOOST_TEST(std::string(agnameof(s)).rfind("cluster_", 0) == 0u);
    for (Agnode_t* n : nodes(s)) members[plain(label(s))].insert(tag(n));
  }
  BOOST_TEST(members.size() == 2u);
  BOOST_TEST(members["hidden layer"] == (std::multiset<std::string>{"W", "h", "matmul", "x"}));
  BOOST_TEST(members["output layer"] == (std::multiset<std::string>{"V", "matmul", "ŷ"}));
  BOOST_TEST(agnnodes(g.get()) == 13);  // nothing lost or doubled
  BOOST_TEST(agnedges(g.get()) == 12);
}

BOOST_AUTO_TEST_CASE(a_leaf_shared_between_clusters_stays_outside) {
  const Tensor w = tensor({2.0}).set_requires_grad().name("w");
  Tensor a, b;
  {
    cluster c("first");
    a = sigmoid(w);
  }
  {
    cluster c("second");
    b = tanh(w);
  }
  const Graph g = parse(to_dot({a + b}));
  for (Agraph_t* s = agfstsubg(g.get()); s; s = agnxtsubg(s)) {
    BOOST_TEST(agnnodes(s) == 1);
    BOOST_TEST(!contains(label(agfstnode(s)), "<b>w</b>"));
  }
}

BOOST_AUTO_TEST_CASE(collapse_draws_a_cluster_as_one_box) {
  const SeedNetwork net(/*layers=*/true);
  const Graph g = parse(to_dot({net.C}, {.collapse = {"hidden layer"}}));
  // x, W, the matmul and h become one box; the three edges among them go.
  BOOST_TEST(agnnodes(g.get()) == 13 - 4 + 1);
  BOOST_TEST(agnedges(g.get()) == 12 - 3);
  Agnode_t* box = node_with(g.get(), "hidden layer");
  BOOST_TEST(contains(label(box), "4 tensors"));
  BOOST_TEST(nodes_with(g.get(), "<b>W</b>").empty());
  BOOST_TEST(nodes_with(g.get(), "<b>x</b>").empty());
  BOOST_TEST(edges_into(g.get(), box).empty());
  const auto out = edges_out_of(g.get(), box);  // h → the second matmul
  BOOST_TEST_REQUIRE(out.size() == 1u);
  BOOST_TEST(input_tags(g.get(), target(out[0])) ==
             (std::multiset<std::string>{"V", "hidden layer"}));
  // The other cluster is still drawn open.
  std::vector<std::string> subgraphs;
  for (Agraph_t* s = agfstsubg(g.get()); s; s = agnxtsubg(s)) subgraphs.push_back(plain(label(s)));
  BOOST_TEST(subgraphs == std::vector<std::string>{"output layer"});
}

// A cluster whose every member is collapsed counts as one box against node_limit.
BOOST_AUTO_TEST_CASE(collapse_makes_a_large_graph_fit_the_node_limit) {
  Tensor chain;
  {
    cluster c("chain");
    chain = sigmoid_chain(1000);
  }
  const Graph g = parse(to_dot({sum(chain)}, {.collapse = {"chain"}}));
  BOOST_TEST(agnnodes(g.get()) == 2);
  BOOST_TEST(agnedges(g.get()) == 1);
  BOOST_TEST(contains(label(node_with(g.get(), "<b>chain</b>")), "1001 tensors"));
}

BOOST_AUTO_TEST_CASE(highlight_colours_the_paths_to_a_tensor) {
  const SeedNetwork net;
  const Graph g = parse(to_dot({net.C}, {.highlight = {net.W}}));
  std::multiset<std::string> on_path;
  for (Agnode_t* n : nodes(g.get()))
    if (attr(n, "color") == red) on_path.insert(tag(n));
  // W and everything computed from it, down to C.
  BOOST_TEST(on_path == (std::multiset<std::string>{"C", "W", "h", "matmul", "matmul", "pow",
                                                    "sub", "sum", "ŷ"}));
  BOOST_TEST(attr(node_with(g.get(), "<b>V</b>"), "color") != red);
  BOOST_TEST(attr(node_with(g.get(), "<b>x</b>"), "color") != red);
  // The 8 edges along that path are red too; x → matmul, V → matmul, … are not.
  BOOST_TEST(count_edges(g.get(), [](Agedge_t* e) { return attr(e, "color") == red; }) == 8u);
  for (Agedge_t* e : edges_out_of(g.get(), node_with(g.get(), "<b>x</b>")))
    BOOST_TEST(attr(e, "color") != red);
}

// The edges leaving a collapsed box merge into one; it is red when any of them is on the
// path, whatever the order of the op's inputs (a is off W's path, b on it).
BOOST_AUTO_TEST_CASE(highlight_goes_through_a_collapsed_cluster) {
  const Tensor W = tensor({1.0}).set_requires_grad().name("W");
  const Tensor k = tensor({2.0}).set_requires_grad().name("k");
  Tensor a, b;
  {
    cluster c("block");
    a = sigmoid(k);
    b = sigmoid(W);
  }
  const Graph g = parse(to_dot({a + b}, {.highlight = {W}, .collapse = {"block"}}));
  const auto e = edges(g.get());
  BOOST_TEST_REQUIRE(e.size() == 1u);  // block → add
  BOOST_TEST(attr(source(e[0]), "color") == red);
  BOOST_TEST(attr(target(e[0]), "color") == red);
  BOOST_TEST(attr(e[0], "color") == red);
}

BOOST_AUTO_TEST_CASE(node_limit_replaces_a_large_graph_by_a_note) {
  const Tensor chain = sigmoid_chain(1000);  // 1001 boxes
  const Graph note = parse(to_dot({chain}));
  BOOST_TEST(agnnodes(note.get()) == 1);
  BOOST_TEST(agnedges(note.get()) == 0);
  const std::string text = label(agfstnode(note.get()));
  BOOST_TEST(contains(text, "node_limit"));
  BOOST_TEST(contains(text, "1001 boxes"));
  BOOST_TEST(contains(text, "(150)"));

  const Graph all = parse(to_dot({chain}, {.node_limit = 0}));
  BOOST_TEST(agnnodes(all.get()) == 1001);
  BOOST_TEST(agnedges(all.get()) == 1000);
}

BOOST_AUTO_TEST_CASE(node_limit_is_the_largest_size_drawn) {
  const SeedNetwork net;  // 13 boxes
  BOOST_TEST(agnnodes(parse(to_dot({net.C}, {.node_limit = 13})).get()) == 13);
  BOOST_TEST(agnnodes(parse(to_dot({net.C}, {.node_limit = 12})).get()) == 1);
}

// ---- 4. determinism ----

BOOST_AUTO_TEST_CASE(the_same_program_gives_the_same_text) {
  const auto draw = [] {
    const SeedNetwork net(/*layers=*/true);
    const auto grads = grad({net.C}, {net.W, net.V}, {.create_graph = true});
    return to_dot({net.C}, {.show_values = true,
                            .formulas = true,
                            .highlight = {net.V},
                            .gradients = {{grads[0], net.W}, {grads[1], net.V}}});
  };
  const std::string first = draw(), second = draw();
  BOOST_TEST(first.size() > 1000u);
  BOOST_TEST(first == second);
}

BOOST_AUTO_TEST_CASE(unnamed_tensors_are_numbered_not_addressed) {
  Generator gen(1);
  const Tensor a = randn({2, 2}, gen).set_requires_grad();
  const Tensor b = randn({2, 2}, gen).set_requires_grad();
  const std::string dot = to_dot({sum(matmul(a, b))});
  const Graph g = parse(dot);
  std::multiset<std::string> leaves;
  for (Agnode_t* n : nodes(g.get()))
    if (edges_into(g.get(), n).empty()) leaves.insert(tag(n));
  BOOST_TEST(leaves == (std::multiset<std::string>{"#0", "#1"}));  // a is n0, b is n1
  BOOST_TEST(!contains(dot, "0x"));
}

// ---- 5. a deep graph ----

// The walk is iterative: a graph much deeper than the C++ stack allows for recursion.
BOOST_AUTO_TEST_CASE(a_deep_chain_is_drawn_without_overflowing_the_stack) {
  const Tensor chain = sigmoid_chain(100'000);
  const std::string dot = to_dot({chain}, {.node_limit = 0});
  std::size_t arrows = 0;
  for (std::size_t at = dot.find(" -> "); at != std::string::npos; at = dot.find(" -> ", at + 1))
    ++arrows;
  BOOST_TEST(arrows == 100'000u);
  BOOST_TEST(contains(dot, "\n  n100000 ["));
}

// Without create_graph a gradient is a plain leaf; its box still says whose it is.
BOOST_AUTO_TEST_CASE(a_gradient_without_its_graph_is_named_after_its_tensor) {
  const SeedNetwork net;
  const std::vector<Tensor> g = grad({net.C}, {net.W});
  const Graph graph = parse(to_dot({net.C}, {.gradients = {{g[0], net.W}}}));
  Agnode_t* gradient = node_with(graph.get(), "∂/∂W");
  BOOST_TEST(edges_into(graph.get(), gradient).empty());
  BOOST_TEST(tag(gradient) == "∂/∂W");
}

// ---- 6. errors ----

BOOST_AUTO_TEST_CASE(to_dot_needs_something_defined_to_draw) {
  BOOST_CHECK_EXCEPTION(to_dot({}), GraphError, says("nothing to draw"));
  BOOST_CHECK_EXCEPTION(to_dot({Tensor()}), GraphError, says("undefined tensor"));
  const SeedNetwork net;
  BOOST_CHECK_THROW(to_dot({net.C}, {.gradients = {{Tensor(), net.W}}}), GraphError);
  BOOST_CHECK_THROW(to_dot({net.C}, {.highlight = {Tensor()}}), GraphError);
  // Gradients alone are enough.
  const auto grads = grad({net.C}, {net.W}, {.create_graph = true});
  BOOST_TEST(contains(to_dot({}, {.gradients = {{grads[0], net.W}}}), "∂/∂W"));
}
