// render(): DOT text to an SVG, PNG or PDF file with Graphviz's own libraries (libgvc for
// layout and drawing, libcgraph for reading the text), inside this process.
#include <graphviz/gvc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "engine/dot.hpp"
#include "engine/errors.hpp"

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

// The mode a new file gets from open(): 0666 less the umask (which can only be read by
// setting it, so it is set straight back).
mode_t default_file_mode() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return 0666 & ~mask;
}

// Writes `size` bytes to a fresh temporary file beside `path`, then renames it over
// `path`: a reader sees the old file or the whole new one, never half of it.
void write_atomically(const std::filesystem::path& path, const char* data, std::size_t size) {
  const auto fail = [&](const std::string& what) {
    return IOError("render: cannot write '" + path.string() + "': " + what + ": " +
                   std::strerror(errno));
  };
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string tmp = (dir / ".gradlab-render-XXXXXX").string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw fail("cannot create a file in '" + dir.string() + "'");
  const auto abandon = [&](const std::string& what) {
    const IOError error = fail(what);
    ::close(fd);
    ::unlink(tmp.c_str());
    return error;
  };
  std::size_t written = 0;
  while (written < size) {
    const ssize_t n = ::write(fd, data + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw abandon("writing failed");
    written += static_cast<std::size_t>(n);
  }
  // mkstemp makes the file private; give it the mode the file it replaces had, or the one
  // a newly created file would get.
  struct stat existing;
  ::fchmod(fd, ::stat(path.c_str(), &existing) == 0 ? existing.st_mode & 07777
                                                     : default_file_mode());
  if (::fsync(fd) != 0) throw abandon("writing failed");
  if (::close(fd) != 0) {
    const IOError error = fail("writing failed");
    ::unlink(tmp.c_str());
    throw error;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const IOError error = fail("renaming the finished file into place failed");
    ::unlink(tmp.c_str());
    throw error;
  }
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

  const std::unique_ptr<GVC_t, int (*)(GVC_t*)> gvc(gvContext(), gvFreeContext);
  const std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> graph(agmemread(dot.c_str()), agclose);
  if (!graph)
    throw ValueError("render: Graphviz cannot read the DOT text: " +
                     trimmed(graphviz_errors.empty() ? "syntax error" : graphviz_errors));
  if (gvLayout(gvc.get(), graph.get(), "dot") != 0)
    throw Error("render: Graphviz could not lay the graph out: " + trimmed(graphviz_errors));
  char* data = nullptr;
  unsigned int size = 0;
  const int status = gvRenderData(gvc.get(), graph.get(), format.c_str(), &data, &size);
  gvFreeLayout(gvc.get(), graph.get());
  const std::unique_ptr<char, void (*)(char*)> bytes(data, gvFreeRenderData);
  if (status != 0 || !data)
    throw Error("render: Graphviz could not draw " + format + ": " + trimmed(graphviz_errors));
  write_atomically(path, data, size);
}

}  // namespace gradlab
