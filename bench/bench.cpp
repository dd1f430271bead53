// gradlab's benchmark: the workloads of the LibTorch reference program (same names, shapes
// and units), one JSON object per line: {"workload": NAME, "value": V, "unit": U}.
// Compare both in one run on the same machine; absolute times drift between days.
//   gradlab-bench [--threads N] [--only SUBSTRING]
// bench/compare runs it side by side with LibTorch and OpenBLAS and prints the ratios.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <gradlab/gradlab.hpp>
#include <iostream>
#include <string>
#include <vector>

#include <cblas.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
extern char** environ;

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

constexpr DType f32 = DType::float32;

Tensor parameter(const Shape& shape, double scale, Generator& gen) {
  Tensor p;
  {
    no_grad plain;
    p = randn(shape, gen, f32) * scale;
  }
  return p.set_requires_grad();
}

// Class labels 0…9 for a batch, drawn from `gen`.
std::vector<std::int64_t> labels(std::int64_t n, Generator& gen) {
  std::vector<std::int64_t> y(n);
  for (auto& v : y) v = static_cast<std::int64_t>(gen.uniform() * 10);
  return y;
}

// C = A·B and both gradients, float32: three GEMMs of 2n³ flops each.
void matmul_workload(std::int64_t n) {
  Generator gen(0);
  Tensor a = randn({n, n}, gen, f32).set_requires_grad();
  Tensor b = randn({n, n}, gen, f32).set_requires_grad();
  const Tensor seed = ones({n, n}, f32);
  const double s = median_seconds(
      [&] {
        a.reset_grad();
        b.reset_grad();
        matmul(a, b).backward(seed);
      },
      n >= 1024 ? 5 : 20);
  emit("matmul_fwd_bwd_" + std::to_string(n), 3.0 * 2.0 * n * n * n / s / 1e9, "GFLOP/s");
}

// OpenBLAS's own sgemm at the same size, C = A·B alone: the practical limit for the
// matmul workloads (`--sgemm`; bench/compare runs it in the same round).
void sgemm_workload(int n) {
  std::vector<float> a(static_cast<std::size_t>(n) * n, 1.0f), b(a.size(), 0.5f), c(a.size());
  const double s = median_seconds(
      [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n,
                    b.data(), n, 0.0f, c.data(), n);
      },
      n >= 1024 ? 7 : 30);
  emit("sgemm_" + std::to_string(n), 2.0 * n * n * n / s / 1e9, "GFLOP/s");
}

// conv2d forward + input and weight gradients, float32, 3×3 kernel, padding 1.
void conv_workload(const std::string& name, std::int64_t in, std::int64_t out, int reps) {
  Generator gen(0);
  Tensor x = randn({32, in, 32, 32}, gen, f32).set_requires_grad();
  Tensor w = randn({out, in, 3, 3}, gen, f32).set_requires_grad();
  const double s = median_seconds(
      [&] {
        x.reset_grad();
        w.reset_grad();
        sum(conv2d(x, w, {}, {.padding = 1})).backward();
      },
      reps);
  emit(name, s * 1e3, "ms");
}

// The cost of one op on the smallest tensors: 1000 × x = σ(x∘w + b) on 1×1, forward and
// backward, per op (3 ops a step).
void tiny_chain_workload() {
  Tensor w = full({1, 1}, 0.5, f32).set_requires_grad();
  Tensor b = full({1, 1}, 0.1, f32).set_requires_grad();
  const int length = 1000;
  const double s = median_seconds(
      [&] {
        w.reset_grad();
        b.reset_grad();
        Tensor x = full({1, 1}, 0.3, f32);
        for (int i = 0; i < length; ++i) x = sigmoid(x * w + b);
        sum(x).backward();
      },
      20);
  emit("tiny_chain_ns_per_op", s / (3.0 * length) * 1e9, "ns");
}

// The ops of textbook derivations (W7 of the reference), float32: forward, then backward of
// sum(y ∘ G) (or of the sum itself) into every input that asks for a gradient.
void textbook_workloads(const std::function<bool(const std::string&)>& want) {
  Generator gen(0);
  Tensor x = randn({64, 256}, gen, f32).set_requires_grad();
  Tensor gamma = ones({256}, f32).set_requires_grad(), beta = zeros({256}, f32).set_requires_grad();
  const Tensor g = randn({64, 256}, gen, f32);
  const auto clear = [&] {
    for (Tensor* t : {&x, &gamma, &beta}) t->reset_grad();
  };
  if (want("batch_norm_fwd_bwd_b64_d256"))
    emit("batch_norm_fwd_bwd_b64_d256", 1e6 * median_seconds([&] {
           clear();
           sum(batch_norm(x, gamma, beta) * g).backward();
         }, 200), "us");
  if (want("layer_norm_fwd_bwd_b64_d256"))
    emit("layer_norm_fwd_bwd_b64_d256", 1e6 * median_seconds([&] {
           clear();
           sum(layer_norm(x, gamma, beta) * g).backward();
         }, 200), "us");
  if (want("logsumexp_fwd_bwd_b64_d256"))
    emit("logsumexp_fwd_bwd_b64_d256", 1e6 * median_seconds([&] {
           clear();
           sum(logsumexp(x, 1)).backward();
         }, 200), "us");
  if (want("inverse_det_fwd_bwd_64")) {
    // Well conditioned: the diagonal dominates.
    Tensor a = (randn({64, 64}, gen, f32) + eye(64, f32) * 8.0).detach().set_requires_grad();
    emit("inverse_det_fwd_bwd_64", 1e6 * median_seconds([&] {
           a.reset_grad();
           (sum(inverse(a)) + det(a)).backward();
         }, 100), "us");
  }
  if (want("embedding_fwd_bwd_10000x64_n512")) {
    Tensor table = randn({10000, 64}, gen, f32).set_requires_grad();
    std::vector<double> rows(512);
    for (double& r : rows) r = std::floor(gen.uniform() * 10000);
    const Tensor idx = from_vector(rows, {512}, f32);
    const Tensor h = randn({512, 64}, gen, f32);
    emit("embedding_fwd_bwd_10000x64_n512", 1e6 * median_seconds([&] {
           table.reset_grad();
           sum(embedding(table, idx) * h).backward();
         }, 200), "us");
  }
}

