#include "gradlab/tools/dot.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "gradlab/core/errors.hpp"
#include "gradlab/core/graph.hpp"

namespace gradlab {

namespace {

// Note [How a diagram looks]
// Every colour, pen width and font size of the drawing is here, so that the legend, the
// boxes and the edges say the same. A box's fill says what it is: blue a parameter (a leaf
// that requires grad), grey a constant (a leaf that does not), yellow an op of the forward
// pass, salmon an op a backward pass recorded (create_graph), lilac a collapsed cluster.
// Its border is the fill's darker shade; red, and thicker, on a highlighted path. A dashed
// salmon arrow goes from a gradient to the tensor it is the gradient of. Formulas on edges
// are brown; the output has a double border.
namespace look {
struct Colours {
  const char* fill;
  const char* border;
};
constexpr Colours parameter{"#dbe9f6", "#4a7ab5"};
constexpr Colours constant{"#eeeeee", "#999999"};
constexpr Colours forward_op{"#fff4d6", "#c9a227"};
constexpr Colours backward_op{"#fde2d8", "#d0694a"};
constexpr Colours collapsed{"#e6e6f2", "#6a6a9a"};
constexpr Colours cluster{"#f7f7f7", "#bbbbbb"};
constexpr const char* edge_colour = "#555555";
constexpr const char* formula_colour = "#7a4a00";
constexpr const char* gradient_arrow_colour = backward_op.border;
constexpr const char* path_colour = "#d62728";
constexpr const char* note_fill = "#ffffe0";
constexpr const char* font = "DejaVu Sans";
constexpr int title_size = 13;    // the diagram's title
constexpr int box_size = 11;      // a box's first line; a cluster's label
constexpr int detail_size = 9;    // the lines under it; edge labels
constexpr int caption_size = 8;   // "value" and "grad" above their tables
constexpr double path_box_pen = 2.5;   // a highlighted box's border
constexpr double path_edge_pen = 2.0;  // a highlighted edge
constexpr double arrow_size = 0.7;
constexpr const char* box_margin = "0.12,0.06";  // inches around a box's text
constexpr int swatch_width = 24;  // points: a legend's sample of a colour
constexpr double node_gap = 0.35;  // inches between boxes side by side (nodesep)
constexpr double rank_gap = 0.45;  // … and between ranks (ranksep)
}  // namespace look

std::string box_style(const look::Colours& c, bool rounded) {
  return std::string(R"(style=")") + (rounded ? "rounded,filled" : "filled") +
         R"(", fillcolor=")" + c.fill + R"(", color=")" + c.border + '"';
}

std::string path_style(double pen) {
  char buf[64];
  std::snprintf(buf, sizeof buf, R"(color="%s", penwidth=%g)", look::path_colour, pen);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string number(double v) {
  if (v == 0) return "0";  // also −0
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string dims(const Shape& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "×" : "") + std::to_string(shape[i]);
  return s;
}

// "n3": a DOT node id. (Built by appending: GCC 12 warns, wrongly, about "n" + string.)
std::string node_id(char prefix, std::size_t k) {
  std::string id(1, prefix);
  return id.append(std::to_string(k));
}

std::string sized(const std::string& text, int points) {
  return "<font point-size=\"" + std::to_string(points) + "\">" + text + "</font>";
}

std::string small(const std::string& text) {
  return "<tr><td>" + sized(text, look::detail_size) + "</td></tr>";
}

// The numbers of a small tensor as a table, one row per matrix row (the last axis across).
std::string matrix(const Tensor& t, const char* caption) {
  const std::vector<double> v = t.values();
  const std::int64_t cols = t.dim() == 0 ? 1 : t.shape().back();
  std::string s = R"(<tr><td><table border="0" cellborder="1" cellspacing="0" cellpadding="2">)";
  if (caption)
    s += R"(<tr><td border="0" colspan=")" + std::to_string(cols) + R"(">)" +
         sized(caption, look::caption_size) + "</td></tr>";
  for (std::size_t i = 0; i < v.size(); i += cols) {
    s += "<tr>";
    for (std::int64_t j = 0; j < cols; ++j)
      s += R"(<td bgcolor="white">)" + sized(number(v[i + j]), look::detail_size) + "</td>";
    s += "</tr>";
  }
  return s + "</table></td></tr>";
}

// ---- formula text ----

// One character of UTF-8 text at byte `at`: its code point and its length in bytes.
std::pair<char32_t, std::size_t> decode(const std::string& s, std::size_t at) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[at + k]); };
  const unsigned char first = byte(0);
  const std::size_t n = first < 0x80 ? 1 : first < 0xe0 ? 2 : first < 0xf0 ? 3 : 4;
  if (at + n > s.size()) return {first, 1};
  char32_t c = n == 1 ? first : first & (0xff >> (n + 1));
  for (std::size_t k = 1; k < n; ++k) c = (c << 6) | (byte(k) & 0x3f);
  return {c, n};
}

