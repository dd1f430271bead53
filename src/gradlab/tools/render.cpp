// render(): DOT text to an SVG, PNG or PDF file with Graphviz's own libraries (libgvc for
// layout and drawing, libcgraph for reading the text), inside this process.
#include <graphviz/gvc.h>

#include <cctype>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "gradlab/tools/dot.hpp"
#include "gradlab/core/errors.hpp"
#include "gradlab/tools/files.hpp"

namespace gradlab {

namespace {

// Graphviz reports problems through one global callback; we collect them for our message.
std::string graphviz_errors;
int collect_error(char* message) {
  graphviz_errors += message;
  return 0;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void render(const std::string& dot, const std::filesystem::path& path) {
  std::string format = path.extension().string();
  if (!format.empty()) format.erase(0, 1);
  for (char& c : format) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (format != "svg" && format != "png" && format != "pdf")
    throw ValueError("render: cannot tell the format of '" + path.string() +
                     "': name the file .svg, .png or .pdf");

  // Graphviz keeps global state (the error callback, its parser): one render at a time.
  static std::mutex graphviz;
  const std::lock_guard lock(graphviz);
  graphviz_errors.clear();
  struct ErrorsToUs {
    agusererrf previous = agseterrf(collect_error);
    ~ErrorsToUs() { agseterrf(previous); }
  } errors_to_us;

  // One context for the whole program, never freed: Graphviz 2.42's text layout caches
  // the last font it measured across contexts, and reads freed memory when the context that
  // owned it is gone (AddressSanitizer finds it on the second render with a fresh context).
  static GVC_t* const gvc = gvContext();
  const std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> graph(agmemread(dot.c_str()), agclose);
  if (!graph)
    throw ValueError("render: Graphviz cannot read the DOT text: " +
                     trimmed(graphviz_errors.empty() ? "syntax error" : graphviz_errors));
  if (gvLayout(gvc, graph.get(), "dot") != 0)
    throw Error("render: Graphviz could not lay the graph out: " + trimmed(graphviz_errors));
  char* data = nullptr;
  unsigned int size = 0;
  const int status = gvRenderData(gvc, graph.get(), format.c_str(), &data, &size);
  gvFreeLayout(gvc, graph.get());
  const std::unique_ptr<char, void (*)(char*)> bytes(data, gvFreeRenderData);
  if (status != 0 || !data)
    throw Error("render: Graphviz could not draw " + format + ": " + trimmed(graphviz_errors));
  write_file_atomically(path, std::string_view(data, size), "render");
}

}  // namespace gradlab
