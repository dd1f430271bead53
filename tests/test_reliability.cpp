#define BOOST_TEST_MODULE reliability
#include <boost/test/unit_test.hpp>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <gradlab/gradlab.hpp>
#include <thread>

#include "testing.hpp"

using namespace gradlab;
namespace tt = boost::test_tools;

// Every allocation through operator new in this program is counted, so that a test can
// check which work the general heap still serves. (The aligned forms, which gradlab uses
// only for large blocks, keep the standard library's own.)
std::atomic<std::int64_t> heap_allocations{0};
void* operator new(std::size_t bytes) {
  ++heap_allocations;
  if (void* p = std::malloc(bytes ? bytes : 1)) return p;
  throw std::bad_alloc();
}
// (GCC takes the replacement's free() of what the replacement's malloc() gave for a mismatch.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

Tensor leaf(double v, const char* name) { return scalar(v).set_requires_grad().name(name); }

// One seed-network training run, everything local: the same numbers in any thread.
std::vector<double> train_seed_network(std::uint64_t seed, int steps) {
  Generator gen(seed);
  const Tensor x = randn({1, 3}, gen), t = tensor({{1.0, 0.0}});
  Tensor W = randn({3, 4}, gen).set_requires_grad(), V = randn({4, 2}, gen).set_requires_grad();
  SGD sgd({W, V}, 0.5);
  std::vector<double> losses;
  for (int i = 0; i < steps; ++i) {
    sgd.zero_grad();
    const Tensor C = 0.5 * sum(pow(sigmoid(matmul(sigmoid(matmul(x, W)), V)) - t, 2));
    C.backward();
    sgd.step();
    losses.push_back(C.item());
  }
  for (double v : W.values()) losses.push_back(v);
  return losses;
}

}  // namespace