// What a name in a formula is made of: ASCII letters and digits, '_', Greek letters (the γ
// and β of layer_norm) and combining marks (the hat of ŷ). Sub- and superscripts, primes
// and operators are not: in "Bᵀ" the name is B, in "aᵢⱼ" it is a.
bool in_word(char32_t c) {
  return (c < 0x80 && (std::isalnum(static_cast<int>(c)) || c == '_')) ||
         (c >= 0x0300 && c <= 0x036f) || (c >= 0x0370 && c <= 0x03ff);
}

// Text cut into words and the runs between them, in order.
struct Piece {
  std::string text;
  bool word;
};
std::vector<Piece> pieces(const std::string& s) {
  std::vector<Piece> out;
  for (std::size_t at = 0; at < s.size();) {
    const auto [c, n] = decode(s, at);
    const bool word = in_word(c);
    if (out.empty() || out.back().word != word) out.push_back({"", word});
    out.back().text += s.substr(at, n);
    at += n;
  }
  return out;
}

constexpr const char* partial = "∂";

// The name an op's gradient text gives its input: "a" in "∂a = G ∘ b"; "" if none.
std::string formal_name(const std::string& gradient) {
  const std::size_t at = gradient.find(partial);
  if (at == std::string::npos) return {};
  const std::vector<Piece> p = pieces(gradient.substr(at + std::string(partial).size()));
  return !p.empty() && p[0].word ? p[0].text : std::string();
}

// How a tensor is written inside a formula: as it is when it is one term (W, ŷ, 0.5, h′),
// else in parentheses ("(−3)", "(feature map)", "(xᵀ)" inside "(xᵀ)ᵀ").
std::string operand(const std::string& label) {
  bool one_term = !label.empty() && label[0] != '-' && label.rfind("−", 0) != 0;
  for (char c : label)
    if (static_cast<unsigned char>(c) < 0x80 && !std::isalnum(static_cast<unsigned char>(c)) &&
        c != '_' && c != '.')
      one_term = false;
  for (const char* op : {"−", "·", "∘", "×", "⊗", "ᵀ", partial, "√", "Σ"})
    if (label.find(op) != std::string::npos) one_term = false;
  return one_term ? label : "(" + label + ")";
}

// `text` with each word that is one of `from` replaced by the same entry of `to`, or of
// `targets` when it is the word right after ∂. The English article ("a constant", "a step")
// is not the input a and stays.
std::string rename(const std::string& text, const std::vector<std::string>& from,
                   const std::vector<std::string>& to, const std::vector<std::string>& targets) {
  const std::vector<Piece> p = pieces(text);
  std::string out;
  for (std::size_t k = 0; k < p.size(); ++k) {
    const auto which = std::find(from.begin(), from.end(), p[k].text);
    const bool article = p[k].text == "a" && k + 2 < p.size() && p[k + 1].text == " " &&
                         std::islower(static_cast<unsigned char>(p[k + 2].text[0]));
    if (!p[k].word || which == from.end() || article) {
      out += p[k].text;
      continue;
    }
    const bool target = k > 0 && p[k - 1].text.ends_with(partial);
    out += (target ? targets : to)[which - from.begin()];
  }
  return out;
}

