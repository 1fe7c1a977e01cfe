#include <ringlet/condvar.hpp>

#include <ringlet/errors.hpp>

namespace ringlet {

bool CondVar::wait_until(std::unique_lock<Mutex>& lock, TimePoint deadline) {
    if (!lock.owns_lock()) {
        throw UsageError("ringlet::CondVar::wait: the unique_lock must own the mutex");
    }
    Mutex& mutex = *lock.mutex();
    detail::check_interrupts();
    lock_.lock();
    detail::Waiter w;
    detail::prepare_wait(w, "CondVar::wait");
    waiters_.push_back(w);
    lock_.unlock();
    mutex.unlock();

    const detail::WakeReason reason = detail::block(w, deadline);
    lock_.lock();
    const bool notified = w.status != detail::WaitStatus::waiting;
    if (!notified && w.linked) waiters_.remove(w);
    lock_.unlock();
    // Reacquire even when cancelled or timed out: the caller's unique_lock
    // believes it owns the mutex and will unlock it while unwinding.
    mutex.lock_until(TimePoint::max(), /*interruptible=*/false);
    if (!notified) detail::throw_if_interrupted(reason, deadline);
    return notified;
}

void CondVar::wait(std::unique_lock<Mutex>& lock) { wait_until(lock, TimePoint::max()); }

std::cv_status CondVar::wait_for(std::unique_lock<Mutex>& lock, Duration timeout) {
    return wait_until(lock, deadline_after(timeout)) ? std::cv_status::no_timeout
                                                     : std::cv_status::timeout;
}

void CondVar::notify_one() noexcept {
    std::lock_guard guard(lock_);
    if (!waiters_.empty()) detail::grant(waiters_, *waiters_.front(), detail::WaitStatus::granted);
}

void CondVar::notify_all() noexcept {
    std::lock_guard guard(lock_);
    while (!waiters_.empty()) detail::grant(waiters_, *waiters_.front(), detail::WaitStatus::granted);
}

}  // namespace ringlet
