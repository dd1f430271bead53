#include "engine/dot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "engine/errors.hpp"
#include "engine/graph.hpp"

namespace gradlab {

namespace {

// Colours: blue for parameters, grey for constants, yellow for the forward ops, salmon
// for the ops of a backward pass, red for a highlighted path.
constexpr const char* parameter_style = R"(style="filled", fillcolor="#dbe9f6", color="#4a7ab5")";
constexpr const char* constant_style = R"(style="filled", fillcolor="#eeeeee", color="#999999")";
constexpr const char* forward_style = R"(style="rounded,filled", fillcolor="#fff4d6", color="#c9a227")";
constexpr const char* backward_style = R"(style="rounded,filled", fillcolor="#fde2d8", color="#d0694a")";
constexpr const char* collapsed_style = R"(shape=box3d, style="filled", fillcolor="#e6e6f2", color="#6a6a9a")";
constexpr const char* path_colour = "#d62728";

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

std::string small(const std::string& text) {
  return R"(<tr><td><font point-size="9">)" + text + "</font></td></tr>";
}

// The numbers of a small tensor as a table, one row per matrix row (the last axis across).
std::string matrix(const Tensor& t, const char* caption) {
  const std::vector<double> v = t.values();
  const std::int64_t cols = t.dim() == 0 ? 1 : t.shape().back();
  std::string s = R"(<tr><td><table border="0" cellborder="1" cellspacing="0" cellpadding="2">)";
  if (caption)
    s += R"(<tr><td border="0" colspan=")" + std::to_string(cols) +
         R"("><font point-size="8">)" + caption + "</font></td></tr>";
  for (std::size_t i = 0; i < v.size(); i += cols) {
    s += "<tr>";
    for (std::int64_t j = 0; j < cols; ++j)
      s += R"(<td bgcolor="white"><font point-size="9">)" + number(v[i + j]) + "</font></td>";
    s += "</tr>";
  }
  return s + "</table></td></tr>";
}

