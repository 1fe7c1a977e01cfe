// ringlet/ipc/lock.hpp — a mutual-exclusion lock shared by processes.
//
// ipc::Lock is Python's multiprocessing.Lock for ringlet: create it in a
// parent before starting ipc::Process children, and the parent, the children
// and every task and thread in them exclude each other through it. Typical
// uses: a Lock around a file that several processes append to, or the lock
// of a Shared<int> counter that several processes update (ringlet/ipc/shared.hpp).
//
//   ipc::Lock lock;
//   ipc::Process p([&] { std::lock_guard g(lock); append_line("log.txt", "child"); });
//   p.start();
//   { std::lock_guard g(lock); append_line("log.txt", "parent"); }
//
// The model. The lock lives in shared memory (MAP_SHARED, inherited across
// fork); a Lock is a handle to it, and every copy of a handle, in any process,
// names the same lock. Waits are task-aware: a task waiting for a lock that
// another process (or another task of its own thread) holds suspends, and its
// thread keeps running its other tasks; a plain thread blocks. The holder may
// suspend while it holds the lock (write a file, sleep) — that is the point.
// The lock is owned by the task (or plain thread) that acquired it: only that
// task may release it. Not recursive. Not fair: a releasing process may take
// it again before a woken waiter does.
//
// Robust ownership. If the holder's process dies (SIGKILL, crash, exit
// without release) or its thread ends while holding the lock, the next
// acquirer gets the lock within about 10 ms and previous_holder_died() tells
// it so: the data the lock protects may be half-updated. A task that ends
// while holding the lock, its thread still running, is a caller bug: the lock
// stays held.
//
// Visibility/ordering: everything the holder did while holding the lock
// happens-before the next holder's acquire returns, in any process (the
// dead-holder case included, up to the holder's last completed write).
//
// Lifetime: each process unmaps the lock when its last handle goes away. If
// that happens while this thread holds the lock, the lock is released (with a
// message on stderr) so that other processes are not left waiting; keep a
// handle until you have released it. Each Lock is a shared mapping of its
// own (one page).
#pragma once

#include <chrono>
#include <memory>

#include <ringlet/time.hpp>

namespace ringlet::ipc {

namespace detail {
struct LockCore;     // the shared-memory state and the mapping; lock.cpp
class SharedBlock;   // shared.hpp's non-template core
}  // namespace detail

// A handle to a process-shared lock. Copyable: copies (in this and in forked
// processes) name one lock. Satisfies Lockable and TimedLockable, so
// std::lock_guard, std::unique_lock and std::scoped_lock work. Usable from
// tasks on any scheduler and from plain threads. Thread-safe: one handle may
// be used by many tasks and threads at once.
class Lock {
public:
    // Makes a new, unlocked lock in fresh shared memory.
    // Throws: IoError if the shared memory cannot be mapped.
    Lock();

    // Takes the lock, waiting while another task, thread or process holds it.
    // If the previous holder died holding it, takes it over (see
    // previous_holder_died()).
    // Suspends. Throws: UsageError if the calling task already holds it (not
    // recursive); Cancelled, TimeoutError (enclosing scope).
    // Cancellation: the lock was not acquired. Process-safe.
    void acquire();

    // Takes the lock if it is free right now (or its holder died). Never
    // waits; false also when the calling task already holds it.
    // Throws: IoError if the mutex is unrecoverable (not reachable through
    // this API). Process-safe.
    bool try_acquire();

    // Like acquire(), but false if the lock was not acquired within `timeout`.
    // Suspends. Throws: UsageError if the calling task already holds it;
    // Cancelled, TimeoutError (enclosing scope).
    // Cancellation: the lock was not acquired. Process-safe.
    bool acquire_for(Duration timeout);

    // Releases the lock, waking one waiter in any process.
    // Throws: UsageError if the calling task (or plain thread) does not hold it
    // (another task of the same thread does not count). Process-safe.
    void release();

    // True if the calling task holds the lock. Never waits.
    bool held_by_me() const noexcept;

    // True while the current hold was taken over from a holder that died
    // holding the lock: the protected data may be half-updated, so check or
    // repair it. Meaningful for the holder; reset by the next acquisition.
    bool previous_holder_died() const noexcept;

    // Lockable names for std::lock_guard / std::unique_lock (same contracts).
    void lock() { acquire(); }
    bool try_lock() { return try_acquire(); }
    void unlock() { release(); }
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> timeout) {
        return acquire_for(std::chrono::duration_cast<Duration>(timeout));
    }
    template <class Clock2, class Dur>
    bool try_lock_until(std::chrono::time_point<Clock2, Dur> deadline) {
        const auto left = deadline - Clock2::now();
        return acquire_for(left.count() > 0 ? std::chrono::duration_cast<Duration>(left)
                                            : Duration::zero());
    }

    // True if both handles name the same lock.
    friend bool operator==(const Lock& a, const Lock& b) noexcept { return a.core_ == b.core_; }

private:
    friend class detail::SharedBlock;
    explicit Lock(std::shared_ptr<detail::LockCore> core) noexcept : core_(std::move(core)) {}
    bool acquire_until(TimePoint deadline);

    std::shared_ptr<detail::LockCore> core_;
};

}  // namespace ringlet::ipc
