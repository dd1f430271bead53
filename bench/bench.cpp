// gradlab's benchmark: the workloads of the LibTorch reference program (same names, shapes
// and units), one JSON object per line: {"workload": NAME, "value": V, "unit": U}.
// Compare both in one run on the same machine; absolute times drift between days.
//   gradlab-bench [--threads N] [--only SUBSTRING]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <gradlab/gradlab.hpp>
#include <iostream>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);

using namespace gradlab;
using Clock = std::chrono::steady_clock;

namespace {

double median_seconds(const std::function<void()>& body, int reps, int warmup = 2) {
  for (int i = 0; i < warmup; ++i) body();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    body();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void emit(const std::string& name, double value, const char* unit) {
  std::printf("{\"workload\": \"%s\", \"value\": %.6g, \"unit\": \"%s\"}\n", name.c_str(), value,
              unit);
  std::fflush(stdout);
}

// conv2d forward + input and weight gradients, float32, 3×3 kernel, padding 1.
void conv_workload(const std::string& name, std::int64_t in, std::int64_t out, int reps) {
  Generator gen(0);
  Tensor x = randn({32, in, 32, 32}, gen, DType::float32).set_requires_grad();
  Tensor w = randn({out, in, 3, 3}, gen, DType::float32).set_requires_grad();
  const double s = median_seconds(
      [&] {
        x.reset_grad();
        w.reset_grad();
        sum(conv2d(x, w, {}, {.padding = 1})).backward();
      },
      reps);
  emit(name, s * 1e3, "ms");
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << "usage: gradlab-bench [--threads N] [--only SUBSTRING]\n"
                   "Prints one JSON line per workload, named as in the LibTorch reference.\n";
      return 0;
    }
    if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc)
      only = argv[++i];
    else {
      std::cerr << "gradlab-bench: unknown argument '" << a << "' (try --help)\n";
      return 2;
    }
  }
  if (threads < 1) {
    std::cerr << "gradlab-bench: --threads must be ≥ 1\n";
    return 2;
  }
  openblas_set_num_threads(threads);
  const auto want = [&](const std::string& name) { return name.find(only) != std::string::npos; };

  if (want("conv2d_fwd_bwd_b32_c3to16_32x32_k3"))
    conv_workload("conv2d_fwd_bwd_b32_c3to16_32x32_k3", 3, 16, 20);
  if (want("conv2d_fwd_bwd_b32_c16to32_32x32_k3"))
    conv_workload("conv2d_fwd_bwd_b32_c16to32_32x32_k3", 16, 32, 10);
}
