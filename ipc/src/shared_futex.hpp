// shared_futex.hpp — task-aware waits on a 32-bit word in shared memory.
//
// The waiting primitive under every process-shared ipc object. The word is a
// sequence number that wakers bump before calling shared_futex_wake(); a
// waiter reads it, re-checks its condition, then waits while it is unchanged.
// How the wait is done:
//   - a task on io_uring with IORING_OP_FUTEX_WAIT (Linux >= 6.7): a futex
//     wait on the ring, so the thread runs other tasks meanwhile;
//   - a task elsewhere (epoll backend, older kernels): sleeps of 50 us
//     doubling to 1 ms between looks at the word (still never blocks the
//     thread; costs at most that much latency);
//   - a plain thread: FUTEX_WAIT on the word itself.
// Every way first spins briefly: a waker on another CPU usually comes within
// a microsecond or two, and waking a sleeping vCPU costs tens.
// Wakes are process-shared (no FUTEX_PRIVATE_FLAG): the word is in memory
// mapped by several processes.
// No wait sleeps longer than recheck_interval: a waker killed between its
// commit and its wake leaves its waiters asleep, so each returns (spuriously)
// at least that often to re-check its condition. That is DESIGN's "a process
// dying at any instant never leaves others blocked for ever", at the cost of
// 20 wake-ups a second per sleeping waiter.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

#include <ringlet/detail/waiter.hpp>
#include <ringlet/time.hpp>

namespace ringlet::ipc::detail {

inline constexpr Duration recheck_interval = std::chrono::milliseconds(50);

// Waits until `word` != `expected`, a wake, `deadline`, or recheck_interval.
// Returns false only for the deadline; spurious returns are possible and
// callers must re-check their condition (also the shared state itself, not
// only `word`).
// Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
bool shared_futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       TimePoint deadline);

// Spins up to `limit` for `word` to differ from `expected`; true if it did.
// Yields the CPU every `yield_every` (a peer waiting for a CPU would only be
// delayed by more spinning). Skipped (false at once) in a task whose thread
// has other tasks ready: they would wait for the spin. Callers spin *before*
// they count themselves as waiters, so a waker that comes meanwhile needs no
// system call at all.
template <class Word>
bool spin_for_change(const std::atomic<Word>& word, Word expected, Duration limit,
                     Duration yield_every) noexcept {
    if (!ringlet::detail::may_spin_before_waiting()) return false;
    TimePoint now = Clock::now();
    const TimePoint end = now + limit;
    TimePoint next_yield = now + yield_every;
    do {
        for (int i = 0; i < 16; ++i) {
            if (word.load(std::memory_order_acquire) != expected) return true;
            ringlet::detail::cpu_relax();
        }
        now = Clock::now();
        if (now >= next_yield) {
            ::sched_yield();
            next_yield = now + yield_every;
        }
    } while (now < end);
    return false;
}

// Wakes up to `count` waiters of `word` in any process (tasks polling it see
// the new value on their next look). Never blocks; a system call.
void shared_futex_wake(std::atomic<std::uint32_t>& word, int count = INT32_MAX) noexcept;

}  // namespace ringlet::ipc::detail
