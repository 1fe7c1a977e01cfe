// ringlet/event.hpp — a flag that tasks and threads can wait for.
//
// Event is gevent's Event / threading.Event: set() wakes every waiter and
// keeps waking new ones until clear(). Usable from tasks on any scheduler and
// from plain threads at once. Ordering: everything done before set()
// happens-before a wait() that returns true.
#pragma once

#include <atomic>

#include <ringlet/detail/spin_lock.hpp>
#include <ringlet/detail/waiter.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

class Event {
public:
    Event() = default;
    // Aborts with a message if tasks or threads still wait (a caller bug).
    ~Event() { detail::check_no_waiters(waiters_, "ringlet::Event"); }
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;

    // Sets the flag and wakes every waiter. Thread-safe.
    void set();
    // Resets the flag; later waits block again. Thread-safe.
    void clear() noexcept;
    bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }

    // Waits until the flag is set. True if set; false after `timeout`.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    // Cancellation: nothing to undo; the flag is untouched.
    bool wait(Duration timeout = forever);

private:
    detail::SpinLock lock_;
    std::atomic<bool> set_{false};
    detail::WaitQueue waiters_;
};

}  // namespace ringlet
