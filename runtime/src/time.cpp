#include <ringlet/time.hpp>

#include <thread>

#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/task.hpp>

#include "scheduler.hpp"

namespace ringlet {

TimePoint deadline_after(Duration d) noexcept {
    if (d == forever) return TimePoint::max();
    const TimePoint now = Clock::now();
    if (d <= Duration::zero()) return now;
    if (d >= TimePoint::max() - now) return TimePoint::max();
    return now + d;
}

void sleep(Duration d) {
    detail::Scheduler* s = detail::Scheduler::current();
    if (s == nullptr || s->running() == nullptr) {
        if (d > Duration::zero()) std::this_thread::sleep_for(d);
        return;
    }
    if (d <= Duration::zero()) {
        yield();
        return;
    }
    detail::check_interrupts();
    const TimePoint deadline = deadline_after(d);
    detail::Waiter w;
    detail::prepare_wait(w, "sleep");
    detail::throw_if_interrupted(detail::block(w, deadline), deadline);
}

Timeout::Timeout(Duration d) : deadline_(deadline_after(d)) {
    detail::TaskControlBlock* t = detail::current_task_block();
    if (t == nullptr) {
        throw UsageError("ringlet::Timeout: only a task can own a Timeout scope (inside ringlet::run)");
    }
    task_ = t;
    outer_ = t->timeouts;
    t->timeouts = this;
}

Timeout::~Timeout() {
    auto* t = static_cast<detail::TaskControlBlock*>(task_);
    // Scopes live on the task's stack, so they always end in LIFO order.
    t->timeouts = outer_;
}

TimeoutError::TimeoutError(const Timeout* scope)
    : std::runtime_error("ringlet::TimeoutError: the deadline of a Timeout scope passed"),
      scope_(scope) {}

}  // namespace ringlet
