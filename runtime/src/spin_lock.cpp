#include <ringlet/detail/spin_lock.hpp>

#include <sched.h>

namespace ringlet::detail {

void SpinLock::wait_unlocked() noexcept {
    for (int i = 0; locked_.load(std::memory_order_relaxed); ++i) {
        if (i < 64) {
            __builtin_ia32_pause();
        } else {
            ::sched_yield();  // the holder may be preempted on another vCPU
        }
    }
}

}  // namespace ringlet::detail
