// ringlet/time.hpp — sleeping, deadlines and timeouts for tasks.
//
// Durations are std::chrono::nanoseconds (any std::chrono duration converts).
// A Timeout scope puts a deadline on every suspension point inside it: when
// the deadline passes, the suspension point throws TimeoutError naming the
// scope. Scopes nest; the earliest deadline wins and the scope that owns it is
// the one reported.
#pragma once

#include <chrono>
#include <type_traits>
#include <utility>

namespace ringlet {

using Duration = std::chrono::nanoseconds;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

// "No timeout": waits given `forever` never time out.
inline constexpr Duration forever = Duration::max();

// Suspends the calling task for `d` (at least; timer wake-ups are coarse).
// From a plain thread (no scheduler) it sleeps the thread.
// sleep(0) is yield().
// Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
void sleep(Duration d);

// Deadline `d` from now, saturating (forever stays forever).
TimePoint deadline_after(Duration d) noexcept;

// RAII deadline scope. While alive, every suspension point of the task that
// created it throws TimeoutError once the deadline has passed (the scope is
// then expired(); later suspension points in scope throw again).
// Must be created and destroyed by the same task, in LIFO order (it lives on
// the task's stack). Throws: UsageError outside a task.
class Timeout {
public:
    explicit Timeout(Duration d);
    ~Timeout();
    Timeout(const Timeout&) = delete;
    Timeout& operator=(const Timeout&) = delete;

    TimePoint deadline() const noexcept { return deadline_; }
    // True once this scope's deadline has fired a TimeoutError.
    bool expired() const noexcept { return expired_; }

private:
    friend struct TimeoutAccess;
    TimePoint deadline_;
    Timeout* outer_;
    void* task_;
    bool expired_ = false;
};

// Runs `f()` under a Timeout of `d` and returns its result.
// Throws: TimeoutError when the deadline passes at a suspension point in f,
// and whatever f throws.
template <class F>
decltype(auto) with_timeout(Duration d, F&& f) {
    Timeout scope(d);
    return std::forward<F>(f)();
}

}  // namespace ringlet
