#include <ringlet/mutex.hpp>

#include <mutex>

#include <ringlet/errors.hpp>

namespace ringlet {

bool Mutex::lock_until(TimePoint deadline, bool interruptible) {
    if (interruptible) detail::check_interrupts();
    lock_.lock();
    if (!locked_) {
        locked_ = true;
        lock_.unlock();
        return true;
    }
    return detail::wait_locked(lock_, waiters_, "Mutex::lock", deadline, nullptr, interruptible) !=
           detail::WaitStatus::waiting;
}

void Mutex::lock() { lock_until(TimePoint::max(), true); }

bool Mutex::try_lock_for(Duration timeout) { return lock_until(deadline_after(timeout), true); }

bool Mutex::try_lock() noexcept {
    std::lock_guard guard(lock_);
    if (locked_) return false;
    locked_ = true;
    return true;
}

void Mutex::unlock() {
    std::lock_guard guard(lock_);
    if (!locked_) throw UsageError("ringlet::Mutex::unlock: the mutex is not locked");
    if (!waiters_.empty()) {
        // Ownership passes to the longest waiter; locked_ stays true.
        detail::grant(waiters_, *waiters_.front(), detail::WaitStatus::granted);
    } else {
        locked_ = false;
    }
}

}  // namespace ringlet
