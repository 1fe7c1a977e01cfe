// ringlet/semaphore.hpp — a counting semaphore for tasks and threads.
//
// Permits are handed directly to the longest waiter on release(), so waiters
// are served in FIFO order and a late arrival cannot barge in. Usable from
// tasks on any scheduler and from plain threads. Ordering: a release()
// happens-before the acquire() it satisfies.
#pragma once

#include <cstddef>

#include <ringlet/detail/spin_lock.hpp>
#include <ringlet/detail/waiter.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

class Semaphore {
public:
    explicit Semaphore(std::size_t initial) noexcept : count_(initial) {}
    // Aborts with a message if tasks or threads still wait (a caller bug).
    ~Semaphore() { detail::check_no_waiters(waiters_, "ringlet::Semaphore"); }
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    // Takes one permit, waiting while none is free.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    // Cancellation: no permit was taken (or, if one was granted in the same
    // instant, acquire() returns normally and the cancel is delivered at the
    // next suspension point: never both, never neither).
    void acquire();
    // Takes a permit if one is free right now. Never waits.
    bool try_acquire() noexcept;
    // Like acquire(), but false if no permit arrived within `timeout`.
    bool acquire_for(Duration timeout);
    // Returns `n` permits, waking up to `n` waiters. Thread-safe.
    // Throws: UsageError if the free count would pass SIZE_MAX (nothing is
    // released then).
    void release(std::size_t n = 1);
    // Permits free right now.
    std::size_t available() const noexcept;

private:
    bool acquire_until(TimePoint deadline);

    mutable detail::SpinLock lock_;
    std::size_t count_;
    detail::WaitQueue waiters_;
};

}  // namespace ringlet
