// ringlet/event.hpp — a flag that tasks and threads can wait for.
//
// Event is gevent's Event / threading.Event: set() wakes every waiter and
// keeps waking new ones until clear(). Usable from tasks on any scheduler and
// from plain threads at once. Ordering: everything done before set()
// happens-before a wait() that returns true.
#pragma once

#include <atomic>
#include <cstdint>

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
    bool is_set() const noexcept { return (state_.load(std::memory_order_acquire) & set_bit) != 0; }

    // Waits until the flag is set. True if set; false after `timeout`.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    // Cancellation: nothing to undo; the flag is untouched.
    bool wait(Duration timeout = forever);

  private:
    // The flag and the lock share one word so that set() can publish the flag
    // and release the lock in a single store, its last access to *this: a
    // waiter that sees the flag may destroy the Event at once.
    static constexpr std::uint8_t set_bit = 1;
    static constexpr std::uint8_t lock_bit = 2;
    struct StateLock {  // Lockable view of lock_bit, for detail::wait_locked
        std::atomic<std::uint8_t>& state;
        void lock() noexcept;
        void unlock() noexcept {
            state.fetch_and(std::uint8_t(~lock_bit), std::memory_order_release);
        }
    };
    std::atomic<std::uint8_t> state_{0};
    detail::WaitQueue waiters_;
};

}  // namespace ringlet
