// ringlet/ipc/event.hpp — a flag that tasks and threads of several processes wait for.
//
// ipc::Event is Python's multiprocessing.Event: set() wakes every waiter, in
// every process, and later waits return at once until clear(). Create it in a
// parent before starting ipc::Process children; every copy of the handle, in
// any process, names the same flag. Typical use: a parent waits until each
// child is ready, or children wait for the parent's "go".
//
// The model. The flag and a generation count share one word in shared memory
// (MAP_SHARED, inherited across fork); waiters wait on that word through a
// task-aware futex wait: a waiting task suspends and its thread keeps running
// its other tasks; a plain thread blocks. There is no owner, so a process
// that dies cannot leave the Event in a bad state: a setter that dies before
// set() leaves the flag clear (waiters' timeouts still work), a waiter that
// dies is simply gone.
//
// Visibility/ordering: everything a process did before set() happens-before
// a wait() (or is_set()) that returns true because of it, in any process.
#pragma once

#include <cstdint>
#include <memory>

#include <ringlet/time.hpp>

namespace ringlet::ipc {

namespace detail {
struct EventState;  // event.cpp
}  // namespace detail

// A handle to a process-shared event. Copyable: copies name one event.
// Usable from tasks on any scheduler and from plain threads. Thread-safe.
class Event {
public:
    // Makes a new event, not set, in fresh shared memory.
    // Throws: IoError if the shared memory cannot be mapped.
    Event();

    // Sets the flag and wakes every waiter in every process. No effect (and no
    // system call) if it is set already. Never waits. Process-safe.
    void set();

    // Resets the flag; later waits wait again. Never waits. Process-safe.
    void clear() noexcept;

    // True if the flag is set right now. Never waits. Process-safe.
    bool is_set() const noexcept;

    // Waits until the flag is set. True if it is (at once if set already);
    // false after `timeout`. A set() followed at once by clear() may be missed
    // by a waiter that had not looked yet (as in Python).
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    // Cancellation: nothing to undo; the flag is untouched. Process-safe.
    bool wait(Duration timeout = forever);

    // True if both handles name the same event.
    friend bool operator==(const Event& a, const Event& b) noexcept {
        return a.state_ == b.state_;
    }

private:
    std::shared_ptr<detail::EventState> state_;
};

}  // namespace ringlet::ipc
