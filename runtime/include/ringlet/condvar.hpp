// ringlet/condvar.hpp — condition variable paired with ringlet::Mutex.
//
// Used like std::condition_variable with std::unique_lock<ringlet::Mutex>.
// Waiting tasks suspend; plain threads block. On every exit — notified,
// timed out, cancelled — the mutex is held again before wait returns or
// throws, so the unique_lock's invariant holds during unwinding.
#pragma once

#include <condition_variable>
#include <mutex>

#include <ringlet/detail/spin_lock.hpp>
#include <ringlet/detail/waiter.hpp>
#include <ringlet/mutex.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

class CondVar {
public:
    CondVar() = default;
    // Aborts with a message if tasks or threads still wait (a caller bug).
    ~CondVar() { detail::check_no_waiters(waiters_, "ringlet::CondVar"); }
    CondVar(const CondVar&) = delete;
    CondVar& operator=(const CondVar&) = delete;

    // Releases `lock`, waits for a notify, reacquires `lock`.
    // Suspends. Throws: Cancelled, TimeoutError (mutex reacquired first).
    void wait(std::unique_lock<Mutex>& lock);
    template <class Pred>
    void wait(std::unique_lock<Mutex>& lock, Pred pred) {
        while (!pred()) wait(lock);
    }
    // As wait(), but gives up after `timeout`.
    std::cv_status wait_for(std::unique_lock<Mutex>& lock, Duration timeout);
    // True if pred() held before `timeout` passed.
    template <class Pred>
    bool wait_for(std::unique_lock<Mutex>& lock, Duration timeout, Pred pred) {
        const TimePoint deadline = deadline_after(timeout);
        while (!pred()) {
            if (!wait_until(lock, deadline)) return pred();
        }
        return true;
    }

    // Thread-safe; need not hold the mutex.
    void notify_one() noexcept;
    void notify_all() noexcept;

private:
    bool wait_until(std::unique_lock<Mutex>& lock, TimePoint deadline);

    detail::SpinLock lock_;
    detail::WaitQueue waiters_;
};

}  // namespace ringlet