// The input names of an op's gradient texts, one per input; empty when the op does not
// name each input once (concat's one text stands for all of its inputs).
std::vector<std::string> formal_names(const Node& n) {
  const auto& texts = n.op->gradients;
  if (texts.size() != n.inputs().size()) return {};
  std::vector<std::string> names;
  for (const char* text : texts) {
    names.push_back(formal_name(text));
    if (names.back().empty() ||
        std::count(names.begin(), names.end(), names.back()) > 1)
      return {};
  }
  return names;
}

// An op's formula as an expression of its inputs alone, or "" when it is more than that:
// "a − b" of "a − b", "xᵀ" of "xᵀ (two axes swapped)", "σ(x)" of "σ(x) = 1 / (1 + e⁻ˣ)".
// Every word left must be an input or a function applied to parentheses, so that prose
// ("x where x > 0", "Σ x / n" with its n) is never taken for a formula.
std::string expression(const OpInfo& op, const std::vector<std::string>& inputs) {
  std::string text = op.formula;
  text = text.substr(0, text.find(" ("));  // a remark in parentheses
  int depth = 0;
  for (std::size_t k = 0; k < text.size(); ++k) {  // a remark after a comma
    depth += text[k] == '(' ? 1 : text[k] == ')' ? -1 : 0;
    if (depth == 0 && text.compare(k, 2, ", ") == 0) {
      text.resize(k);
      break;
    }
  }
  const auto mentions_input = [&](const std::string& s) {
    for (const Piece& p : pieces(s))
      if (p.word && std::find(inputs.begin(), inputs.end(), p.text) != inputs.end()) return true;
    return false;
  };
  if (const std::size_t eq = text.find(" = "); eq != std::string::npos)
    text = mentions_input(text.substr(0, eq)) ? text.substr(0, eq) : text.substr(eq + 3);
  const std::vector<Piece> p = pieces(text);
  for (std::size_t k = 0; k < p.size(); ++k) {
    const bool input = std::find(inputs.begin(), inputs.end(), p[k].text) != inputs.end();
    const bool function = k + 1 < p.size() && p[k + 1].text.starts_with("(");
    if (p[k].word && !input && !function) return {};
  }
  return mentions_input(text) ? text : std::string();
}

std::size_t characters(const std::string& s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xc0) != 0x80; });
}

// Same numbers as x, or as x with its last two axes swapped (a vector read as a row).
bool same_numbers(const Tensor& c, const Tensor& x, bool transposed) {
  if (c.numel() != x.numel() || c.numel() == 0) return false;
  if (!transposed) return c.shape() == x.shape() && c.values() == x.values();
  Shape xs = x.dim() == 1 ? Shape{1, x.size(0)} : x.shape();
  if (xs.size() < 2) return false;
  std::swap(xs[xs.size() - 1], xs[xs.size() - 2]);
  if (c.shape() != xs) return false;
  const std::vector<double> cv = c.values(), xv = x.values();
  const std::int64_t rows = xs[xs.size() - 1], cols = xs[xs.size() - 2];  // of x
  for (std::size_t at = 0; at < xv.size(); ++at) {
    const std::int64_t block = at / (rows * cols), i = at / cols % rows, j = at % cols;
    if (cv[block * rows * cols + j * rows + i] != xv[at]) return false;
  }
  return true;
}

// What the diagram knows about one tensor.
struct Item {
  TensorImpl* t;
  std::string box = {};   // the DOT node it is drawn as: its own, or its collapsed cluster's
  std::string cluster = {};  // "" outside any cluster
  bool on_path = false;   // options.highlight: depends on a highlighted tensor
  bool output = false;
  // Made by a backward pass: an op it recorded, or a constant only its ops use (xᵀ, when x
  // needs no gradient). Drawn ranked the other way: see Note [The backward pass goes up].
  bool backward = false;
  std::string called = {};  // see Note [Names for what the backward pass made]
  bool described = false; // `called` describes it (1 − ŷ) rather than names it
};

