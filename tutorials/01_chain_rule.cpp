// 1. The chain rule on a graph.
//
//   d = a ∘ b,   e = d + c,   L = e²          with a = 2, b = −3, c = 10
//
// Three ops on three scalars, small enough to differentiate by hand. The program prints the
// forward values, then walks the graph backwards one op at a time, exactly as backward()
// does: each op receives ∂L/∂(its output), multiplies by its local derivative and sends the
// result on to its inputs. Then a leaf that feeds two ops, whose two gradients add up.
// Every number is compared with the value worked out by hand (written below), with the
// engine's backward() and with finite differences.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "tutorial.hpp"

using namespace gradlab;

namespace {

// The example graph. Built afresh for each diagram, so that every picture starts from an
// untouched graph.
struct Chain {
  Tensor a, b, c;  // the leaves
  Tensor d, e, L;  // what the three ops compute
};

Chain make_chain() {
  Chain g;
  g.a = scalar(2.0).set_requires_grad().name("a");
  g.b = scalar(-3.0).set_requires_grad().name("b");
  g.c = scalar(10.0).set_requires_grad().name("c");
  g.d = (g.a * g.b).name("d");  // hadamard: for scalars, just a·b
  g.e = (g.d + g.c).name("e");  // add
  g.L = pow(g.e, 2).name("L");  // pow with p = 2
  // backward() keeps .grad() only for leaves; these ask it to keep theirs too.
  g.d.retain_grad();
  g.e.retain_grad();
  g.L.retain_grad();
  return g;
}

// The same numbers worked out with pencil and paper:
//   d = 2·(−3) = −6,   e = −6 + 10 = 4,   L = 4² = 16
//   ∂L/∂L = 1
//   ∂L/∂e = 2e = 8                        (pow: the local derivative of e² is 2e)
//   ∂L/∂d = ∂L/∂e · 1 = 8,  ∂L/∂c = 8     (add: both local derivatives are 1)
//   ∂L/∂a = ∂L/∂d · b = −24, ∂L/∂b = ∂L/∂d · a = 16   (a·b: each input's is the other)
const std::map<std::string, double> hand_value = {{"d", -6}, {"e", 4}, {"L", 16}};
const std::map<std::string, double> hand_gradient = {{"L", 1}, {"e", 8},   {"d", 8},
                                                     {"c", 8}, {"a", -24}, {"b", 16}};

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// `text` followed by spaces up to `width` characters, counting a UTF-8 character (∂, ∘, ᵖ)
// as one, where std::setw would count its bytes.
std::string padded(const std::string& text, std::size_t width) {
  const auto characters = std::count_if(text.begin(), text.end(),
                                        [](unsigned char byte) { return (byte & 0xC0) != 0x80; });
  return text + std::string(width > std::size_t(characters) ? width - characters : 0, ' ');
}

// The ops of a graph in the order the backward pass visits them: the reverse of
// topological_order (which puts every tensor after its inputs), so that an op is visited
// only once every op that uses its output has sent its share.
std::vector<Tensor> backward_order(const Tensor& root) {
  std::vector<Tensor> order = topological_order({root});
  std::reverse(order.begin(), order.end());
  std::erase_if(order, [](const Tensor& t) { return t.is_leaf(); });
  return order;
}

// One gradient an op sent to one of its inputs.
struct Share {
  std::string from, to;
  double value;
};

struct Walk {
  std::map<const TensorImpl*, Tensor> gradient;  // ∂root/∂(tensor) for every tensor
  std::vector<Share> shares;                     // everything sent, in order
};

// What backward() does, written out. Start with ∂L/∂L = 1; at each op take the gradient G
// its output has collected, call the backward formula the op declared (its OpInfo gives
// the same formula as text) and add what comes back to each input's gradient. Adding, not
// replacing, is the multivariable chain rule: an input used by two ops gets both shares.
Walk walk_backward(const Tensor& root) {
  no_grad plain;  // the gradients here are plain numbers, not part of any graph
  Walk walk;
  walk.gradient[root.impl()] = ones_like(root);
  const std::string of = "∂" + root.name() + "/∂";
  int step = 0;
  for (const Tensor& out : backward_order(root)) {
    const Node& node = *out.node();
    const Tensor& G = walk.gradient.at(out.impl());
    std::cout << "step " << ++step << ": visit " << out.name() << " = " << node.op->name << "(";
    for (std::size_t i = 0; i < node.inputs().size(); ++i)
      std::cout << (i ? ", " : "") << node.inputs()[i].name();
    std::cout << "), which receives G = " << of << out.name() << " = " << G.item() << '\n';
    const Grads sent = node.backward(BackwardContext{G, out, node.inputs(), node.saved()});
    for (std::size_t i = 0; i < node.inputs().size(); ++i) {
      const Tensor& input = node.inputs()[i];
      auto [slot, first] = walk.gradient.try_emplace(input.impl(), sent[i]);
      const double before = first ? 0 : slot->second.item();
      if (!first) slot->second = slot->second + sent[i];  // a second share: add it to the first
      walk.shares.push_back({out.name(), input.name(), sent[i].item()});
      std::cout << "    to " << input.name() << ":  " << padded(node.op->gradients[i], 17)
                << " sends " << padded(number(sent[i].item()), 4) << " →  " << of << input.name()
                << " = ";
      if (!first) std::cout << before << " + " << sent[i].item() << " = ";
      std::cout << slot->second.item() << '\n';
    }
  }
  return walk;
}

// What `from` sent to `to` during the walk.
double share(const Walk& walk, const std::string& from, const std::string& to) {
  for (const Share& s : walk.shares)
    if (s.from == from && s.to == to) return s.value;
  return NAN;
}

// The diagram after `steps` ops have been visited: every tensor shows its value, and its
// gradient once the walk has reached it (those are drawn in red, with the edges the
// gradient came down); the op being visited is filled orange.
std::string step_diagram(std::size_t steps, const std::string& title) {
  const Chain g = make_chain();
  g.L.backward();  // every gradient, from the engine; those not reached yet are hidden
  const std::vector<Tensor> order = backward_order(g.L);
  std::set<const TensorImpl*> reached = {g.L.impl()};
  for (std::size_t k = 0; k < steps; ++k)
    for (const Tensor& input : order[k].node()->inputs()) reached.insert(input.impl());
  std::vector<Tensor> known;
  for (Tensor x : topological_order({g.L})) {
    if (reached.contains(x.impl()))
      known.push_back(x);
    else
      x.reset_grad();
  }
  return to_dot({g.L}, {.show_values = true,
                        .show_grads = true,
                        .formulas = true,
                        .highlight = known,
                        .colours = {{order[steps - 1], "#ffc680"}},
                        .title = title});
}

}  // namespace

