// ringlet/detail/spin_lock.hpp — the lock inside every sync primitive.
//
// Critical sections under it are a few dozen instructions and never suspend,
// so a short spin beats a futex; after a bounded spin it yields the CPU so a
// preempted holder on a 2-vCPU machine can finish.
#pragma once

#include <atomic>

namespace ringlet::detail {

class SpinLock {
public:
    void lock() noexcept {
        while (locked_.exchange(true, std::memory_order_acquire)) wait_unlocked();
    }
    bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    void wait_unlocked() noexcept;
    std::atomic<bool> locked_{false};
};

}  // namespace ringlet::detail