// Note [Edge labels in the program's names]
// An op's gradient texts name its inputs by letters of their own (hadamard's a and b), and
// a program has names of its own: on the edge from d into e = d + c, "∂a = G" would speak
// of a tensor a the picture shows elsewhere. So each edge's text is written in the
// program's names: every word of the text that is one of the op's input letters (the word
// after each ∂, "a" in "∂a = G ∘ b") becomes that input's name, or its number if it is a
// one-element constant (though never after ∂: a number has no gradient). An input with no
// name keeps its letter, primed (a′, a″) while the picture shows a tensor of that name.
// Thus d = a·b keeps "∂a = G ∘ b", e = d + c reads "∂d = G", and M = u·v reads
// "∂v = G ∘ u". An op that does not name each input once (concat) keeps its text.

// Note [Names for what the backward pass made]
// A backward pass makes values the program never named: xᵀ, the 1 − ŷ of σ′, the 2 of a
// square. The diagram names each by what it is, from what it already knows:
//  - a one-element constant, or one whose elements are all equal, by its number (the 2);
//  - a constant only the backward pass uses, holding the numbers of a named tensor of the
//    picture, by that name, with ᵀ when they are its transpose (x needs no gradient, so
//    matmul's backward computes xᵀ unrecorded, as a constant);
//  - an op the backward pass recorded, by its formula written with its inputs' names when
//    they all have one ("1 − ŷ", "Vᵀ"), in italics: a description, not a name.
// Descriptions are not built on descriptions, so they stay short; the rest keep "#N".

// Note [The backward pass goes up]
// A backward pass runs from the output back to the parameters, so its last ops, the
// gradients, would sit at the bottom of the picture, far from the parameters at the top,
// with their dashed arrows crossing everything. So the backward pass's own edges are
// written reversed with dir=back (drawn the same, ranked the other way): it climbs from
// the loss back up beside the forward pass; the edges from forward values into it do not
// rank (constraint=false); and each gradient's dashed arrow ranks it level with or above
// its tensor (minlen=0), so ∂/∂W ends up beside W. (That arrow's text is an xlabel:
// Graphviz 2.42 corrupts its memory laying out a labelled edge of minlen 0 between
// clusters.)

class Diagram {
 public:
  Diagram(const std::vector<Tensor>& outputs, const DotOptions& options) : options_(options) {
    std::vector<Tensor> roots;
    for (const Tensor& t : outputs) roots.push_back(checked(t, "an output"));
    for (const auto& [gradient, of] : options.gradients) {
      roots.push_back(checked(gradient, "a gradient"));
      roots.push_back(checked(of, "the tensor of a gradient"));
    }
    for (const Tensor& t : topological_order(roots)) {  // inputs first: numbered in that order
      const Node* n = t.node();
      index_[t.impl()] = items_.size();
      Item item{.t = t.impl(), .box = node_id('n', items_.size())};
      if (n && n->cluster) item.cluster = *n->cluster;
      items_.push_back(std::move(item));
      if (t.impl()->name) names_.insert(*t.impl()->name);
    }
    for (const Tensor& t : outputs) items_[index_.at(t.impl())].output = true;
    for (const Item& item : items_)
      if (const Node* n = node_of(item.t))
        for (const Tensor& in : n->inputs()) users_[in.impl()].push_back(&item);
    place_leaves_in_clusters();
    mark_backward();
    mark_paths();
    assign_boxes();
    for (Item& item : items_) name(item);
  }

  std::string dot() const {
    std::ostringstream out;
    out << "digraph gradlab {\n"
        << "  graph [rankdir=" << (options_.left_to_right ? "LR" : "TB")
        << ", ordering=in, fontname=\"" << look::font << "\", fontsize=" << look::title_size
        << ", nodesep=" << look::node_gap << ", ranksep=" << look::rank_gap;
    if (!options_.title.empty())
      out << ", label=<<b>" << escape(options_.title) << "</b>>, labelloc=t";
    out << "];\n"
        << "  node [fontname=\"" << look::font << "\", fontsize=" << look::box_size
        << ", shape=box, margin=\"" << look::box_margin << "\"];\n"
        << "  edge [fontname=\"" << look::font << "\", fontsize=" << look::detail_size
        << ", color=\"" << look::edge_colour << "\", arrowsize=" << look::arrow_size << "];\n";
    if (options_.node_limit != 0 && boxes_ > options_.node_limit) {
      out << "  note [shape=note, style=filled, fillcolor=\"" << look::note_fill
          << "\", label=\"This graph has " << boxes_
          << " boxes, more than DotOptions::node_limit (" << options_.node_limit
          << ").\\nCollapse clusters (DotOptions::collapse) or raise the limit (0 draws any "
             "size).\"];\n}\n";
      return out.str();
    }
    nodes(out);
    edges(out);
    legend(out);
    out << "}\n";
    return out.str();
  }

