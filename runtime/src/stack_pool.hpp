// stack_pool.hpp — mmap'ed task stacks with a guard page, pooled per scheduler.
//
// Default-size stacks are carved from slabs of several stacks per mapping, so
// 100 000 tasks do not exhaust vm.max_map_count; each stack's lowest pages are a
// guard installed with MADV_GUARD_INSTALL (Linux >= 6.13: no extra mapping) or
// mprotect(PROT_NONE) otherwise. Stacks are committed lazily by the kernel.
// Freed stacks are reused LIFO; when the scheduler goes idle, the pages of
// free stacks beyond `warm_limit` are given back (MADV_DONTNEED) so a burst
// does not pin its peak memory.
// Owner-thread only, except that a pool orphaned by its scheduler may be
// released into from any thread (Task handles can outlive run()).
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include <ringlet/detail/task_base.hpp>

namespace ringlet::detail {

class StackPool {
public:
    explicit StackPool(std::size_t warm_limit);
    StackPool(const StackPool&) = delete;
    StackPool& operator=(const StackPool&) = delete;

    // A stack with at least `usable` bytes above its guard page.
    // Throws: IoError (mmap failed, e.g. ENOMEM or vm.max_map_count).
    StackMemory allocate(std::size_t usable);
    void release(StackMemory stack) noexcept;
    // Returns the pages of free stacks beyond `warm_limit` to the kernel.
    // Called when the scheduler goes idle, not on every release: a burst of
    // spawns and joins must not pay a madvise and a page fault per task.
    void trim() noexcept;

    // The scheduler is going away: free everything once the last outstanding
    // stack comes back (possibly right now, deleting *this).
    void orphan() noexcept;

    // In a forked child under LeakSanitizer: the abandoned tasks' stacks hold
    // the only references to some heap objects; have them scanned as roots.
    void register_leak_roots() const noexcept;

    static std::size_t page_size() noexcept;
    // Bytes of guard below each stack: several pages, so a frame of a few KiB
    // cannot jump over it into the neighbouring stack of the slab.
    static std::size_t guard_size() noexcept {
        static const std::size_t size = 4 * page_size();
        return size;
    }
    // Runs `notify_owner()` unless the pool is orphaned, holding the lock that
    // orphan() takes, so the owning scheduler cannot go away meanwhile. False
    // (nothing run) once orphaned: the caller then frees the task itself.
    template <class F>
    bool while_owned(F&& notify_owner) noexcept {
        std::lock_guard lock(orphan_mutex_);
        if (orphaned_.load(std::memory_order_relaxed)) return false;
        notify_owner();
        return true;
    }
    bool orphaned() const noexcept { return orphaned_.load(std::memory_order_acquire); }
    std::size_t outstanding() const noexcept { return outstanding_.load(); }
    std::size_t free_count() const noexcept { return free_.size(); }
    std::size_t mapped_bytes() const noexcept { return mapped_bytes_; }
    bool guard_by_madvise() const noexcept { return guard_mode_ == GuardMode::madvise; }

private:
    ~StackPool();
    enum class GuardMode { unknown, madvise, mprotect };
    void install_guard(void* base);
    void release_locked(StackMemory stack) noexcept;

    std::size_t warm_limit_;
    std::size_t stack_bytes_;  // default stack incl. guard
    GuardMode guard_mode_ = GuardMode::unknown;
    std::vector<void*> free_;       // default-size stacks ready for reuse
    std::size_t trimmed_ = 0;       // free_[0, trimmed_) have had their pages returned
    std::vector<StackMemory> slabs_;
    std::size_t mapped_bytes_ = 0;
    std::atomic<std::size_t> outstanding_{0};
    std::atomic<bool> orphaned_{false};
    std::mutex orphan_mutex_;
};

}  // namespace ringlet::detail