// One LSTM step (W8 of the reference): batch 32, input 64, hidden 128; the four gates are
// slices of one product, and (h′, c′) are joined for the loss.
void lstm_step_workload() {
  Generator gen(0);
  const std::int64_t B = 32, I = 64, H = 128;
  const Tensor x = randn({B, I}, gen, f32), h = randn({B, H}, gen, f32), c = randn({B, H}, gen, f32);
  Tensor wx = (randn({I, 4 * H}, gen, f32) * 0.1).detach().set_requires_grad();
  Tensor wh = (randn({H, 4 * H}, gen, f32) * 0.1).detach().set_requires_grad();
  Tensor b = zeros({4 * H}, f32).set_requires_grad();
  emit("lstm_step_fwd_bwd_b32_i64_h128", 1e6 * median_seconds([&] {
         for (Tensor* t : {&wx, &wh, &b}) t->reset_grad();
         const Tensor a = matmul(x, wx) + matmul(h, wh) + b;
         const auto gate = [&](std::int64_t k) { return slice(a, 1, k * H, (k + 1) * H); };
         const Tensor i = sigmoid(gate(0)), f = sigmoid(gate(1)), o = sigmoid(gate(2));
         const Tensor g = tanh(gate(3));
         const Tensor c2 = f * c + i * g;
         const Tensor h2 = o * tanh(c2);
         sum(concat({h2, c2}, 1)).backward();
       }, 200), "us");
}

// 784-256-10 with a sigmoid hidden layer, softmax cross-entropy, batch 64, one SGD step.
void mlp_workload() {
  Generator gen(0);
  const Tensor x = randn({64, 784}, gen, f32);
  const std::vector<std::int64_t> y = labels(64, gen);
  Tensor w1 = parameter({784, 256}, 0.05, gen), b1 = zeros({256}, f32).set_requires_grad();
  Tensor w2 = parameter({256, 10}, 0.05, gen), b2 = zeros({10}, f32).set_requires_grad();
  SGD opt({w1, b1, w2, b2}, 0.1);
  const double s = median_seconds(
      [&] {
        opt.zero_grad();
        const Tensor h = sigmoid(matmul(x, w1) + b1);
        cross_entropy(matmul(h, w2) + b2, y).backward();
        opt.step();
      },
      50);
  emit("mlp_784_256_10_b64_train_step", s * 1e3, "ms");
}

// LeNet-5 on 1×28×28, batch 64: conv5-relu-maxpool twice, three linear layers, one SGD step.
void lenet_workload() {
  Generator gen(0);
  const Tensor x = randn({64, 1, 28, 28}, gen, f32);
  const std::vector<std::int64_t> y = labels(64, gen);
  Tensor c1 = parameter({6, 1, 5, 5}, 0.2, gen), c2 = parameter({16, 6, 5, 5}, 0.1, gen);
  Tensor f1 = parameter({400, 120}, 0.05, gen), f2 = parameter({120, 84}, 0.1, gen);
  Tensor f3 = parameter({84, 10}, 0.1, gen);
  SGD opt({c1, c2, f1, f2, f3}, 0.05);
  const double s = median_seconds(
      [&] {
        opt.zero_grad();
        Tensor h = max_pool2d(relu(conv2d(x, c1, {}, {.padding = 2})), {2, 2});
        h = max_pool2d(relu(conv2d(h, c2)), {2, 2});
        h = relu(matmul(reshape(h, {64, 400}), f1));
        h = relu(matmul(h, f2));
        cross_entropy(matmul(h, f3), y).backward();
        opt.step();
      },
      30);
  emit("lenet5_b64_train_step", s * 1e3, "ms");
}

