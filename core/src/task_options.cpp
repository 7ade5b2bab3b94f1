// The checks of TaskOptions at TaskCaller::remote(): where a task may run, and its stream bound.
#include <stdexcept>
#include <string>

#include <shoal/errors.hpp>
#include <shoal/remote.hpp>
#include <shoal/session.hpp>

namespace shoal::detail {

uint32_t check_task_options(const TaskOptions& o) {
  if (o.generator_backpressure && *o.generator_backpressure < 1) {
    throw std::invalid_argument("shoal: TaskOptions::generator_backpressure must be at least 1 (" +
                                std::to_string(*o.generator_backpressure) + " given)");
  }
  if (o.node && *o.node != shoal::node()) {
    const int k = *o.node;
    const int n = shoal::num_nodes();
    if (k < 0 || k >= n) {
      throw std::invalid_argument("shoal: TaskOptions::node " + std::to_string(k) +
                                  " is not a node of this job (num_nodes() is " +
                                  std::to_string(n) + ")");
    }
  }
  return uint32_t(o.generator_backpressure.value_or(0));
}

}  // namespace shoal::detail
