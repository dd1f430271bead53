#define BOOST_TEST_MODULE render
// render(): DOT text laid out and drawn by Graphviz in this process. The DOT text itself is
// tested in test_dot.cpp.
#include <graphviz/gvc.h>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <gradlab/gradlab.hpp>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;
namespace fs = std::filesystem;

namespace {

// A small network with a parameter per layer: h = σ(x·W), C = ½ Σ (h·V − t)².
struct Network {
  Tensor x, t, W, V, C;
  Network() {
    Generator gen(7);
    x = tensor({{0.5, -1.0, 2.0}}).name("x");
    t = tensor({{1.0, 0.0}}).name("t");
    W = randn({3, 4}, gen).set_requires_grad().name("W");
    V = randn({4, 2}, gen).set_requires_grad().name("V");
    const Tensor h = sigmoid(matmul(x, W)).name("h");
    C = (0.5 * sum(pow(matmul(h, V) - t, 2))).name("C");
  }
};

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The names of the nodes of DOT text, as libcgraph reads it.
std::set<std::string> node_ids(const std::string& dot) {
  const std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> g(agmemread(dot.c_str()), agclose);
  BOOST_TEST_REQUIRE(g != nullptr, "libcgraph cannot read the DOT text:\n" << dot);
  std::set<std::string> ids;
  for (Agnode_t* n = agfstnode(g.get()); n; n = agnxtnode(g.get(), n)) ids.insert(agnameof(n));
  return ids;
}

// The <title> of every <g class="node"> in an SVG document, anywhere in the tree.
void node_titles(const boost::property_tree::ptree& tree, std::set<std::string>& titles) {
  for (const auto& [tag, child] : tree) {
    if (tag == "g" && child.get("<xmlattr>.class", "") == "node")
      titles.insert(child.get<std::string>("title"));
    node_titles(child, titles);
  }
}
std::set<std::string> svg_node_titles(const fs::path& svg) {
  boost::property_tree::ptree tree;
  boost::property_tree::read_xml(svg.string(), tree);
  std::set<std::string> titles;
  node_titles(tree, titles);
  return titles;
}

}  // namespace

BOOST_AUTO_TEST_CASE(render_svg_draws_every_node_of_the_dot_text) {
  const Network net;
  const std::string dot = to_dot({net.C}, {.show_values = true});
  TempDir dir("gradlab-test-render");
  render(dot, dir.path / "network.svg");
  BOOST_TEST(dir.files() == std::vector<std::string>{"network.svg"});
  const std::set<std::string> ids = node_ids(dot);
  BOOST_TEST(ids.size() == 12u);  // x, W, V, t, 0.5 and seven ops
  BOOST_TEST(svg_node_titles(dir.path / "network.svg") == ids);

  // The file is for reading: not left private as mkstemp made it.
  const auto perms = fs::status(dir.path / "network.svg").permissions();
  BOOST_TEST(((perms & fs::perms::others_read) != fs::perms::none));
}

// The gradient graph: the backward pass ranked upward, the gradients' arrows of minlen 0
// (Note [The backward pass goes up] in src/gradlab/tools/dot.cpp) and the legend all reach the SVG.
// A labelled such arrow used to corrupt Graphviz's memory; this is the drawing it broke.
BOOST_AUTO_TEST_CASE(render_draws_a_gradient_graph_with_its_legend) {
  const Network net;
  std::vector<Tensor> g;
  {
    cluster pass("backward pass");
    g = grad({net.C}, {net.W, net.V}, {.create_graph = true});
  }
  const std::string dot =
      to_dot({net.C}, {.formulas = true, .gradients = {{g[0], net.W}, {g[1], net.V}}});
  TempDir dir("gradlab-test-render");
  for (const char* name : {"gradient.svg", "again.svg"}) {  // twice: the layout leaves no harm
    render(dot, dir.path / name);
    const std::set<std::string> titles = svg_node_titles(dir.path / name);
    BOOST_TEST(titles == node_ids(dot));
    BOOST_TEST(titles.contains("legend"));
  }
  const std::string svg = read(dir.path / "gradient.svg");
  BOOST_TEST(contains(svg, "Legend"));
  BOOST_TEST(contains(svg, "∂/∂W"));
  BOOST_TEST(contains(svg, "xᵀ"));
}

// Laid out, each gradient sits beside its tensor: from the top of the picture to W's level
// is less than a quarter of its height away, where the backward pass's last op would be at
// the bottom if it were ranked downward (Note [The backward pass goes up]).
BOOST_AUTO_TEST_CASE(each_gradient_is_laid_out_beside_its_tensor) {
  const Network net;
  const auto g = grad({net.C}, {net.W, net.V}, {.create_graph = true});
  const std::string dot = to_dot({net.C}, {.gradients = {{g[0], net.W}, {g[1], net.V}}});
  static GVC_t* const gvc = gvContext();  // never freed: see render() in src/gradlab/tools/render.cpp
  const std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> graph(agmemread(dot.c_str()), agclose);
  BOOST_TEST_REQUIRE(graph != nullptr);
  BOOST_TEST_REQUIRE(gvLayout(gvc, graph.get(), "dot") == 0);
  const auto height_of = [&](const std::string& text) {  // of the one box whose label has it
    double y = NAN;
    for (Agnode_t* n = agfstnode(graph.get()); n; n = agnxtnode(graph.get(), n)) {
      const char* label = agget(n, const_cast<char*>("label"));
      if (label && contains(label, text)) {
        BOOST_TEST(std::isnan(y), text << " labels two boxes");
        y = ND_coord(n).y;
      }
    }
    BOOST_TEST_REQUIRE(!std::isnan(y), "no box says " << text);
    return y;
  };
  const double height = GD_bb(graph.get()).UR.y - GD_bb(graph.get()).LL.y;
  for (const char* name : {"W", "V"}) {
    const double apart = std::abs(height_of("∂/∂" + std::string(name)) -
                                  height_of("<b>" + std::string(name) + "</b>"));
    BOOST_TEST(apart < height / 4, name << ": " << apart << " of " << height);
  }
  gvFreeLayout(gvc, graph.get());
}

