#include <ringlet/stats.hpp>

#include "scheduler.hpp"

namespace ringlet {

Stats stats() {
    detail::Scheduler* s = detail::Scheduler::current();
    return s ? s->stats() : Stats{};
}

void dump_tasks(std::ostream& out) {
    if (detail::Scheduler* s = detail::Scheduler::current()) s->dump_tasks(out);
}

}  // namespace ringlet