// The 3-4-2 sigmoid network of the tutorials, MSE, one SGD step (averaged over 1000).
void seed_net_workload() {
  Generator gen(0);
  const Tensor x = tensor({{0.5, -1.0, 2.0}}, f32), t = tensor({{1.0, 0.0}}, f32);
  Tensor W = randn({3, 4}, gen, f32).set_requires_grad();
  Tensor V = randn({4, 2}, gen, f32).set_requires_grad();
  SGD opt({W, V}, 0.5);
  const int steps = 1000;
  const double s = median_seconds(
      [&] {
        for (int i = 0; i < steps; ++i) {
          W.reset_grad();
          V.reset_grad();
          const Tensor y = sigmoid(matmul(sigmoid(matmul(x, W)), V));
          (0.5 * sum(pow(y - t, 2))).backward();
          opt.step();
        }
      },
      5);
  emit("seed_net_3_4_2_train_step", s / steps * 1e6, "us");
}

// 10⁶ ops x = x∘w in a chain, backward, and the graph released.
void deep_chain_workload() {
  Tensor w = full({1}, 0.999999, f32).set_requires_grad();
  const double s = median_seconds(
      [&] {
        w.reset_grad();
        Tensor x = ones({1}, f32);
        for (int i = 0; i < 1000000; ++i) x = x * w;
        x.backward();
      },
      3, 1);
  emit("deep_chain_1e6_fwd_bwd_free", s, "s");
}

// The deep chain in a process of its own, so that its peak memory is its own: the child
// prints the timing line, and the parent the child's peak resident set.
void deep_chain_in_child(const char* self, int threads) {
  const std::string threads_arg = std::to_string(threads);
  char* child_argv[] = {const_cast<char*>(self), const_cast<char*>("--deep-chain-only"),
                        const_cast<char*>("--threads"), const_cast<char*>(threads_arg.c_str()),
                        nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, child_argv, environ) != 0) {
    std::cerr << "gradlab-bench: cannot start a child process for the deep chain\n";
    return;
  }
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "gradlab-bench: the deep chain failed\n";
    return;
  }
  emit("deep_chain_1e6_peak_rss", usage.ru_maxrss / 1024.0, "MB");  // ru_maxrss is in KiB
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::string only;
  bool deep_chain_only = false, sgemm = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << "usage: gradlab-bench [--threads N] [--only SUBSTRING | --sgemm]\n"
                   "Prints one JSON line per workload, named as in the LibTorch reference\n"
                   "(../shared/bench/libtorch_ref.cpp), float32, N threads (default 2); with\n"
                   "--only, just the workloads whose names contain SUBSTRING. The deep chain\n"
                   "runs in a child process; its peak memory is deep_chain_1e6_peak_rss.\n"
                   "--sgemm: OpenBLAS's own sgemm at the matmul sizes instead (sgemm_N).\n";
      return 0;
    }
    if (a == "--threads" && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc)
      only = argv[++i];
    else if (a == "--sgemm")
      sgemm = true;
    else if (a == "--deep-chain-only")  // how the benchmark starts its own child
      deep_chain_only = true;
    else {
      std::cerr << "gradlab-bench: unknown argument '" << a << "' (try --help)\n";
      return 2;
    }
  }
  if (threads < 1) {
    std::cerr << "gradlab-bench: --threads must be ≥ 1\n";
    return 2;
  }
  // gradlab keeps OpenBLAS to one thread and does its own threading (src/gradlab/core/parallel.hpp).
  // OpenBLAS, though, starts its workers as it loads, and they spin for about 0.1 s on the
  // other core before they sleep: long enough to halve whatever workload ran first. So
  // gradlab's workloads run in a process where OpenBLAS starts none; --sgemm, which
  // measures OpenBLAS's own threading, keeps them.
  if (!sgemm && !std::getenv("OPENBLAS_NUM_THREADS")) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    std::cerr << "gradlab-bench: cannot restart itself with OPENBLAS_NUM_THREADS=1\n";
    return 2;
  }
  set_num_threads(threads);  // gradlab's own pool
  if (sgemm) openblas_set_num_threads(threads);
  const auto want = [&](const std::string& name) { return name.find(only) != std::string::npos; };

  if (sgemm) {
    for (int n : {128, 512, 1024}) sgemm_workload(n);
    return 0;
  }
  if (deep_chain_only) {
    deep_chain_workload();
    return 0;
  }
  for (std::int64_t n : {128, 512, 1024})
    if (want("matmul_fwd_bwd_" + std::to_string(n))) matmul_workload(n);
  if (want("conv2d_fwd_bwd_b32_c3to16_32x32_k3"))
    conv_workload("conv2d_fwd_bwd_b32_c3to16_32x32_k3", 3, 16, 20);
  if (want("conv2d_fwd_bwd_b32_c16to32_32x32_k3"))
    conv_workload("conv2d_fwd_bwd_b32_c16to32_32x32_k3", 16, 32, 10);
  if (want("tiny_chain_ns_per_op")) tiny_chain_workload();
  if (want("mlp_784_256_10_b64_train_step")) mlp_workload();
  if (want("lenet5_b64_train_step")) lenet_workload();
  if (want("seed_net_3_4_2_train_step")) seed_net_workload();
  textbook_workloads(want);
  if (want("lstm_step_fwd_bwd_b32_i64_h128")) lstm_step_workload();
  if (want("deep_chain_1e6_fwd_bwd_free")) deep_chain_in_child(argv[0], threads);
}
