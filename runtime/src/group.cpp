#include <ringlet/group.hpp>

#include <algorithm>

#include <ringlet/pool.hpp>

namespace ringlet {

void Group::add(detail::TaskControlBlock* tcb) {
    prune();
    tcb->refs.fetch_add(1, std::memory_order_relaxed);
    tasks_.emplace_back(tcb);
}

void Group::prune() noexcept {
    std::erase_if(tasks_, [](const detail::TaskRef& t) {
        return t.get()->public_state.load(std::memory_order_acquire) == detail::TaskState::done;
    });
}

bool Group::join(Duration timeout) {
    const TimePoint deadline = deadline_after(timeout);
    // Tasks may spawn into the group while we wait: go round until none is left.
    for (prune(); !tasks_.empty(); prune()) {
        detail::TaskControlBlock* t = tasks_.front().get();
        t->refs.fetch_add(1, std::memory_order_relaxed);  // survives a prune() by another waiter
        detail::TaskRef keep(t);
        if (!detail::join_task(t, deadline)) return false;
    }
    return true;
}

void Group::cancel() noexcept {
    for (auto& t : tasks_) detail::cancel_task(t.get());
}

std::size_t Group::size() noexcept {
    prune();
    return tasks_.size();
}

Pool::Pool(std::size_t limit) : limit_(limit), slots_(std::make_shared<Semaphore>(limit)) {
    if (limit == 0) throw UsageError("ringlet::Pool: the limit must be at least 1");
}

}  // namespace ringlet
