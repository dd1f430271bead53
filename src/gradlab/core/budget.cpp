#include "gradlab/core/budget.hpp"

#include "gradlab/core/errors.hpp"
#include "gradlab/core/memory.hpp"
#include "gradlab/core/tensor.hpp"

namespace gradlab {

std::atomic<bool> detail::budget_in_force{false};
std::atomic<std::size_t> detail::uncharged_tensor_bytes{small_block_limit};
std::atomic<std::size_t> detail::uncharged_node_tensors{UINT8_MAX};

namespace {

// The one budget in force (budget_in_force says whether there is one).
struct Accounts {
  BudgetLimits limits;
  std::atomic<std::int64_t> elements{0}, nodes{0};
};
Accounts accounts;

// Adds n to `used`; past `limit` it takes them back and says what the total would have been.
bool charge(std::atomic<std::int64_t>& used, std::int64_t n, std::int64_t limit, std::int64_t& total) {
  total = used.fetch_add(n, std::memory_order_relaxed) + n;
  if (total <= limit) return true;
  used.fetch_sub(n, std::memory_order_relaxed);
  return false;
}

std::string with_hint(std::string message, const std::string& hint) {
  return hint.empty() ? message : message + "; " + hint;
}

}  // namespace

Budget::Budget(BudgetLimits limits) {
  if (detail::budget_in_force.exchange(true))
    throw ValueError("Budget: another budget is in force; there is one at a time");
  accounts.limits = std::move(limits);
  accounts.elements = 0;
  accounts.nodes = 0;
  detail::uncharged_tensor_bytes = 0;  // from now on every tensor and node is charged
  detail::uncharged_node_tensors = 0;
}

Budget::~Budget() {
  detail::uncharged_tensor_bytes = small_block_limit;
  detail::uncharged_node_tensors = UINT8_MAX;
  detail::budget_in_force = false;
}

std::int64_t Budget::elements_used() const { return accounts.elements; }
std::int64_t Budget::nodes_used() const { return accounts.nodes; }

void detail::charge_elements(std::int64_t elements, std::span<const std::int64_t> shape) {
  std::int64_t total = 0;
  if (charge(accounts.elements, elements, accounts.limits.elements, total)) return;
  throw BudgetError(with_hint("tensor: a new tensor of shape " + to_string(shape) +
                                  " would bring the elements allocated to " + std::to_string(total) +
                                  ", more than the " + std::to_string(accounts.limits.elements) +
                                  " allowed",
                              accounts.limits.elements_hint));
}

void detail::charge_node(const char* op) {
  std::int64_t total = 0;
  if (charge(accounts.nodes, 1, accounts.limits.nodes, total)) return;
  throw BudgetError(with_hint(std::string(op) + ": recording it would make " + std::to_string(total) +
                                  " ops recorded, more than the " +
                                  std::to_string(accounts.limits.nodes) + " allowed",
                              accounts.limits.nodes_hint));
}

}  // namespace gradlab