 private:
  static const Tensor& checked(const Tensor& t, const char* what) {
    if (!t.defined()) throw GraphError(std::string("to_dot: ") + what + " is an undefined tensor");
    return t;
  }

  static const Node* node_of(const TensorImpl* t) { return t->node.get(); }

  // A leaf belongs in a cluster when every op that uses it is in that cluster (W in the
  // "hidden layer"); a leaf shared between clusters stays outside.
  void place_leaves_in_clusters() {
    for (Item& item : items_) {
      if (node_of(item.t) || !users_.contains(item.t)) continue;
      std::set<std::string> clusters;
      for (const Item* user : users_.at(item.t)) clusters.insert(user->cluster);
      if (clusters.size() == 1) item.cluster = *clusters.begin();
    }
  }

  void mark_backward() {
    for (Item& item : items_) {
      if (const Node* n = node_of(item.t)) {
        item.backward = n->from_backward;
      } else if (!item.t->requires_grad && users_.contains(item.t)) {
        const auto& users = users_.at(item.t);
        item.backward = std::all_of(users.begin(), users.end(),
                                    [](const Item* u) { return node_of(u->t)->from_backward; });
      }
    }
  }

  void mark_paths() {
    if (options_.highlight.empty()) return;
    std::set<TensorImpl*> targets;
    for (const Tensor& t : options_.highlight) targets.insert(checked(t, "a highlighted tensor").impl());
    for (Item& item : items_) {  // inputs come first, so their marks are ready
      item.on_path = targets.contains(item.t);
      if (const Node* n = node_of(item.t))
        for (const Tensor& in : n->inputs()) item.on_path = item.on_path || at(in.impl()).on_path;
    }
  }

  void assign_boxes() {
    std::map<std::string, std::string> collapsed;  // cluster label → its box
    for (Item& item : items_) {
      if (!collapsed_cluster(item.cluster)) {
        ++boxes_;
        continue;
      }
      auto [it, fresh] = collapsed.try_emplace(item.cluster, node_id('c', collapsed.size()));
      if (fresh) ++boxes_;
      item.box = it->second;
    }
  }

  bool collapsed_cluster(const std::string& label) const {
    return !label.empty() && std::find(options_.collapse.begin(), options_.collapse.end(),
                                       label) != options_.collapse.end();
  }

  const Item& at(TensorImpl* t) const { return items_[index_.at(t)]; }

  // Note [Names for what the backward pass made]. Inputs come first, so theirs are known.
  void name(Item& item) {
    const Tensor t = Tensor::share(item.t);
    const Node* n = node_of(item.t);
    if (item.t->name) {
      item.called = *item.t->name;
      return;
    }
    for (const auto& [gradient, of] : options_.gradients)
      if (gradient.impl() == item.t) {
        item.called = of.name().empty() ? "gradient" : "∂/∂" + of.name();
        return;
      }
    if (!n) {
      if (t.requires_grad() || t.numel() == 0) return;
      if (t.numel() == 1) {
        item.called = number(t.item());
        return;
      }
      if (item.backward)
        for (const Item& other : items_)
          if (other.t->name && other.t != item.t)
            for (bool transposed : {false, true})
              if (same_numbers(t, Tensor::share(other.t), transposed)) {
                item.called = *other.t->name + (transposed ? "ᵀ" : "");
                return;
              }
      const std::vector<double> v = t.values();
      if (std::all_of(v.begin(), v.end(), [&](double x) { return x == v[0]; }))
        item.called = number(v[0]);
      return;
    }
    if (!n->from_backward) return;
    const std::vector<std::string> formal = formal_names(*n);
    if (formal.empty()) return;
    std::vector<std::string> operands;
    for (const Tensor& in : n->inputs()) {
      const Item& input = at(in.impl());
      if (input.called.empty() || input.described) return;
      operands.push_back(operand(input.called));
    }
    const std::string expr = expression(*n->op, formal);
    if (expr.empty()) return;
    const std::string described = rename(expr, formal, operands, operands);
    if (characters(described) > max_description) return;
    item.called = described;
    item.described = true;
  }
  static constexpr std::size_t max_description = 16;  // characters

