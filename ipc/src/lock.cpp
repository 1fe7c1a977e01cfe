// lock.cpp — ipc::Lock (and shared.hpp's SharedBlock, a Lock with data beside it).
//
// The ownership record is a PTHREAD_PROCESS_SHARED | PTHREAD_MUTEX_ROBUST |
// ERRORCHECK pthread mutex in shared memory, only ever taken with
// pthread_mutex_trylock, so taking it never blocks a thread. When it is busy
// the caller waits on `seq`, a futex word that release() bumps, through
// shared_futex_wait (task-aware). The wait is cut into slices of 10 ms: the
// kernel marks a robust mutex whose owner thread died (FUTEX_OWNER_DIED) but
// wakes only waiters of the mutex word itself, which nobody waits on here, so
// a waiter looks again at the end of each slice and trylock then reports
// EOWNERDEAD.
//
// A pthread mutex belongs to a thread, while a Lock belongs to a task. Tasks
// never migrate, so the acquiring task unlocks from the same thread; but two
// tasks of one thread share the thread id, so the owner (pid, pthread_self,
// task id) is also recorded beside the mutex: release() checks it, and
// acquire() by the holder itself is refused instead of waiting forever.
#include <ringlet/ipc/lock.hpp>

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <new>

#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/ipc/shared.hpp>
#include <ringlet/task.hpp>

#include "check.hpp"
#include "shared_futex.hpp"
#include "shm_region.hpp"

namespace ringlet::ipc::detail {

namespace {

// How often a waiter looks for a holder that died (see the file comment).
constexpr Duration death_check_slice = std::chrono::milliseconds(10);

struct LockState {
    pthread_mutex_t mutex;
    std::atomic<std::uint32_t> seq{0};      // bumped by every release; the futex word
    std::atomic<std::uint32_t> waiters{0};  // tasks/threads in a wait; release skips the wake at 0
    // The holder, written by it after trylock succeeds and cleared before it
    // unlocks; 0/0/0 while free (or stale after a holder died, until the next
    // acquisition). Only the holder writes its own identity, so a caller that
    // reads its own identity here holds the lock.
    std::atomic<std::int32_t> owner_pid{0};
    std::atomic<std::uint64_t> owner_thread{0};
    std::atomic<std::uint64_t> owner_task{0};
    std::atomic<std::uint32_t> holder_died{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "process-shared state needs lock-free 64-bit atomics");

// getpid() is a system call (glibc stopped caching it): keep it per process,
// refreshed in fork children.
std::atomic<pid_t> g_pid{0};
std::once_flag g_atfork_once;

void refresh_pid_after_fork() noexcept { g_pid.store(::getpid(), std::memory_order_relaxed); }

pid_t cached_pid() noexcept {
    std::call_once(g_atfork_once, [] { ::pthread_atfork(nullptr, nullptr, refresh_pid_after_fork); });
    pid_t p = g_pid.load(std::memory_order_relaxed);
    if (p == 0) {
        p = ::getpid();
        g_pid.store(p, std::memory_order_relaxed);
    }
    return p;
}

struct Identity {
    std::int32_t pid;
    std::uint64_t thread;
    std::uint64_t task;  // 0 on a plain thread
};

Identity self() noexcept {
    return {cached_pid(), static_cast<std::uint64_t>(::pthread_self()), ringlet::current_task()};
}

bool owned_by(const LockState& s, const Identity& me) noexcept {
    return s.owner_task.load(std::memory_order_relaxed) == me.task &&
           s.owner_thread.load(std::memory_order_relaxed) == me.thread &&
           s.owner_pid.load(std::memory_order_relaxed) == me.pid;
}

void init_state(LockState* s) {
    pthread_mutexattr_t attr;
    ::pthread_mutexattr_init(&attr);
    ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    ::pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    const int r = ::pthread_mutex_init(&s->mutex, &attr);
    ::pthread_mutexattr_destroy(&attr);
    if (r != 0) throw_io_error(-r, "pthread_mutex_init(ipc::Lock)");
}

// One non-blocking attempt. True once the caller holds the lock.
bool take(LockState& s, const Identity& me) {
    const int r = ::pthread_mutex_trylock(&s.mutex);
    // EDEADLK: another task of this very thread holds it (ERRORCHECK's answer
    // to "you own it already"); for this task that is just "busy".
    if (r == EBUSY || r == EDEADLK) return false;
    bool died = false;
    if (r == EOWNERDEAD) {
        // The holder's thread ended holding it. Mark it consistent, or it
        // would become unusable (ENOTRECOVERABLE) at our unlock.
        ::pthread_mutex_consistent(&s.mutex);
        died = true;
    } else if (r != 0) {
        throw_io_error(-r, "pthread_mutex_trylock(ipc::Lock)");
    }
    s.owner_pid.store(me.pid, std::memory_order_relaxed);
    s.owner_thread.store(me.thread, std::memory_order_relaxed);
    s.owner_task.store(me.task, std::memory_order_relaxed);
    s.holder_died.store(died ? 1 : 0, std::memory_order_relaxed);
    return true;
}

void give_back(LockState& s) noexcept {
    s.owner_task.store(0, std::memory_order_relaxed);
    s.owner_thread.store(0, std::memory_order_relaxed);
    s.owner_pid.store(0, std::memory_order_relaxed);
    s.holder_died.store(0, std::memory_order_relaxed);
    // The caller's thread holds the mutex (its identity was recorded), so
    // unlock cannot refuse.
    const int r = ::pthread_mutex_unlock(&s.mutex);
    RINGLET_CHECK(r == 0);
    // Dekker with the waiter (waiters++ then read seq then trylock): either
    // it sees the new seq, or we see it counted and wake it.
    s.seq.fetch_add(1, std::memory_order_seq_cst);
    if (s.waiters.load(std::memory_order_seq_cst) != 0) shared_futex_wake(s.seq, 1);
}

// Counts the caller among the waiters for as long as it waits (Cancelled and
// TimeoutError included). A waiter killed mid-wait leaves the count high:
// releases then just make a needless wake call.
struct WaiterCount {
    explicit WaiterCount(std::atomic<std::uint32_t>& w) noexcept : waiters(w) {
        waiters.fetch_add(1, std::memory_order_seq_cst);
    }
    ~WaiterCount() { waiters.fetch_sub(1, std::memory_order_relaxed); }
    WaiterCount(const WaiterCount&) = delete;
    WaiterCount& operator=(const WaiterCount&) = delete;
    std::atomic<std::uint32_t>& waiters;
};

std::size_t round_up(std::size_t n, std::size_t to) noexcept { return (n + to - 1) / to * to; }

}  // namespace

struct LockCore {
    std::shared_ptr<ShmRegion> region;
    LockState* state = nullptr;
    void* extra = nullptr;  // SharedBlock's bytes, after the state

