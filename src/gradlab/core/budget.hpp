// A budget for the work of one job: the elements all its new tensors hold together and the
// ops its graphs record, counted as the work happens. For a program that runs work someone
// else described: the command line, where a document of 336 bytes of nested grad(…) would
// otherwise allocate 8 GB and 40 000 steps take minutes.
//
//   {
//     Budget budget({.elements = 100'000'000, .nodes = 1'000'000,
//                    .elements_hint = "raise it with --max-elements N"});
//     run_the_job();  // a tensor past the budget: BudgetError, ending with the hint
//   }
//
// A tensor's elements are charged when its numbers are allocated (a view is free), an op
// when it is recorded; the limit is on the total since the budget began, not on what is
// alive, so it bounds time as well as memory. One budget at a time in the process; without
// one, nothing is counted, and nothing is checked beyond the size tests the fast paths
// make anyway (see uncharged_tensor_bytes below).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

namespace gradlab {

struct BudgetLimits {
  static constexpr std::int64_t unlimited = std::numeric_limits<std::int64_t>::max();
  std::int64_t elements = unlimited;  // numbers in all new tensors together
  std::int64_t nodes = unlimited;     // ops recorded in graphs (forward and backward)
  std::string elements_hint = {};     // appended to the error: how to raise the limit
  std::string nodes_hint = {};
};

class Budget {
 public:
  explicit Budget(BudgetLimits limits);  // ValueError if another budget is in force
  ~Budget();
  Budget(const Budget&) = delete;
  Budget& operator=(const Budget&) = delete;

  std::int64_t elements_used() const;
  std::int64_t nodes_used() const;
};

namespace detail {
extern std::atomic<bool> budget_in_force;
// The fast paths of making a tensor and of recording an op each make a test of size
// anyway; a budget lowers both limits to 0 while it is in force, so that everything then
// takes the slow paths, which charge it. So a program without a budget pays for no test
// of its own (it was a tenth of what the version counters cost a small op):
// the bytes of a tensor and its numbers that one small block takes (small_block_limit) …
extern std::atomic<std::size_t> uncharged_tensor_bytes;
// … and the tensors (inputs and saved values) one node keeps: 255, the most it can.
extern std::atomic<std::size_t> uncharged_node_tensors;
// Each throws BudgetError when the budget in force would be exceeded (and charges nothing).
void charge_elements(std::int64_t elements, std::span<const std::int64_t> shape);
void charge_node(const char* op);
}  // namespace detail

}  // namespace gradlab