  // The text on the edge into n from its input i: Note [Edge labels in the program's names].
  std::string formula(const Node& n, std::size_t i) const {
    const std::string text = n.op->gradients[i];
    const std::vector<std::string> formal = formal_names(n);
    if (formal.empty()) return text;
    const std::size_t count = formal.size();
    std::vector<std::string> body(count), target(count);
    for (std::size_t k = 0; k < count; ++k) {
      const Tensor& in = n.inputs()[k];
      if (in.impl()->name)
        body[k] = target[k] = operand(in.name());
      else if (!in.node() && !in.requires_grad() && in.numel() == 1)
        body[k] = operand(number(in.item()));
    }
    for (std::size_t k = 0; k < count; ++k) {
      if (!target[k].empty()) continue;
      std::string letter = formal[k];
      const auto taken = [&](const std::string& s) {
        return names_.contains(s) || std::find(body.begin(), body.end(), s) != body.end() ||
               std::find(target.begin(), target.end(), s) != target.end();
      };
      while (taken(letter)) letter += "′";
      target[k] = letter;
      if (body[k].empty()) body[k] = letter;
    }
    return rename(text, formal, body, target);
  }

  std::string label(const Item& item) const {
    const Tensor t = Tensor::share(item.t);
    const Node* n = node_of(item.t);
    std::string title, detail = dims(t.shape()) + " · " + to_string(t.dtype());
    const std::string called = escape(item.called);
    if (n) {
      title = "<b>" + escape(n->op->name) + "</b>";
      if (!called.empty())
        detail = (item.described ? "<i>" + called + "</i>" : "<b>" + called + "</b>") + " · " +
                 detail;
    } else {
      title = "<b>" + (called.empty() ? "#" + item.box.substr(1) : called) + "</b>";
    }
    std::string s = R"(<<table border="0" cellborder="0" cellspacing="0" cellpadding="1"><tr><td>)" +
                    title + "</td></tr>" + small(detail);
    if (!n && t.requires_grad()) s += small("requires grad");
    const bool fits = t.numel() > 0 && t.numel() <= options_.value_limit;
    // A constant the program did not name is known by its numbers, so those are shown even
    // without show_values, unless it is one number or the name of another tensor's (xᵀ).
    const bool anonymous = !n && !t.requires_grad() && !item.t->name;
    const bool by_numbers = anonymous && t.numel() > 1 &&
                            (item.called.empty() || item.called == number(t.values()[0]));
    if (fits && (options_.show_values || by_numbers) && !(anonymous && t.numel() == 1))
      s += matrix(t, options_.show_grads ? "value" : nullptr);
    if (options_.show_grads && fits && item.t->grad.defined()) s += matrix(item.t->grad, "grad");
    for (const auto& [tensor, note] : options_.notes)
      if (tensor.impl() == item.t) s += small(escape(note));
    return s + "</table>>";
  }

  const look::Colours& colours(const Item& item) const {
    const Node* n = node_of(item.t);
    if (!n) return item.t->requires_grad ? look::parameter : look::constant;
    return n->from_backward ? look::backward_op : look::forward_op;
  }

  std::string style(const Item& item) const {
    std::string s = box_style(colours(item), node_of(item.t) != nullptr);
    for (const auto& [tensor, colour] : options_.colours)
      if (tensor.impl() == item.t) s += ", fillcolor=\"" + escape(colour) + "\"";
    for (const auto& [tensor, attributes] : options_.borders)
      if (tensor.impl() == item.t) s += ", " + attributes;
    if (item.output) s += ", peripheries=2";
    if (item.on_path) s += ", " + path_style(look::path_box_pen);
    return s;
  }