    LockCore() = default;
    LockCore(const LockCore&) = delete;
    LockCore& operator=(const LockCore&) = delete;

    // The mapping goes away with this process's last handle. A thread of ours
    // still holding the mutex would leave it on the thread's robust list in
    // unmapped memory (and others stuck): release it first.
    ~LockCore() {
        if (state == nullptr) return;
        if (state->owner_pid.load(std::memory_order_relaxed) == cached_pid() &&
            state->owner_thread.load(std::memory_order_relaxed) ==
                static_cast<std::uint64_t>(::pthread_self())) {
            std::fprintf(stderr,
                         "ringlet: ipc::Lock: last handle of this process destroyed while "
                         "held; releasing it\n");
            give_back(*state);
        }
    }
};

namespace {

std::shared_ptr<LockCore> make_core(std::size_t extra_bytes, std::size_t extra_align) {
    const std::size_t offset =
        round_up(sizeof(LockState), std::max<std::size_t>(extra_align, alignof(std::max_align_t)));
    auto core = std::make_shared<LockCore>();
    core->region = ShmRegion::create(offset + extra_bytes);
    auto* base = static_cast<unsigned char*>(core->region->data());
    auto* state = ::new (base) LockState;
    init_state(state);
    core->state = state;
    core->extra = base + offset;
    return core;
}

}  // namespace

SharedBlock::SharedBlock(std::size_t bytes, std::size_t align)
    : lock_(make_core(bytes, align)), data_(lock_.core_->extra) {}

void SharedBlock::release_quietly(Lock& lock) noexcept {
    try {
        lock.release();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ringlet: ipc shared-value guard: %s\n", e.what());
    }
}

}  // namespace ringlet::ipc::detail

namespace ringlet::ipc {

using detail::LockState;

Lock::Lock() : core_(detail::make_core(0, 1)) {}

bool Lock::acquire_until(TimePoint deadline) {
    LockState& s = *core_->state;
    const detail::Identity me = detail::self();
    if (detail::owned_by(s, me)) {
        throw UsageError(
            "ringlet::ipc::Lock: the calling task already holds this lock (it is not "
            "recursive); release it first");
    }
    ringlet::detail::check_interrupts();
    if (detail::take(s, me)) return true;
    if (Clock::now() >= deadline) return false;
    detail::WaiterCount counted(s.waiters);
    for (;;) {
        const std::uint32_t seen = s.seq.load(std::memory_order_seq_cst);
        if (detail::take(s, me)) return true;
        const TimePoint now = Clock::now();
        if (now >= deadline) return false;
        const TimePoint slice = deadline - now > detail::death_check_slice
                                    ? now + detail::death_check_slice
                                    : deadline;
        detail::shared_futex_wait(s.seq, seen, slice);  // throws Cancelled / TimeoutError
    }
}

void Lock::acquire() { acquire_until(TimePoint::max()); }

bool Lock::acquire_for(Duration timeout) { return acquire_until(deadline_after(timeout)); }

bool Lock::try_acquire() {
    LockState& s = *core_->state;
    const detail::Identity me = detail::self();
    if (detail::owned_by(s, me)) return false;
    return detail::take(s, me);
}

void Lock::release() {
    LockState& s = *core_->state;
    if (!detail::owned_by(s, detail::self())) {
        throw UsageError(
            "ringlet::ipc::Lock::release: the calling task does not hold this lock; release "
            "it from the task (or thread) that acquired it");
    }
    detail::give_back(s);
}

bool Lock::held_by_me() const noexcept { return detail::owned_by(*core_->state, detail::self()); }

bool Lock::previous_holder_died() const noexcept {
    return core_->state->holder_died.load(std::memory_order_relaxed) != 0;
}

}  // namespace ringlet::ipc