int main(int argc, char** argv) {
  tutorial::Tutorial t(argc, argv, "1. The chain rule on a graph",
                       "d = a·b, e = d + c, L = e², differentiated one node at a time");

  t.section("1. Forward: values flow from the leaves to L");
  const Chain g = make_chain();
  std::cout << "a = " << g.a.item() << ", b = " << g.b.item() << ", c = " << g.c.item() << '\n'
            << "d = a·b = " << g.d.item() << '\n'
            << "e = d + c = " << g.e.item() << '\n'
            << "L = e² = " << g.L.item() << '\n';
  t.claim(g.d.item() == hand_value.at("d") && g.e.item() == hand_value.at("e") &&
              g.L.item() == hand_value.at("L"),
          "the forward values are the hand values d = −6, e = 4, L = 16");
  t.diagram("chain_forward",
            to_dot({g.L}, {.show_values = true, .title = "Forward: d = a·b, e = d + c, L = e²"}));

  t.section("2. Backward: one op at a time, from L back to the leaves");
  const Walk walk = walk_backward(g.L);
  for (const Tensor& x : {g.L, g.e, g.d, g.c, g.a, g.b}) {
    const double expected = hand_gradient.at(x.name());
    t.claim(walk.gradient.at(x.impl()).item() == expected,
            "the walk finds ∂L/∂" + x.name() + " = " + number(expected) + ", as by hand");
  }
  t.diagram("chain_step1", step_diagram(1, "Step 1: L = e² gets G = 1, sends G·2e = 8 to e"));
  t.diagram("chain_step2", step_diagram(2, "Step 2: e = d + c gets G = 8, sends G = 8 to d and c"));
  t.diagram("chain_step3",
            step_diagram(3, "Step 3: d = a·b gets G = 8, sends G·b = −24 to a, G·a = 16 to b"));

  t.section("3. backward() does the same walk");
  g.L.backward();
  std::cout << "after L.backward():  a.grad = " << g.a.grad().item()
            << ", b.grad = " << g.b.grad().item() << ", c.grad = " << g.c.grad().item()
            << ", d.grad = " << g.d.grad().item() << ", e.grad = " << g.e.grad().item() << '\n';
  bool same = true;
  for (const Tensor& x : {g.a, g.b, g.c, g.d, g.e})
    same = same && x.grad().item() == hand_gradient.at(x.name());
  t.claim(same, "backward() leaves the hand-derived gradients in .grad()");

  // Finite differences: nudge each leaf by ±ε and watch L move, with no chain rule at all.
  const GradcheckResult check = gradcheck(
      [](const std::vector<Tensor>& x) { return pow(x[0] * x[1] + x[2], 2); }, {g.a, g.b, g.c});
  std::cout << check.message << '\n';
  t.claim(check.ok, "gradcheck: the gradients of a, b and c match finite differences");

  t.section("4. A value used twice: its gradients add up");
  // u = a + c and v = a·b both use a; M = u·v. Then M = (a + c)·a·b, and by hand
  //   ∂M/∂u = v = −6,  ∂M/∂v = u = 12
  //   ∂M/∂a = ∂M/∂u · ∂u/∂a + ∂M/∂v · ∂v/∂a = (−6)·1 + 12·(−3) = −6 − 36 = −42
  //   ∂M/∂b = ∂M/∂v · a = 24,  ∂M/∂c = ∂M/∂u · 1 = −6
  Tensor a = scalar(2.0).set_requires_grad().name("a");
  Tensor b = scalar(-3.0).set_requires_grad().name("b");
  Tensor c = scalar(10.0).set_requires_grad().name("c");
  Tensor u = (a + c).name("u");
  Tensor v = (a * b).name("v");
  Tensor M = (u * v).name("M");
  for (Tensor* x : {&u, &v, &M}) x->retain_grad();
  std::cout << "u = a + c = " << u.item() << ", v = a·b = " << v.item()
            << ", M = u·v = " << M.item() << '\n';
  const Walk shared = walk_backward(M);
  t.claim(share(shared, "u", "a") == -6 && share(shared, "v", "a") == -36 &&
              shared.gradient.at(a.impl()).item() == -42,
          "a receives −6 through u and −36 through v, and keeps their sum: ∂M/∂a = −42");
  M.backward();
  t.claim(a.grad().item() == -42 && b.grad().item() == 24 && c.grad().item() == -6,
          "backward() gives ∂M/∂a = −42, ∂M/∂b = 24, ∂M/∂c = −6, as by hand");

  // The sum is right, and either share alone is wrong: a central difference of the plain
  // formula M(a) = (a + c)·a·b, no graph involved.
  const auto M_of = [](double a_value) { return (a_value + 10.0) * a_value * -3.0; };
  const double h = 1e-5, slope = (M_of(2 + h) - M_of(2 - h)) / (2 * h);
  std::cout << "finite difference (M(a + h) − M(a − h)) / 2h = " << slope << '\n';
  t.claim(std::abs(slope - -42) < 1e-6,
          "the finite difference is −42 too, not −6 or −36 (one path alone)");
  const GradcheckResult check_shared = gradcheck(
      [](const std::vector<Tensor>& x) { return (x[0] + x[2]) * (x[0] * x[1]); }, {a, b, c});
  std::cout << check_shared.message << '\n';
  t.claim(check_shared.ok, "gradcheck passes for M = (a + c)·(a·b)");
  t.diagram("chain_shared", to_dot({M}, {.show_values = true,
                                         .show_grads = true,
                                         .formulas = true,
                                         .highlight = {a},
                                         .title = "a is used twice: ∂M/∂a = −6 + (−36) = −42"}));
  return t.finish();
}
