#include <ringlet/semaphore.hpp>

#include <mutex>

namespace ringlet {

bool Semaphore::acquire_until(TimePoint deadline) {
    detail::check_interrupts();
    lock_.lock();
    if (count_ > 0 && waiters_.empty()) {
        --count_;
        lock_.unlock();
        return true;
    }
    return detail::wait_locked(lock_, waiters_, "Semaphore::acquire", deadline) !=
           detail::WaitStatus::waiting;
}

void Semaphore::acquire() { acquire_until(TimePoint::max()); }

bool Semaphore::acquire_for(Duration timeout) { return acquire_until(deadline_after(timeout)); }

bool Semaphore::try_acquire() noexcept {
    std::lock_guard guard(lock_);
    if (count_ == 0 || !waiters_.empty()) return false;
    --count_;
    return true;
}

void Semaphore::release(std::size_t n) {
    std::lock_guard guard(lock_);
    // Hand permits straight to waiters: FIFO, and no barging by newcomers.
    while (n > 0 && !waiters_.empty()) {
        detail::grant(waiters_, *waiters_.front(), detail::WaitStatus::granted);
        --n;
    }
    count_ += n;
}

std::size_t Semaphore::available() const noexcept {
    std::lock_guard guard(lock_);
    return count_;
}

}  // namespace ringlet
