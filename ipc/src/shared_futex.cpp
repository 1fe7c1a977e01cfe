#include "shared_futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include <ringlet/errors.hpp>

#include "io_request.hpp"
#include "scheduler.hpp"

namespace ringlet::ipc::detail {

namespace {

constexpr int spin_rounds = 128;  // ~2-5 us of pause instructions

bool spin_until_changed(const std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
    for (int i = 0; i < spin_rounds; ++i) {
        if (word.load(std::memory_order_acquire) != expected) return true;
        ringlet::detail::cpu_relax();
    }
    return false;
}

bool wait_thread(std::atomic<std::uint32_t>& word, std::uint32_t expected, TimePoint deadline) {
    timespec ts{};
    if (deadline != TimePoint::max()) {
        const auto ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch());
        ts.tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
    }
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (steady_clock's).
    const long r = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_BITSET,
                             expected, deadline == TimePoint::max() ? nullptr : &ts, nullptr,
                             FUTEX_BITSET_MATCH_ANY);
    if (r == 0 || errno == EAGAIN || errno == EINTR) return true;
    if (errno == ETIMEDOUT) return false;
    throw_io_error(-errno, "futex(wait)");
}

bool wait_task_polling(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       TimePoint deadline) {
    Duration delay = std::chrono::microseconds(50);
    while (word.load(std::memory_order_acquire) == expected) {
        const TimePoint now = Clock::now();
        if (now >= deadline) return false;
        ringlet::sleep(std::min<Duration>(delay, deadline - now));  // throws Cancelled/TimeoutError
        delay = std::min<Duration>(delay * 2, std::chrono::milliseconds(1));
    }
    return true;
}

}  // namespace

bool shared_futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       TimePoint deadline) {
    ringlet::detail::check_interrupts();
    if (spin_until_changed(word, expected)) return true;
    // A waker may die between its commit and its wake (SIGKILL at any
    // instant): no wake would ever come. Sleeping at most one recheck slice
    // bounds what that costs a waiter; the caller re-checks its condition on
    // the spurious return.
    const TimePoint slice_end = Clock::now() + recheck_interval;
    const bool sliced = slice_end < deadline;
    const TimePoint until = sliced ? slice_end : deadline;
    ringlet::detail::Scheduler* s = ringlet::detail::Scheduler::current();
    bool woken;
    if (s == nullptr || s->running() == nullptr) {
        woken = wait_thread(word, expected, until);
    } else {
        ringlet::detail::IoRequest r{ringlet::detail::IoOpcode::futex_wait};
        r.buf = &word;
        r.futex_value = expected;
        const long res = ringlet::detail::perform_io(r, until);
        if (res == -ENOSYS) {
            woken = wait_task_polling(word, expected, until);
        } else if (res == -ETIMEDOUT) {
            woken = false;
        } else if (res == 0 || res == -EAGAIN || res == -EINTR) {
            woken = true;
        } else {
            throw_io_error(static_cast<int>(res), "futex_wait");
        }
    }
    return woken || sliced;
}

void shared_futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, count, nullptr,
              nullptr, 0);
}

}  // namespace ringlet::ipc::detail