// What the diagram knows about one tensor.
struct Item {
  TensorImpl* t;
  std::string box;        // the DOT node it is drawn as: its own, or its collapsed cluster's
  std::string cluster;    // "" outside any cluster
  bool on_path = false;   // options.highlight: depends on a highlighted tensor
  bool output = false;
};

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
      items_.push_back(Item{t.impl(), node_id('n', items_.size()),
                            n && n->cluster ? *n->cluster : std::string(), false, false});
    }
    for (const Tensor& t : outputs) items_[index_.at(t.impl())].output = true;
    place_leaves_in_clusters();
    mark_paths();
    assign_boxes();
  }

  std::string dot() const {
    std::ostringstream out;
    out << "digraph gradlab {\n"
        << "  graph [rankdir=" << (options_.left_to_right ? "LR" : "TB")
        << R"(, ordering=in, fontname="DejaVu Sans", fontsize=13, nodesep=0.35, ranksep=0.45)";
    if (!options_.title.empty())
      out << ", label=<<b>" << escape(options_.title) << "</b>>, labelloc=t";
    out << "];\n"
        << R"(  node [fontname="DejaVu Sans", fontsize=11, shape=box, margin="0.12,0.06"];)" << "\n"
        << R"(  edge [fontname="DejaVu Sans", fontsize=9, color="#555555", arrowsize=0.7];)" << "\n";
    if (options_.node_limit != 0 && boxes_ > options_.node_limit) {
      out << "  note [shape=note, style=filled, fillcolor=\"#ffffe0\", label=\"This graph has "
          << boxes_ << " boxes, more than DotOptions::node_limit (" << options_.node_limit
          << ").\\nCollapse clusters (DotOptions::collapse) or raise the limit (0 draws any "
             "size).\"];\n}\n";
      return out.str();
    }
    nodes(out);
    edges(out);
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
    std::unordered_map<TensorImpl*, std::set<std::string>> users;
    for (const Item& item : items_)
      if (const Node* n = node_of(item.t))
        for (const Tensor& in : n->inputs()) users[in.impl()].insert(item.cluster);
    for (Item& item : items_) {
      if (node_of(item.t)) continue;
      const auto& u = users[item.t];
      if (u.size() == 1) item.cluster = *u.begin();
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
      const bool collapse = !item.cluster.empty() &&
                            std::find(options_.collapse.begin(), options_.collapse.end(),
                                      item.cluster) != options_.collapse.end();
      if (!collapse) {
        ++boxes_;
        continue;
      }
      auto [it, fresh] = collapsed.try_emplace(item.cluster, node_id('c', collapsed.size()));
      if (fresh) ++boxes_;
      item.box = it->second;
    }
  }

  const Item& at(TensorImpl* t) const { return items_[index_.at(t)]; }

  // A tensor's own name; else, for a gradient in options.gradients, "∂/∂W".
  std::string name_of(const Item& item) const {
    if (item.t->name) return *item.t->name;
    for (const auto& [gradient, of] : options_.gradients)
      if (gradient.impl() == item.t) return of.name().empty() ? "gradient" : "∂/∂" + of.name();
    return {};
  }

  std::string label(const Item& item) const {
    const Tensor t = Tensor::share(item.t);
    const Node* n = node_of(item.t);
    const std::string name = name_of(item);
    std::string title, detail = dims(t.shape()) + " · " + to_string(t.dtype());
    if (n) {
      title = "<b>" + escape(n->op->name) + "</b>";
      if (!name.empty()) detail = "<b>" + escape(name) + "</b> · " + detail;
    } else if (!name.empty()) {
      title = "<b>" + escape(name) + "</b>";
    } else if (t.numel() == 1 && !t.requires_grad()) {
      title = "<b>" + number(t.item()) + "</b>";  // a constant such as the 1 in 1 − σ
    } else {
      title = "<b>#" + item.box.substr(1) + "</b>";
    }
    std::string s = R"(<<table border="0" cellborder="0" cellspacing="0" cellpadding="1"><tr><td>)" +
                    title + "</td></tr>" + small(detail);
    if (!n && t.requires_grad()) s += small("requires grad");
    const bool fits = t.numel() > 0 && t.numel() <= options_.value_limit;
    // An unnamed constant is known by its numbers (xᵀ made by a backward pass, say), so
    // those are shown even without show_values; a one-element one has them as its title.
    const bool anonymous = !n && !t.requires_grad() && name.empty();
    if (fits && (options_.show_values || anonymous) && !(anonymous && t.numel() == 1))
      s += matrix(t, options_.show_grads ? "value" : nullptr);
    if (options_.show_grads && fits && item.t->grad.defined()) s += matrix(item.t->grad, "grad");
    for (const auto& [tensor, note] : options_.notes)
      if (tensor.impl() == item.t) s += small(escape(note));
    return s + "</table>>";
  }

  std::string style(const Item& item) const {
    const Node* n = node_of(item.t);
    std::string s = !n ? (item.t->requires_grad ? parameter_style : constant_style)
                       : (n->from_backward ? backward_style : forward_style);
    for (const auto& [tensor, colour] : options_.colours)
      if (tensor.impl() == item.t) s += ", fillcolor=\"" + escape(colour) + "\"";
    for (const auto& [tensor, attributes] : options_.borders)
      if (tensor.impl() == item.t) s += ", " + attributes;
    if (item.output) s += ", peripheries=2";
    if (item.on_path) s += std::string(", color=\"") + path_colour + "\", penwidth=2.5";
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
        out << indent << item.box << " [" << collapsed_style
            << (path ? std::string(", color=\"") + path_colour + "\", penwidth=2.5" : "")
            << ", label=<<b>" << escape(item.cluster) << "</b><br/><font point-size=\"9\">"
            << members << " tensors, collapsed</font>>];\n";
        return;
      }
      out << indent << item.box << " [" << style(item) << ", label=" << label(item) << "];\n";
    };
    for (std::size_t k = 0; k < clusters.size(); ++k) {
      const bool collapsed = std::find(options_.collapse.begin(), options_.collapse.end(),
                                       clusters[k]) != options_.collapse.end();
      if (collapsed) continue;
      out << "  subgraph cluster_" << k << " {\n    label=<<b>" << escape(clusters[k])
          << R"(</b>>; style="rounded,filled"; fillcolor="#f7f7f7"; color="#bbbbbb"; fontsize=11;)"
          << "\n";
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
          label = escape(n->op->gradients[i]);
        edges.push_back({from.box, item.box, label, on_path});
      }
    }
    for (const Edge& e : edges) {
      std::vector<std::string> attrs;
      if (!e.label.empty()) attrs.push_back("label=<<font color=\"#7a4a00\">" + e.label + "</font>>");
      if (e.on_path) attrs.push_back(std::string("color=\"") + path_colour + "\", penwidth=2");
      out << "  " << e.from << " -> " << e.to;
      for (std::size_t a = 0; a < attrs.size(); ++a) out << (a ? ", " : " [") << attrs[a];
      out << (attrs.empty() ? ";\n" : "];\n");
    }
    for (const auto& [gradient, of] : options_.gradients) {
      const Item &g = at(gradient.impl()), &t = at(of.impl());
      const std::string what = of.name().empty() ? "gradient" : "∂/∂" + escape(of.name());
      out << "  " << g.box << " -> " << t.box
          << R"( [style=dashed, color="#d0694a", fontcolor="#d0694a", constraint=false, label=<)"
          << what << ">];\n";
    }
  }

  const DotOptions& options_;
  std::vector<Item> items_;
  std::unordered_map<TensorImpl*, std::size_t> index_;
  std::size_t boxes_ = 0;
};

}  // namespace

std::string to_dot(const std::vector<Tensor>& outputs, const DotOptions& options) {
  if (outputs.empty() && options.gradients.empty())
    throw GraphError("to_dot: nothing to draw: pass at least one output or gradient");
  return Diagram(outputs, options).dot();
}

}  // namespace gradlab
