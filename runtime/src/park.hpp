// park.hpp — claiming a parked task: the "woken at most once" rule.
//
// A task that waits publishes a non-zero `parked` value. Whoever moves it back
// to zero with a CAS (a grant, a timer, a cancel) owns the wake-up and alone
// may make the task ready; everyone else lost the race and does nothing.
#pragma once

#include <cstdint>

#include <ringlet/detail/task_base.hpp>

namespace ringlet::detail {

inline bool try_claim(TaskControlBlock* t, std::uint64_t expected, WakeReason why) noexcept {
    if (!t->parked.compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return false;
    t->wake_reason = why;
    return true;
}

inline bool interruptible(std::uint64_t parked) noexcept { return (parked & 1) != 0; }

void check_interrupts_slow(TaskControlBlock* t);

// check_interrupts() for a known task: the common case (no cancel pending, no
// Timeout scope) costs two loads.
inline void check_interrupts_of(TaskControlBlock* t) {
    if (t->cancel_requested.load(std::memory_order_relaxed) || t->timeouts != nullptr) {
        check_interrupts_slow(t);
    }
}

}  // namespace ringlet::detail
