#include <sched.h>

#include <ringlet/detail/cpu_relax.hpp>
#include <ringlet/event.hpp>

namespace ringlet {

void Event::StateLock::lock() noexcept {
    // The same bounded spin as detail::SpinLock: critical sections never suspend.
    for (int i = 0;; ++i) {
        std::uint8_t s = state.load(std::memory_order_relaxed);
        if ((s & lock_bit) == 0 &&
            state.compare_exchange_weak(s, std::uint8_t(s | lock_bit), std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
            return;
        }
        if (i < 64) {
            detail::cpu_relax();
        } else {
            ::sched_yield();  // the holder may be preempted on another vCPU
        }
    }
}

void Event::set() {
    StateLock lock{state_};
    lock.lock();
    // Waiters granted here re-take the lock before wait() returns, so none of
    // them can destroy the Event before the store below.
    while (detail::Waiter* w = waiters_.front())
        detail::grant(waiters_, *w, detail::WaitStatus::granted);
    state_.store(set_bit, std::memory_order_release);  // flag on, lock off: the last touch
}

void Event::clear() noexcept {
    state_.fetch_and(std::uint8_t(~set_bit), std::memory_order_release);
}

bool Event::wait(Duration timeout) {
    if (is_set()) return true;
    detail::check_interrupts();
    const TimePoint deadline = deadline_after(timeout);
    StateLock lock{state_};
    lock.lock();
    if ((state_.load(std::memory_order_relaxed) & set_bit) != 0) {
        lock.unlock();
        return true;
    }
    return detail::wait_locked(lock, waiters_, "Event::wait", deadline) !=
           detail::WaitStatus::waiting;
}

}  // namespace ringlet
