// ringlet/mutex.hpp — a mutual-exclusion lock that suspends tasks.
//
// Mutex satisfies Lockable and TimedLockable (use std::lock_guard,
// std::unique_lock, std::scoped_lock). Waiting tasks suspend; plain threads
// block. Ownership passes directly to the longest waiter on unlock (FIFO).
// Not recursive: lock() by the task or thread that holds it throws UsageError
// instead of deadlocking. Any task or thread may unlock.
// Ordering: unlock() happens-before the next lock() returns.
#pragma once

#include <chrono>

#include <ringlet/detail/spin_lock.hpp>
#include <ringlet/detail/waiter.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

class CondVar;

class Mutex {
  public:
    Mutex() = default;
    // Aborts with a message if tasks or threads still wait (a caller bug).
    ~Mutex() { detail::check_no_waiters(waiters_, "ringlet::Mutex"); }
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope), UsageError
    // (the caller already holds it). Cancellation: the mutex was not acquired.
    void lock();
    bool try_lock() noexcept;
    // Suspends. False if not acquired within `timeout`.
    bool try_lock_for(Duration timeout);
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
        return try_lock_for(std::chrono::duration_cast<Duration>(timeout));
    }
    template <class Clock2, class Dur>
    bool try_lock_until(std::chrono::time_point<Clock2, Dur> deadline) {
        return try_lock_for(std::chrono::duration_cast<Duration>(deadline - Clock2::now()));
    }
    // Throws: UsageError if the mutex is not locked.
    void unlock();

  private:
    friend class CondVar;
    bool lock_until(TimePoint deadline, bool interruptible);

    detail::SpinLock lock_;
    bool locked_ = false;
    detail::WaitQueue waiters_;
    detail::Holder owner_;  // who holds it: the owner check and dump_tasks' "held by"
};

}  // namespace ringlet
