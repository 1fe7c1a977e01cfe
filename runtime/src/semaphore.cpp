#include <ringlet/semaphore.hpp>

#include <cstdint>
#include <mutex>
#include <string>

#include <ringlet/errors.hpp>

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
    // Waiters queue only while the count is 0, so with a count above 0 all n
    // permits would land on it: refuse a sum past SIZE_MAX before changing
    // anything, rather than wrap to a small count.
    if (n > SIZE_MAX - count_) {
        throw UsageError("ringlet::Semaphore::release: returning " + std::to_string(n) +
                         " permits to the " + std::to_string(count_) +
                         " free would exceed the largest count (SIZE_MAX); release fewer");
    }
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
