#include <mutex>

#include <ringlet/errors.hpp>
#include <ringlet/mutex.hpp>

namespace ringlet {

bool Mutex::lock_until(TimePoint deadline, bool interruptible) {
    if (interruptible) detail::check_interrupts();
    lock_.lock();
    if (!locked_) {
        locked_ = true;
        owner_.set_to_caller();
        lock_.unlock();
        return true;
    }
    // Waiting forever for ourselves is a certain deadlock; a timed wait just fails.
    if (deadline == TimePoint::max() && owner_.held_by_caller()) {
        lock_.unlock();
        throw UsageError(
            "ringlet::Mutex::lock: the calling task or thread already holds this mutex (it is "
            "not recursive)");
    }
    // The granter records the new owner (unlock below) before it wakes us.
    return detail::wait_locked(lock_, waiters_, "Mutex::lock", deadline, nullptr, interruptible,
                               &owner_) != detail::WaitStatus::waiting;
}

void Mutex::lock() { lock_until(TimePoint::max(), true); }

bool Mutex::try_lock_for(Duration timeout) { return lock_until(deadline_after(timeout), true); }

bool Mutex::try_lock() noexcept {
    std::lock_guard guard(lock_);
    if (locked_) return false;
    locked_ = true;
    owner_.set_to_caller();
    return true;
}

void Mutex::unlock() {
    std::lock_guard guard(lock_);
    if (!locked_) throw UsageError("ringlet::Mutex::unlock: the mutex is not locked");
    if (!waiters_.empty()) {
        // Ownership passes to the longest waiter; locked_ stays true.
        detail::Waiter& next = *waiters_.front();
        owner_.set_to(next);
        detail::grant(waiters_, next, detail::WaitStatus::granted);
    } else {
        locked_ = false;
        owner_.clear();
    }
}

}  // namespace ringlet
