#include "tutorial.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace tutorial {

namespace fs = std::filesystem;

Tutorial::Tutorial(int argc, char** argv, const std::string& title, const std::string& about)
    : program_(fs::path(argv[0]).filename().string()) {
  const auto usage = [&] {
    std::cout << "usage: " << program_ << " [--diagrams DIR] [--check-diagrams DIR] [--quick]\n"
              << title << ": " << about << "\n"
              << "  --diagrams DIR        also write the diagrams (DOT and SVG) into DIR\n"
                 "  --check-diagrams DIR  fail if a diagram differs from DIR/<name>.dot\n"
                 "  --quick               shorter training, as the test suite runs it\n";
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--quick") {
      quick_ = true;
    } else if ((a == "--diagrams" || a == "--check-diagrams") && i + 1 < argc) {
      (a == "--diagrams" ? write_dir_ : check_dir_) = argv[++i];
    } else {
      std::cerr << program_ << ": unknown argument '" << a << "' (try --help)\n";
      std::exit(2);
    }
  }
  std::cout << "════ " << title << " ════\n";
}

void Tutorial::section(const std::string& heading) const {
  std::cout << "\n── " << heading << " ──\n";
}

void Tutorial::claim(bool holds, const std::string& what) {
  if (holds) {
    std::cout << "✓ " << what << '\n';
  } else {
    std::cout << "FAILED: " << what << '\n';
    ++failures_;
  }
}

void Tutorial::diagram(const std::string& name, const std::string& dot, bool checked) {
  if (!check_dir_.empty() && checked) {
    const fs::path committed = fs::path(check_dir_) / (name + ".dot");
    const bool current =
        fs::exists(committed) && gradlab::read_file(committed, program_.c_str()) == dot;
    claim(current, "diagram " + committed.string() +
                       (current ? " is current"
                                : " is out of date: regenerate with `cmake --build build "
                                  "--target docs` and commit docs/"));
  }
  if (write_dir_.empty()) return;
  // Graphviz does not always emit an unchanged graph's SVG byte for byte the same (the
  // order of clusters varies), so an unchanged diagram is left alone rather than rewritten.
  const fs::path path = fs::path(write_dir_) / (name + ".dot");
  fs::path svg = path;
  svg.replace_extension(".svg");
  if (fs::exists(path) && fs::exists(svg) && gradlab::read_file(path, program_.c_str()) == dot)
    return;
  fs::create_directories(write_dir_);
  gradlab::write_file_atomically(path, dot, program_.c_str());
  gradlab::render(dot, svg);
  std::cout << "wrote " << svg.string() << '\n';
}

int Tutorial::finish() const {
  if (failures_) std::cout << '\n' << program_ << ": " << failures_ << " claim(s) FAILED\n";
  return failures_ ? 1 : 0;
}

gradlab::Tensor classic_image() {
  return gradlab::tensor({{1, 1, 1, 0, 0},
                          {0, 1, 1, 1, 0},
                          {0, 0, 1, 1, 1},
                          {0, 0, 1, 1, 0},
                          {0, 1, 1, 0, 0}})
      .name("image");
}

gradlab::Tensor classic_kernel() {
  return gradlab::tensor({{1, 0, 1}, {0, 1, 0}, {1, 0, 1}}).name("kernel");
}

bool same(const gradlab::Tensor& a, const gradlab::Tensor& b) {
  return a.shape() == b.shape() && gradlab::max_abs_diff(a, b) == 0.0;
}

void show(const std::string& label, const gradlab::Tensor& t) {
  std::cout << label << '\n' << t << '\n';
}

std::int64_t source_of(std::int64_t p, std::int64_t n, gradlab::PadMode mode) {
  using gradlab::PadMode;
  if (p >= 0 && p < n) return p;
  switch (mode) {
    case PadMode::zeros:
      return -1;
    case PadMode::reflect:
      return p < 0 ? -p : 2 * (n - 1) - p;
    case PadMode::replicate:
      return p < 0 ? 0 : n - 1;
    case PadMode::circular:
      return (p + n) % n;
  }
  return -1;
}

}  // namespace tutorial
