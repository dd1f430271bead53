// Diagrams of the recorded graph, as Graphviz DOT text, and rendering them in-process.
//
//   Tensor C = 0.5 * sum(pow(y - t, 2));
//   render(to_dot({C}), "forward.svg");                    // what the forward pass did
//
//   auto g = grad({C}, {W, V}, {.create_graph = true});    // the backward pass, recorded
//   render(to_dot({C}, {.formulas = true, .gradients = {{g[0], W}, {g[1], V}}}),
//          "gradient.svg");                                // … drawn beside the forward one
//
// One box per leaf (its name, shape, dtype, whether it requires grad) and one per op (the
// op's name, and the name, shape and dtype of its output); edges go the way data flows.
// Ops recorded by a backward pass (the gradient graph) get their own colour, climb from the
// loss back up beside the forward pass so that each gradient sits by its tensor, and carry
// what they are ("1 − ŷ", "xᵀ") when the program did not name them; a legend says what the
// colours and dashes mean. Nodes are numbered in the order the graph is walked, so one
// program always yields the same text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

struct DotOptions {
  bool left_to_right = false;  // rank the graph left to right instead of top to bottom
  bool show_values = false;    // print the numbers of small tensors inside their boxes
  bool show_grads = false;     // … and their .grad(), when one is there
  std::int64_t value_limit = 16;  // "small": at most this many elements
  // Label each edge into an op with the gradient that op sends back along it, the text the
  // op declares in its OpInfo (e.g. "∂x = G ∘ σ(x) ∘ (1 − σ(x))"; G is the gradient of the
  // op's output) written with the program's names for the op's inputs: "∂W = xᵀ · G" on the
  // edge from W into matmul(x, W). Only on the forward graph's edges: along a gradient
  // graph's edges flow gradients of gradients, which would need a second text.
  bool formulas = false;
  // Draw the paths from the outputs down to these tensors in red, e.g. {W}: every value
  // through which the loss depends on W.
  std::vector<Tensor> highlight = {};
  // Clusters (see `cluster` in src/gradlab/core/graph.hpp) drawn as a single box each.
  std::vector<std::string> collapse = {};
  // Past this many boxes the diagram is only a note saying so; 0 draws any size.
  std::size_t node_limit = 150;
  // Pairs (gradient, tensor), e.g. from grad(…, {.create_graph = true}): the gradients'
  // graphs are drawn too, with a dashed edge from each gradient to its tensor.
  std::vector<std::pair<Tensor, Tensor>> gradients = {};
  // Fill colours for chosen tensors (e.g. a gradient check: agrees, disagrees), "#rrggbb".
  std::vector<std::pair<Tensor, std::string>> colours = {};
  // Lines of text under chosen tensors' labels (a check's verdict, say), and Graphviz
  // attributes added to their boxes' style (`penwidth=3, color="#8b0000"`).
  std::vector<std::pair<Tensor, std::string>> notes = {};
  std::vector<std::pair<Tensor, std::string>> borders = {};
  std::string title = {};  // printed above the diagram
  // A key to the colours and dashes, under a diagram that draws a gradient graph (ops a
  // backward pass recorded, or options.gradients).
  bool legend = true;
};

// DOT text of the graph that computed `outputs` (and of options.gradients).
std::string to_dot(const std::vector<Tensor>& outputs, const DotOptions& options = {});

// Lays DOT text out with Graphviz's `dot` layout (libgvc, in this process) and writes it
// to `path` in the format its extension names: .svg, .png or .pdf. The file appears
// complete or not at all: it is written to a temporary beside it, then renamed. Throws
// ValueError for an unknown extension or DOT that does not parse, IOError when the file
// cannot be written.
void render(const std::string& dot, const std::filesystem::path& path);

}  // namespace gradlab