// Note [Backward scheduling] and [Iterative teardown]: a chain of 10⁶ ops is walked and
// freed without recursion. The live-node count shows that all of it is freed.
BOOST_AUTO_TEST_CASE(a_million_node_chain_twice_then_freed) {
  const std::int64_t before = live_nodes();
  const int n = 1'000'000;
  const double rate = 1.0 + 1e-6;
  Tensor x0 = leaf(0.5, "x0"), w = leaf(rate, "w");
  {
    Tensor x = x0;
    for (int i = 0; i < n; ++i) x = x * w;  // x = x0·wⁿ
    BOOST_TEST(live_nodes() - before == n);
    x.backward({.retain_graph = true});
    x.backward();  // the second pass through the retained graph adds the same again
  }
  BOOST_TEST(live_nodes() == before);
  BOOST_TEST(x0.grad().item() == 2 * std::pow(rate, n), tt::tolerance(1e-9));
  BOOST_TEST(w.grad().item() == 2 * n * 0.5 * std::pow(rate, n - 1), tt::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(a_million_node_chain_freed_without_backward) {
  const std::int64_t before = live_nodes();
  Tensor w = leaf(1.0, "w"), x = leaf(1.0, "x");
  for (int i = 0; i < 1'000'000; ++i) x = x * w;
  BOOST_TEST(live_nodes() - before == 1'000'000);
  x = Tensor();
  BOOST_TEST(live_nodes() == before);
}

// One value used by 10⁵ ops: its gradient gathers 10⁵ contributions, in one buffer.
BOOST_AUTO_TEST_CASE(a_node_with_a_hundred_thousand_consumers) {
  const std::int64_t before = live_nodes();
  const int consumers = 100'000;
  Tensor x = leaf(2.0, "x");
  {
    const Tensor y = x * x;  // the node with many consumers
    std::vector<Tensor> uses;
    for (int i = 0; i < consumers; ++i) uses.push_back(y * static_cast<double>(i % 7));
    // Σᵢ cᵢ·x², added pairwise so that the sum is a shallow tree.
    while (uses.size() > 1) {
      std::vector<Tensor> next;
      for (std::size_t i = 0; i + 1 < uses.size(); i += 2) next.push_back(uses[i] + uses[i + 1]);
      if (uses.size() % 2) next.push_back(uses.back());
      uses = std::move(next);
    }
    uses[0].backward();
  }
  double total = 0;
  for (int i = 0; i < consumers; ++i) total += i % 7;
  BOOST_TEST(x.grad().item() == total * 2 * 2.0, tt::tolerance(1e-12));  // Σcᵢ · 2x
  BOOST_TEST(live_nodes() == before);
}

// The same graph, back-propagated 1000 times: the gradients add up, nothing grows.
BOOST_AUTO_TEST_CASE(a_graph_reused_across_many_backward_calls) {
  const std::int64_t before = live_nodes();
  Tensor W = tensor({{0.1, -0.2}, {0.3, 0.4}}).set_requires_grad().name("W");
  {
    const Tensor loss = sum(sigmoid(matmul(tensor({{1.0, 2.0}}), W)));
    const std::int64_t graph = live_nodes() - before;
    loss.backward({.retain_graph = true});
    const std::vector<double> once = W.grad().values();
    for (int i = 1; i < 1000; ++i) loss.backward({.retain_graph = true});
    BOOST_TEST(live_nodes() - before == graph);
    const std::vector<double> total = W.grad().values();
    for (std::size_t k = 0; k < once.size(); ++k)
      BOOST_TEST(total[k] == 1000 * once[k], tt::tolerance(1e-12));
  }
  BOOST_TEST(live_nodes() == before);
}

// Graphs are per thread (grad mode, scratch memory): two threads training at once get
// exactly what one thread gets. Run under ThreadSanitizer by `./run.sh sanitize`.
BOOST_AUTO_TEST_CASE(two_threads_train_at_once_as_one_would) {
  const std::vector<double> alone_a = train_seed_network(1, 200);
  const std::vector<double> alone_b = train_seed_network(2, 200);
  std::vector<double> a, b;
  std::thread first([&] { a = train_seed_network(1, 200); });
  std::thread second([&] { b = train_seed_network(2, 200); });
  first.join();
  second.join();
  BOOST_TEST(a == alone_a, tt::per_element());
  BOOST_TEST(b == alone_b, tt::per_element());
  BOOST_TEST(a.back() != b.back());  // the two runs really differ
}

// Separate graphs that share a parameter may be differentiated in two threads at once with
// grad() (backward() would add both into the one W.grad()): each pass keeps the sums for
// the leaves it reaches to itself.
BOOST_AUTO_TEST_CASE(two_threads_differentiate_graphs_that_share_a_parameter) {
  const Tensor W = tensor({{0.5, -1.0}, {2.0, 0.25}}).set_requires_grad().name("W");
  const auto gradient = [&](double scale) {
    std::vector<double> g;
    for (int i = 0; i < 200; ++i) g = grad({sum(sigmoid(matmul(W, W) * scale))}, {W})[0].values();
    return g;
  };
  const std::vector<double> alone_a = gradient(1.0), alone_b = gradient(2.0);
  std::vector<double> a, b;
  std::thread first([&] { a = gradient(1.0); });
  std::thread second([&] { b = gradient(2.0); });
  first.join();
  second.join();
  BOOST_TEST(a == alone_a, tt::per_element());
  BOOST_TEST(b == alone_b, tt::per_element());
  BOOST_TEST(a != b);
}

// Two threads calling backward() on graphs of their own that share a parameter both add
// into its one .grad(): every addition counts (Note [Leaf gradients across threads]).
// Without the lock, one thread's sum overwrote the other's in most runs.
BOOST_AUTO_TEST_CASE(two_threads_accumulate_into_one_parameter) {
  const std::int64_t n = 1 << 16;  // big enough that the two threads' additions overlap
  Tensor W = zeros({n}).set_requires_grad().name("W");
  const auto run = [&](double scale) {
    const Tensor c = full({n}, scale);
    for (int i = 0; i < 400; ++i) sum(W * c).backward();
  };
  std::thread first(run, 1.0), second(run, 2.0);
  first.join();
  second.join();
  const std::vector<double> g = W.grad().values();
  BOOST_TEST(std::count(g.begin(), g.end(), 400 * 1.0 + 400 * 2.0) == n);
}

// Two threads back-propagating the very same graph at once (retain_graph): each pass gets
// the right gradient, or a GraphError if the other one holds the graph — never a corrupted
// slot (it was a heap-use-after-free). (Boost.Test's checks are not for threads: the
// outcomes are gathered and checked after the join.)
BOOST_AUTO_TEST_CASE(two_threads_back_propagating_one_graph_work_or_refuse) {
  const Tensor W = tensor({{0.5, -0.25}, {0.125, 0.75}}).set_requires_grad().name("W");
  Tensor h = tensor({{1.0, -1.0}});
  for (int i = 0; i < 300; ++i) h = sigmoid(matmul(h, W));
  const Tensor L = sum(h);
  const Tensor expected = grad({L}, {W}, {.retain_graph = true})[0];
  std::atomic<int> right{0}, refused{0};
  std::vector<std::string> wrong[2];
  const auto run = [&](int who) {
    for (int i = 0; i < 60; ++i) {
      try {
        const Tensor g = grad({L}, {W}, {.retain_graph = true})[0];
        if (allclose(g, expected))
          ++right;
        else
          wrong[who].push_back("a wrong gradient: " + to_string(g));
      } catch (const GraphError& e) {
        if (std::string(e.what()).find("grad: another backward pass is running through the "
                                       "graph of") != std::string::npos)
          ++refused;
        else
          wrong[who].push_back(e.what());
      }
    }
  };
  std::thread first(run, 0), second(run, 1);
  first.join();
  second.join();
  BOOST_TEST(wrong[0].empty(), (wrong[0].empty() ? "" : wrong[0].front()));
  BOOST_TEST(wrong[1].empty(), (wrong[1].empty() ? "" : wrong[1].front()));
  BOOST_TEST(right + refused == 120);
  BOOST_TEST_MESSAGE(right << " passes right, " << refused << " refused");
  // Once both are done, the graph is whole: one more pass gives the same gradient.
  BOOST_TEST(allclose(grad({L}, {W})[0], expected));
}

// A training step of the seed network, once warm, takes every block it needs from
// gradlab's pools (src/gradlab/core/memory.hpp): no call reaches the general heap.
BOOST_AUTO_TEST_CASE(a_warm_seed_network_step_allocates_nothing) {
#if defined(GRADLAB_ADDRESS_SANITIZER)
  return;  // under AddressSanitizer nothing is pooled, by design
#endif
  for (const DType dtype : {DType::float64, DType::float32}) {
    BOOST_TEST_CONTEXT(dtype) {
      Generator gen(3);
      const Tensor x = randn({1, 3}, gen, dtype), t = tensor({{1.0, 0.0}}, dtype);
      Tensor W = randn({3, 4}, gen, dtype).set_requires_grad();
      Tensor V = randn({4, 2}, gen, dtype).set_requires_grad();
      SGD sgd({W, V}, 0.5);
      const auto step = [&] {
        sgd.zero_grad();
        const Tensor C = 0.5 * sum(pow(sigmoid(matmul(sigmoid(matmul(x, W)), V)) - t, 2));
        C.backward();
        sgd.step();
      };
      for (int i = 0; i < 10; ++i) step();
      const std::int64_t before = heap_allocations;
      for (int i = 0; i < 100; ++i) step();
      BOOST_TEST(heap_allocations - before == 0);
    }
  }
}

// Memory and nodes cross threads: a graph built in one thread is counted while its thread
// is gone, back-propagated and freed in another, and its blocks then serve a third.
BOOST_AUTO_TEST_CASE(a_graph_built_in_one_thread_is_freed_in_another) {
  const std::int64_t before = live_nodes();
  const Tensor w = leaf(1.0, "w");
  Tensor x;
  std::thread builder([&] {
    Tensor y = scalar(1.0);
    for (int i = 0; i < 10'000; ++i) y = y * w;
    x = y;
  });
  builder.join();
  BOOST_TEST(live_nodes() - before == 10'000);
  x.backward();
  BOOST_TEST(w.grad().item() == 10'000.0);  // d(w¹⁰⁰⁰⁰)/dw at w = 1
  x = Tensor();
  BOOST_TEST(live_nodes() == before);
  std::vector<double> again;
  std::thread([&] { again = train_seed_network(1, 50); }).join();
  BOOST_TEST(again == train_seed_network(1, 50), tt::per_element());
}

// ---- Note [Anomaly mode] ----

// The line of this file a message points at: "test_reliability.cpp:<line>".
std::string at_line(int line) { return "test_reliability.cpp:" + std::to_string(line); }

BOOST_AUTO_TEST_CASE(anomaly_mode_names_the_op_that_made_the_first_nan_in_forward) {
  Tensor x = tensor({1.0, 0.0, 2.0}).set_requires_grad().name("x");
  const Tensor y = x * 2.0;  // finite
  detect_anomaly on;
  const int line = __LINE__ + 1;
  BOOST_CHECK_EXCEPTION(log(y), AnomalyError, [&](const AnomalyError& e) {
    const std::string m = e.what();
    return m.find("log produced -inf at element 1 of its output [3] from inputs [3]") !=
               std::string::npos &&
           m.find(at_line(line)) != std::string::npos;
  });
  // Operators too: the place is the operator's, in this file.
  const int line2 = __LINE__ + 1;
  BOOST_CHECK_EXCEPTION(1.0 / (y - y), AnomalyError, [&](const AnomalyError& e) {
    const std::string m = e.what();
    return m.find("div produced +inf") != std::string::npos &&
           m.find(at_line(line2)) != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(anomaly_mode_names_the_op_whose_backward_made_the_first_nan) {
  Tensor x = tensor({0.0, 4.0}).set_requires_grad().name("x");
  detect_anomaly on;
  const int line = __LINE__ + 1;
  const Tensor y = sum(pow(x, 0.5));  // √0 = 0 is fine; its derivative 1/(2√0) is not
  BOOST_CHECK_EXCEPTION(y.backward(), AnomalyError, [&](const AnomalyError& e) {
    const std::string m = e.what();
    // xᵖ⁻¹ inside pow's backward formula is where the infinity appears.
    return m.find("pow produced +inf at element 0 of its output [2] from inputs [2] in the "
                  "backward of pow, whose forward was called at") != std::string::npos &&
           m.find(at_line(line)) != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(anomaly_mode_blames_an_input_that_came_in_with_a_nan) {
  const Tensor x = tensor({1.0, std::nan("")}).name("data");
  detect_anomaly on;
  BOOST_CHECK_EXCEPTION(sigmoid(x), AnomalyError,
                        testing::says("input 0 ('data') of sigmoid already holds NaN"));
}

// A backward formula that returns an infinity without computing it through an op.
BOOST_AUTO_TEST_CASE(anomaly_mode_checks_what_a_backward_returns) {
  static const OpInfo blow_up{"blow_up", "x", {"∂x = ∞"}};
  Tensor x = tensor({1.0}).set_requires_grad();
  detect_anomaly on;
  const Tensor y = record(blow_up, x.detach().clone(), {x}, [](const BackwardContext&) {
    no_grad plain;
    return Grads{full({1}, INFINITY)};
  });
  BOOST_CHECK_EXCEPTION(y.backward(), AnomalyError,
                        testing::says("the backward of blow_up returned +inf at element 0 of the "
                                      "gradient of its input 0 [1]"));
}

BOOST_AUTO_TEST_CASE(without_anomaly_mode_a_nan_passes_silently) {
  Tensor x = tensor({0.0}).set_requires_grad();
  const Tensor y = sum(pow(x, 0.5));
  BOOST_CHECK_NO_THROW(y.backward());
  BOOST_TEST(std::isinf(x.grad().item()));
}

// Everything an op records on the way (kron through reshape and ∘) and everything its
// backward records carries the user's line, not the library's.
BOOST_AUTO_TEST_CASE(nodes_remember_the_users_line) {
  Tensor a = tensor({{1.0, 2.0}}).set_requires_grad(), b = tensor({{3.0}, {4.0}});
  const int line = __LINE__ + 1;
  const Tensor k = kron(a, b);
  for (const Tensor& t : topological_order({k}))
    if (t.node()) BOOST_TEST(t.node()->where.line() == static_cast<unsigned>(line));
  const Tensor g = grad({sum(k * k)}, {a}, {.create_graph = true})[0];
  BOOST_TEST_REQUIRE(g.node() != nullptr);
  BOOST_TEST(g.node()->from_backward);
  BOOST_TEST(std::string(g.node()->where.file_name()).find("test_reliability.cpp") != std::string::npos);
}

// relu used to turn a NaN into 0, so that anomaly mode never saw it: now the NaN comes out
// of relu and anomaly mode names where it came from.
BOOST_AUTO_TEST_CASE(anomaly_mode_catches_a_nan_fed_to_relu) {
  const Tensor x = tensor({1.0, std::nan("")}).name("data");
  detect_anomaly on;
  BOOST_CHECK_EXCEPTION(relu(x), AnomalyError,
                        testing::says("input 0 ('data') of relu already holds NaN"));
}

// A tensor that cannot be allocated is a MemoryError naming the op, the shape, the dtype
// and the bytes (it was a bare std::bad_alloc). 8 TiB: more than any machine here has.
BOOST_AUTO_TEST_CASE(running_out_of_memory_names_the_op_and_the_shape) {
#if defined(GRADLAB_ADDRESS_SANITIZER)
  return;  // AddressSanitizer stops the program at an allocation this big, by design
#endif
  const Tensor x = tensor({{1.0}});
  const int line = __LINE__ + 1;
  BOOST_CHECK_EXCEPTION(expand(x, {1 << 20, 1 << 20}), MemoryError, [&](const MemoryError& e) {
    return testing::says("expand: out of memory allocating a float64 tensor of shape "
                         "[1048576, 1048576] (8796093022208 bytes); called at ")(e) &&
           testing::says(at_line(line))(e);
  });
  BOOST_CHECK_EXCEPTION(zeros({1 << 20, 1 << 21}, DType::float32), MemoryError,
                        testing::says("empty: out of memory allocating a float32 tensor of "
                                      "shape [1048576, 2097152] (8796093022208 bytes)"));
}

// A pass with create_graph that throws part-way leaves no graph behind: the partial sums it
// kept in the nodes (graphs holding the nodes' own outputs) are dropped, not left in a cycle.
BOOST_AUTO_TEST_CASE(a_recorded_pass_that_throws_part_way_frees_everything) {
  static const OpInfo fails{"fails", "x", {"∂x: throws"}};
  const std::int64_t before = live_nodes();
  {
    Tensor x = tensor({1.0, 2.0}).set_requires_grad();
    const Tensor a = record(fails, sigmoid(x).detach(), {x}, [](const BackwardContext&) -> Grads {
      throw ValueError("fails: on purpose");
    });
    Tensor h = x;
    for (int i = 0; i < 5; ++i) h = tanh(h) * a + h;  // a sum of several uses: partial sums
    BOOST_CHECK_THROW(grad({sum(h * h)}, {x}, {.create_graph = true}), ValueError);
  }
  BOOST_TEST(live_nodes() == before);
}
