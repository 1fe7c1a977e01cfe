#include <ringlet/detail/spin_lock.hpp>

#include <ringlet/detail/cpu_relax.hpp>

#include <sched.h>

namespace ringlet::detail {

void SpinLock::wait_unlocked() noexcept {
    for (int i = 0; locked_.load(std::memory_order_relaxed); ++i) {
        if (i < 64) {
            cpu_relax();
        } else {
            ::sched_yield();  // the holder may be preempted on another vCPU
        }
    }
}

}  // namespace ringlet::detail
