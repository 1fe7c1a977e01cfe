#include <ringlet/event.hpp>

namespace ringlet {

void Event::set() {
    lock_.lock();
    set_.store(true, std::memory_order_release);
    while (detail::Waiter* w = waiters_.front()) detail::grant(waiters_, *w, detail::WaitStatus::granted);
    lock_.unlock();
}

void Event::clear() noexcept { set_.store(false, std::memory_order_release); }

bool Event::wait(Duration timeout) {
    if (is_set()) return true;
    detail::check_interrupts();
    const TimePoint deadline = deadline_after(timeout);
    lock_.lock();
    if (set_.load(std::memory_order_relaxed)) {
        lock_.unlock();
        return true;
    }
    return detail::wait_locked(lock_, waiters_, "Event::wait", deadline) !=
           detail::WaitStatus::waiting;
}

}  // namespace ringlet
