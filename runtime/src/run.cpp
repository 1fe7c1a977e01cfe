#include <ringlet/run.hpp>

#include "scheduler.hpp"

namespace ringlet::detail {

SchedulerScope::SchedulerScope(const Options& options) {
    if (Scheduler::current() != nullptr) {
        throw UsageError(
            "ringlet::run: this thread already runs a scheduler; spawn a task instead of "
            "nesting run()");
    }
    scheduler_ = std::make_unique<Scheduler>(options);
}

SchedulerScope::~SchedulerScope() = default;

void SchedulerScope::run_until_done(TaskControlBlock* main) {
    scheduler_->run_until_done(main);
    scheduler_->run_exit_hooks();
}

}  // namespace ringlet::detail