BOOST_AUTO_TEST_CASE(render_png_and_pdf) {
  const Network net;
  const std::string dot = to_dot({net.C});
  TempDir dir("gradlab-test-render");
  render(dot, dir.path / "network.png");
  const std::string png = read(dir.path / "network.png");
  BOOST_TEST(png.size() > 8u);
  BOOST_TEST(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));

  render(dot, dir.path / "network.pdf");
  const std::string pdf = read(dir.path / "network.pdf");
  BOOST_TEST(pdf.substr(0, 4) == "%PDF");

  render(dot, dir.path / "LOUD.SVG");  // the extension's case does not matter
  BOOST_TEST(contains(read(dir.path / "LOUD.SVG"), "<svg"));
  BOOST_TEST(dir.files() == (std::vector<std::string>{"LOUD.SVG", "network.pdf", "network.png"}));
}

BOOST_AUTO_TEST_CASE(render_rejects_an_unknown_extension) {
  TempDir dir("gradlab-test-render");
  BOOST_CHECK_EXCEPTION(render("digraph { a -> b }", dir.path / "graph.xyz"), ValueError,
                        says(".svg, .png or .pdf"));
  BOOST_CHECK_THROW(render("digraph { a -> b }", dir.path / "graph"), ValueError);
  BOOST_TEST(dir.files().empty());
}

BOOST_AUTO_TEST_CASE(render_into_a_missing_directory_is_an_io_error) {
  TempDir dir("gradlab-test-render");
  const fs::path path = dir.path / "no such directory" / "graph.svg";
  BOOST_CHECK_EXCEPTION(render("digraph { a -> b }", path), IOError, says(path.string()));
  BOOST_TEST(!fs::exists(dir.path / "no such directory"));
  BOOST_TEST(dir.files().empty());
}

BOOST_AUTO_TEST_CASE(render_over_a_directory_is_an_io_error_and_leaves_no_temporary) {
  TempDir dir("gradlab-test-render");
  fs::create_directory(dir.path / "taken.svg");
  BOOST_CHECK_THROW(render("digraph { a -> b }", dir.path / "taken.svg"), IOError);
  BOOST_TEST(dir.files() == std::vector<std::string>{"taken.svg"});
  BOOST_TEST(fs::is_directory(dir.path / "taken.svg"));
}

BOOST_AUTO_TEST_CASE(render_of_invalid_dot_is_a_value_error_naming_graphviz) {
  TempDir dir("gradlab-test-render");
  write(dir.path / "graph.svg", "the old drawing");
  BOOST_CHECK_EXCEPTION(render("digraph { a -> ", dir.path / "graph.svg"), ValueError,
                        says("Graphviz"));
  BOOST_CHECK_EXCEPTION(render("not dot at all {", dir.path / "graph.svg"), ValueError,
                        says("syntax error"));
  // The old file is untouched and nothing else appeared.
  BOOST_TEST(read(dir.path / "graph.svg") == "the old drawing");
  BOOST_TEST(dir.files() == std::vector<std::string>{"graph.svg"});
  // Graphviz's parser recovers: the next render works.
  render("digraph { a -> b }", dir.path / "graph.svg");
  BOOST_TEST(contains(read(dir.path / "graph.svg"), "<svg"));
}

BOOST_AUTO_TEST_CASE(render_replaces_an_existing_file_and_leaves_no_temporaries) {
  TempDir dir("gradlab-test-render");
  const fs::path path = dir.path / "graph.svg";
  write(path, "the old drawing");
  render("digraph { first -> second }", path);
  const std::string once = read(path);
  BOOST_TEST(contains(once, "<title>first</title>"));
  render("digraph { third -> fourth }", path);
  const std::string twice = read(path);
  BOOST_TEST(contains(twice, "<title>third</title>"));
  BOOST_TEST(!contains(twice, "first"));
  BOOST_TEST(dir.files() == std::vector<std::string>{"graph.svg"});
}

BOOST_AUTO_TEST_CASE(render_takes_the_longest_file_name_the_system_allows) {
  TempDir dir("gradlab-test-render");
  const fs::path path = dir.path / (std::string(251, 'a') + ".svg");  // 255 characters
  render("digraph { a -> b }", path);
  BOOST_TEST(contains(read(path), "<svg"));
  BOOST_TEST(dir.files().size() == 1u);
}

BOOST_AUTO_TEST_CASE(render_keeps_the_mode_of_the_file_it_replaces) {
  TempDir dir("gradlab-test-render");
  const fs::path path = dir.path / "graph.svg";
  write(path, "the old drawing");
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  render("digraph { a -> b }", path);
  const bool owner_only = (fs::status(path).permissions() & fs::perms::all) ==
                          (fs::perms::owner_read | fs::perms::owner_write);
  BOOST_TEST(owner_only);
}
