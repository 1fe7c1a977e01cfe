// ringlet/detail/completion.hpp — a one-shot "done" signal a task or thread
// can wait for without being interruptible (used where the waiter must not
// leave before the other side is finished with its memory).
#pragma once

#include <mutex>

#include <ringlet/detail/spin_lock.hpp>
#include <ringlet/detail/waiter.hpp>

namespace ringlet::detail {

class Completion {
public:
    // Any thread. Wakes the waiter, if any. After signal() returns the
    // signaller must not touch the Completion (the waiter may destroy it).
    void signal() noexcept {
        std::lock_guard guard(lock_);
        done_ = true;
        while (Waiter* w = waiters_.front()) grant(waiters_, *w, WaitStatus::granted);
    }
    // Waits, ignoring cancellation and Timeout scopes (they stay pending and
    // arrive at the caller's next suspension point). Suspends.
    void wait_uninterruptible(const char* what) noexcept {
        lock_.lock();
        if (done_) {
            lock_.unlock();
            return;
        }
        wait_locked(lock_, waiters_, what, TimePoint::max(), nullptr, /*interruptible=*/false);
    }
    bool done() noexcept {
        std::lock_guard guard(lock_);
        return done_;
    }

private:
    SpinLock lock_;
    bool done_ = false;
    WaitQueue waiters_;
};

}  // namespace ringlet::detail
