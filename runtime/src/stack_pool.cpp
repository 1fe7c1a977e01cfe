#include "stack_pool.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <sys/mman.h>

#include <ringlet/errors.hpp>
#include <ringlet/task.hpp>

#include "context_switch.hpp"  // RINGLET_ASAN

#ifdef RINGLET_ASAN
extern "C" void __lsan_register_root_region(const void* p, std::size_t size);
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace ringlet::detail {

namespace {
constexpr std::size_t stacks_per_slab = 32;
constexpr std::size_t max_stack_size = std::size_t{1} << 46;  // 64 TiB: beyond any address space

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

// Unmaps task stack memory. Under AddressSanitizer, first clear the poison
// that tasks' last frames left in it (an ended task never returns from
// them): the kernel may hand the same addresses to the next mapping — an
// io_uring ring, say — where the stale poison would read as a stack overflow.
void unmap_stack_memory(void* base, std::size_t size) noexcept {
#ifdef RINGLET_ASAN
    __asan_unpoison_memory_region(base, size);
#endif
    ::munmap(base, size);
}
}  // namespace

std::size_t StackPool::page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

StackPool::StackPool(std::size_t warm_limit)
    : warm_limit_(warm_limit), stack_bytes_(default_stack_size + guard_size()) {}

StackPool::~StackPool() {
    for (const StackMemory& slab : slabs_) unmap_stack_memory(slab.base, slab.size);
}

void StackPool::install_guard(void* base) {
    // Prefer a guard marker: it costs no VMA split, so a slab stays one mapping.
    if (guard_mode_ != GuardMode::mprotect) {
        if (::madvise(base, guard_size(), MADV_GUARD_INSTALL) == 0) {
            guard_mode_ = GuardMode::madvise;
            return;
        }
        guard_mode_ = GuardMode::mprotect;  // EINVAL before Linux 6.13
    }
    if (::mprotect(base, guard_size(), PROT_NONE) != 0) throw_io_error(-errno, "mprotect(stack guard)");
}

StackMemory StackPool::allocate(std::size_t usable) {
    const std::size_t page = page_size();
    // No mapping this large can succeed; refuse before round_up() wraps around
    // (a wrapped size would put the control block inside the guard pages).
    if (usable > max_stack_size) throw_io_error(-ENOMEM, "mmap(task stack)");
    const std::size_t bytes = round_up(usable, page) + guard_size();
    if (bytes == stack_bytes_) {
        if (free_.empty()) {
            const std::size_t slab_bytes = bytes * stacks_per_slab;
            void* slab = ::mmap(nullptr, slab_bytes, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
            if (slab == MAP_FAILED) throw_io_error(-errno, "mmap(task stack)");
            slabs_.push_back({slab, slab_bytes});
            mapped_bytes_ += slab_bytes;
            try {
                for (std::size_t i = stacks_per_slab; i-- > 0;) {
                    char* base = static_cast<char*>(slab) + i * bytes;
                    install_guard(base);
                    free_.push_back(base);
                }
            } catch (...) {
                // Guards are half installed: never hand out an unguarded stack.
                free_.resize(free_.size() - (free_.size() % stacks_per_slab));
                throw;
            }
        }
        void* base = free_.back();
        free_.pop_back();
        if (trimmed_ > free_.size()) trimmed_ = free_.size();
        outstanding_.fetch_add(1, std::memory_order_relaxed);
        return {base, bytes};
    }
    void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw_io_error(-errno, "mmap(task stack)");
    try {
        install_guard(base);
    } catch (...) {
        unmap_stack_memory(base, bytes);
        throw;
    }
    outstanding_.fetch_add(1, std::memory_order_relaxed);
    return {base, bytes};
}

void StackPool::release_locked(StackMemory stack) noexcept {
    if (stack.size != stack_bytes_) {
        unmap_stack_memory(stack.base, stack.size);
        return;
    }
    free_.push_back(stack.base);
}

void StackPool::trim() noexcept {
    // free_ is LIFO: the oldest entries are at the front and are reused last.
    // Give back the pages of all but the newest warm_limit_ of them (keeping
    // their slots); entries below trimmed_ already were.
    if (free_.size() <= warm_limit_ + trimmed_) return;
    const std::size_t end = free_.size() - warm_limit_;
    for (std::size_t i = trimmed_; i < end; ++i) {
        char* usable = static_cast<char*>(free_[i]) + guard_size();
        ::madvise(usable, stack_bytes_ - guard_size(), MADV_DONTNEED);
    }
    trimmed_ = end;
}

void StackPool::release(StackMemory stack) noexcept {
    if (!orphaned_.load(std::memory_order_acquire)) {
        release_locked(stack);
        outstanding_.fetch_sub(1, std::memory_order_relaxed);
        return;
    }
    bool last;
    {
        std::lock_guard lock(orphan_mutex_);
        if (stack.size != stack_bytes_) unmap_stack_memory(stack.base, stack.size);
        last = outstanding_.fetch_sub(1) == 1;
    }
    if (last) delete this;
}

void StackPool::register_leak_roots() const noexcept {
#ifdef RINGLET_ASAN
    // Each stack's usable part only: reading a guard page would fault.
    for (const StackMemory& slab : slabs_) {
        for (std::size_t off = 0; off + stack_bytes_ <= slab.size; off += stack_bytes_) {
            __lsan_register_root_region(static_cast<char*>(slab.base) + off + guard_size(),
                                        stack_bytes_ - guard_size());
        }
    }
#endif
}

void StackPool::orphan() noexcept {
    bool none;
    {
        std::lock_guard lock(orphan_mutex_);
        orphaned_.store(true, std::memory_order_release);
        none = outstanding_.load() == 0;
    }
    if (none) delete this;
}

}  // namespace ringlet::detail