  void nodes(std::ostringstream& out) const {
    // Clusters in the order they first appear; members inside their subgraph.
    std::vector<std::string> clusters;
    for (const Item& item : items_)
      if (!item.cluster.empty() &&
          std::find(clusters.begin(), clusters.end(), item.cluster) == clusters.end())
        clusters.push_back(item.cluster);
    std::set<std::string> drawn;  // collapsed boxes already written
    auto write = [&](const Item& item, const char* indent) {
      if (item.box[0] == 'c') {
        if (!drawn.insert(item.box).second) return;
        const auto members = std::count_if(items_.begin(), items_.end(),
                                           [&](const Item& i) { return i.box == item.box; });
        const bool path = std::any_of(items_.begin(), items_.end(), [&](const Item& i) {
          return i.box == item.box && i.on_path;
        });
        out << indent << item.box << " [shape=box3d, " << box_style(look::collapsed, false)
            << (path ? ", " + path_style(look::path_box_pen) : "") << ", label=<<b>"
            << escape(item.cluster) << "</b><br/>"
            << sized(std::to_string(members) + " tensors, collapsed", look::detail_size) << ">];\n";
        return;
      }
      out << indent << item.box << " [" << style(item) << ", label=" << label(item) << "];\n";
    };
    for (std::size_t k = 0; k < clusters.size(); ++k) {
      if (collapsed_cluster(clusters[k])) continue;
      out << "  subgraph cluster_" << k << " {\n    label=<<b>" << escape(clusters[k])
          << "</b>>; style=\"rounded,filled\"; fillcolor=\"" << look::cluster.fill
          << "\"; color=\"" << look::cluster.border << "\"; fontsize=" << look::box_size << ";\n";
      for (const Item& item : items_)
        if (item.cluster == clusters[k]) write(item, "    ");
      out << "  }\n";
    }
    for (const Item& item : items_)
      if (item.cluster.empty() || item.box[0] == 'c') write(item, "  ");
  }

  void edges(std::ostringstream& out) const {
    // Edges in walk order. Those into or out of a collapsed box are merged into one, which
    // is red when any of the edges it stands for is on the highlighted path.
    struct Edge {
      std::string from, to, label;
      bool on_path;
      bool up = false;     // inside the backward pass: Note [The backward pass goes up]
      bool loose = false;  // from the forward pass into the backward pass: does not rank
    };
    std::vector<Edge> edges;
    std::map<std::pair<std::string, std::string>, std::size_t> merged;
    for (const Item& item : items_) {
      const Node* n = node_of(item.t);
      if (!n) continue;
      for (std::size_t i = 0; i < n->inputs().size(); ++i) {
        const Item& from = at(n->inputs()[i].impl());
        if (from.box == item.box) continue;  // inside one collapsed cluster
        const bool on_path = from.on_path && item.on_path;
        if (from.box[0] == 'c' || item.box[0] == 'c') {
          auto [it, fresh] = merged.try_emplace({from.box, item.box}, edges.size());
          if (fresh)
            edges.push_back({from.box, item.box, "", on_path});
          else
            edges[it->second].on_path = edges[it->second].on_path || on_path;
          continue;
        }
        std::string label;
        if (options_.formulas && !n->from_backward && i < n->op->gradients.size())
          label = escape(formula(*n, i));
        edges.push_back({from.box, item.box, label, on_path, item.backward && from.backward,
                         item.backward && !from.backward});
      }
    }
    for (const Edge& e : edges) {
      std::vector<std::string> attrs;
      if (!e.label.empty())
        attrs.push_back("label=<<font color=\"" + std::string(look::formula_colour) + "\">" +
                        e.label + "</font>>");
      if (e.on_path) attrs.push_back(path_style(look::path_edge_pen));
      if (e.up) attrs.push_back("dir=back");
      if (e.loose) attrs.push_back("constraint=false");
      out << "  " << (e.up ? e.to : e.from) << " -> " << (e.up ? e.from : e.to);
      for (std::size_t a = 0; a < attrs.size(); ++a) out << (a ? ", " : " [") << attrs[a];
      out << (attrs.empty() ? ";\n" : "];\n");
    }
    for (const auto& [gradient, of] : options_.gradients) {
      const Item &g = at(gradient.impl()), &t = at(of.impl());
      const std::string what = of.name().empty() ? "gradient" : "∂/∂" + escape(of.name());
      out << "  " << g.box << " -> " << t.box << " [style=dashed, color=\""
          << look::gradient_arrow_colour << "\", fontcolor=\"" << look::gradient_arrow_colour
          << "\", " << (g.backward ? "minlen=0, xlabel=<" : "constraint=false, label=<") << what
          << ">];\n";
    }
  }

