// What every tutorial program shares: its command line, its claims and its diagrams.
//
//   NN_name [--diagrams DIR] [--check-diagrams DIR] [--quick] [--help]
//
// A tutorial prints what its text shows and states each thing the text claims with
// claim(); a claim that does not hold prints FAILED and makes the program exit with 1, so
// a tutorial that stops being true fails the test suite. Its diagrams go through
// diagram(): written to DIR as DOT and SVG with --diagrams (the build's `docs` target), or
// compared with the committed DOT under --check-diagrams (the test suite).
#pragma once

#include <gradlab/gradlab.hpp>
#include <string>

namespace tutorial {

class Tutorial {
 public:
  // Reads the command line; --help prints `title`, `about` and the options, then exits.
  Tutorial(int argc, char** argv, const std::string& title, const std::string& about);

  // Long work (training) is shortened under --quick, which the test suite passes.
  bool quick() const { return quick_; }

  void section(const std::string& heading) const;  // "── 2. The hidden layer ──"

  // Prints "✓ what" when it holds and "FAILED: what" when it does not.
  void claim(bool holds, const std::string& what);

  // A diagram the text embeds, docs/diagrams/<name>.svg. A diagram whose numbers come from
  // training (`checked = false`) is written but not compared: the quick run trains less.
  void diagram(const std::string& name, const std::string& dot, bool checked = true);

  int finish() const;  // the exit code: 0 when every claim held and every diagram is current

 private:
  std::string program_;
  std::string write_dir_, check_dir_;
  bool quick_ = false;
  int failures_ = 0;
};

// The example of tutorials 4 and 5: the 5×5 image and the 3×3 kernel whose
// cross-correlation is [[4, 3, 4], [2, 4, 3], [2, 3, 4]].
gradlab::Tensor classic_image();
gradlab::Tensor classic_kernel();

// Same shape and exactly the same numbers (small integers are exact in float64, so "equal"
// can mean equal).
bool same(const gradlab::Tensor& a, const gradlab::Tensor& b);

void show(const std::string& label, const gradlab::Tensor& t);  // the label, then the tensor

// Which pixel of a side of n pixels a padded position p (−1 is just before the edge, n just
// after it) copies, or −1 when it is a zero:
//   reflect   −1 → 1, n → n − 2      (mirror about the edge pixel, which is not repeated)
//   replicate −1 → 0, n → n − 1      (repeat the edge pixel)
//   circular  −1 → n − 1, n → 0      (wrap around to the other side)
std::int64_t source_of(std::int64_t p, std::int64_t n, gradlab::PadMode mode);

}  // namespace tutorial