  // A key to the colours and dashes, one row for each kind of box or line the picture has.
  void legend(std::ostringstream& out) const {
    const bool gradient_graph =
        !options_.gradients.empty() ||
        std::any_of(items_.begin(), items_.end(), [](const Item& i) { return i.backward; });
    if (!options_.legend || !gradient_graph) return;
    const auto any = [&](auto which) { return std::any_of(items_.begin(), items_.end(), which); };
    constexpr auto is_leaf = [](const Item& i) { return !node_of(i.t); };
    std::string rows;
    const auto row = [&](const std::string& swatch, const std::string& text) {
      rows += "<tr>" + swatch + R"(<td align="left">)" + sized(text, look::detail_size) +
              "</td></tr>";
    };
    const auto box = [](const look::Colours& c) {
      return R"(<td border="1" width=")" + std::to_string(look::swatch_width) + R"(" bgcolor=")" +
             c.fill + R"(" color=")" + c.border + R"("> </td>)";
    };
    // A swatch inside a table's own border: a double border, as the output's.
    const auto double_box = [&](const look::Colours& c) {
      return R"(<td><table border="1" cellborder="0" cellspacing="1" cellpadding="0" color=")" +
             std::string(c.border) + R"("><tr>)" + box(c) + "</tr></table></td>";
    };
    const auto line = [](const char* colour, const char* text) {
      return std::string(R"(<td><font color=")") + colour + "\">" + text + "</font></td>";
    };
    if (any([&](const Item& i) { return is_leaf(i) && i.t->requires_grad; }))
      row(box(look::parameter), "a leaf that requires grad: a parameter");
    if (any([&](const Item& i) { return is_leaf(i) && !i.t->requires_grad; }))
      row(box(look::constant), "a leaf that does not: an input or a constant");
    if (any([&](const Item& i) { return !is_leaf(i) && !node_of(i.t)->from_backward; }))
      row(box(look::forward_op), "an op of the forward pass");
    if (any([&](const Item& i) { return !is_leaf(i) && node_of(i.t)->from_backward; }))
      row(box(look::backward_op), "an op the backward pass recorded");
    if (!options_.collapse.empty() && any([](const Item& i) { return i.box[0] == 'c'; }))
      row(box(look::collapsed), "a cluster drawn as one box");
    if (any([](const Item& i) { return i.output; }))
      row(double_box(look::forward_op), "double border: an output");
    if (!options_.gradients.empty())
      row(line(look::gradient_arrow_colour, "╌╌▸"), "dashed: from a gradient to its tensor");
    if (any([](const Item& i) { return i.on_path; }))
      row(line(look::path_colour, "━━▸"), "red: the paths to a highlighted tensor");
    out << R"(  legend [shape=plaintext, label=<<table border="1" cellborder="0" cellspacing="2" )"
        << R"(cellpadding="2" color=")" << look::cluster.border << R"(" bgcolor="white">)"
        << "<tr><td colspan=\"2\"><b>" << sized("Legend", look::detail_size) << "</b></td></tr>"
        << rows << "</table>>];\n  { rank=sink; legend; }\n";
  }

  const DotOptions& options_;
  std::vector<Item> items_;
  std::unordered_map<TensorImpl*, std::size_t> index_;
  std::unordered_map<const TensorImpl*, std::vector<const Item*>> users_;
  std::set<std::string> names_;  // the program's names of the tensors drawn
  std::size_t boxes_ = 0;
};

}  // namespace

std::string to_dot(const std::vector<Tensor>& outputs, const DotOptions& options) {
  if (outputs.empty() && options.gradients.empty())
    throw GraphError("to_dot: nothing to draw: pass at least one output or gradient");
  return Diagram(outputs, options).dot();
}

}  // namespace gradlab
