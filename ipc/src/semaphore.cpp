// semaphore.cpp — ipc::Semaphore: a count, a table of holders, a futex word.
//
// The count and the holder table change only inside short critical sections
// guarded by a PTHREAD_PROCESS_SHARED | ROBUST pthread mutex, taken with
// trylock and spinning (a critical section never suspends and makes no
// system call, so the spin is short; a holder that dies inside one is seen as
// EOWNERDEAD). Each critical section changes the count and at most one table
// slot, and first writes a one-entry undo journal: if its process dies midway,
// the next process to take the guard rolls the change back, so the count and
// the table always agree.
//
// Waiting is on `seq`, a futex word that release() and reclaiming bump,
// through shared_futex_wait (task-aware), in slices of 10 ms: at the end of a
// slice a waiter looks for holders that died. The liveness check (kill(pid,
// 0), then /proc/<pid>/stat for a zombie state or a different start time)
// makes system calls, so it runs outside the critical section, and the slot is
// re-checked inside before its permits are returned.
#include <ringlet/ipc/semaphore.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>

#include "check.hpp"
#include "shared_futex.hpp"
#include "shm_region.hpp"

namespace ringlet::ipc::detail {

namespace {

constexpr Duration death_check_slice = std::chrono::milliseconds(10);
constexpr std::size_t slot_count = Semaphore::holder_slots;

using u32 = std::uint32_t;
using u64 = std::uint64_t;
constexpr auto relaxed = std::memory_order_relaxed;

struct Slot {
    std::atomic<std::int32_t> pid{0};  // 0: free
    std::atomic<u64> start{0};         // the process's start time (clock ticks after boot); 0: unknown
    std::atomic<u64> permits{0};
};

// The undo record of the critical section in progress (see the file comment).
struct Journal {
    std::atomic<u32> active{0};
    std::atomic<std::int32_t> slot{-1};
    std::atomic<u64> count{0};
    std::atomic<u32> slots_used{0};
    std::atomic<std::int32_t> pid{0};
    std::atomic<u64> start{0};
    std::atomic<u64> permits{0};
};

struct SharedSemaphore {
    pthread_mutex_t guard;
    std::atomic<u32> seq{0};      // bumped whenever permits may have become free; the futex word
    std::atomic<u32> waiters{0};  // tasks/threads in a wait; release skips the wake at 0
    std::atomic<u64> count{0};    // free permits
    std::atomic<u32> reclaim{1};
    std::atomic<u32> slots_used{0};  // slots[0, slots_used) have been used
    Journal journal;
    Slot slots[slot_count];
};

// ---- who we are, and whether another process still lives --------------

// Reads field 3 (state) and field 22 (starttime) of /proc/<pid>/stat.
// False if the file cannot be read.
bool read_proc_stat(const char* path, char& state, u64& start) noexcept {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[1024];
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    // The command name (field 2) is in parentheses and may hold anything,
    // spaces and ')' included: the fields resume after the last ')'.
    const char* p = std::strrchr(buf, ')');
    if (p == nullptr) return false;
    ++p;
    while (*p == ' ') ++p;
    state = *p;
    for (int field = 3; field < 22; ++field) {  // skip to field 22
        p = std::strchr(p, ' ');
        if (p == nullptr) return false;
        ++p;
    }
    start = std::strtoull(p, nullptr, 10);
    return true;
}

struct Self {
    std::int32_t pid;
    u64 start;  // 0 if /proc is not readable here
};

// Per process (getpid() is a system call; glibc does not cache it), and
// forgotten in fork children, which look themselves up again.
std::atomic<std::int32_t> g_self_pid{0};
std::atomic<u64> g_self_start{0};
std::once_flag g_atfork_once;

void forget_self_after_fork() noexcept { g_self_pid.store(0, relaxed); }

Self self() noexcept {
    std::call_once(g_atfork_once, [] { ::pthread_atfork(nullptr, nullptr, forget_self_after_fork); });
    if (const std::int32_t pid = g_self_pid.load(std::memory_order_acquire); pid != 0) {
        return {pid, g_self_start.load(relaxed)};
    }
    const std::int32_t pid = ::getpid();
    char state = 0;
    u64 start = 0;
    if (!read_proc_stat("/proc/self/stat", state, start)) start = 0;
    g_self_start.store(start, relaxed);
    g_self_pid.store(pid, std::memory_order_release);
    return {pid, start};
}

// False only when sure that the process (pid, start) has ended.
bool holder_alive(std::int32_t pid, u64 start, const Self& me) noexcept {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
    // kill() also succeeds for a zombie and for a new process that reuses the
    // pid; /proc tells them apart. Without a start time (/proc unreadable for
    // the holder or for us), trust kill().
    if (start == 0 || me.start == 0) return true;
    char path[32];
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    char state = 0;
    u64 now_start = 0;
    if (!read_proc_stat(path, state, now_start)) {
        return ::kill(pid, 0) == 0 || errno != ESRCH;  // it may just have gone
    }
    if (state == 'Z' || state == 'X') return false;  // ended, not yet reaped
    return now_start == start;                     // else: the pid was reused
}

// ---- the critical section ------------------------------------------------

void roll_back(SharedSemaphore& s) noexcept {
    Journal& j = s.journal;
    if (j.active.load(relaxed) == 0) return;
    s.count.store(j.count.load(relaxed), relaxed);
    s.slots_used.store(j.slots_used.load(relaxed), relaxed);
    const std::int32_t i = j.slot.load(relaxed);
    if (i >= 0) {
        s.slots[i].pid.store(j.pid.load(relaxed), relaxed);
        s.slots[i].start.store(j.start.load(relaxed), relaxed);
        s.slots[i].permits.store(j.permits.load(relaxed), relaxed);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    j.active.store(0, relaxed);
}

// Holds the guard mutex for one short, non-suspending critical section.
class Critical {
public:
    explicit Critical(SharedSemaphore& s) noexcept : s_(s) {
        for (int spins = 0;; ++spins) {
            const int r = ::pthread_mutex_trylock(&s_.guard);
            if (r == 0) break;
            if (r == EOWNERDEAD) {
                // A process died inside a critical section: undo its change.
                ::pthread_mutex_consistent(&s_.guard);
                roll_back(s_);
                break;
            }
            // EDEADLK would mean this thread is inside a critical section
            // already, which cannot happen: they never suspend.
            RINGLET_CHECK(r == EBUSY);
            if (spins < 100) {
                ringlet::detail::cpu_relax();
            } else {
                ::sched_yield();  // the holder may be preempted
            }
        }
    }
    ~Critical() { ::pthread_mutex_unlock(&s_.guard); }
    Critical(const Critical&) = delete;
    Critical& operator=(const Critical&) = delete;

    // Records how to undo a change of the count and of slot `i` (-1: none).
    void begin(std::int32_t i) noexcept {
        Journal& j = s_.journal;
        j.count.store(s_.count.load(relaxed), relaxed);
        j.slots_used.store(s_.slots_used.load(relaxed), relaxed);
        j.slot.store(i, relaxed);
        if (i >= 0) {
            j.pid.store(s_.slots[i].pid.load(relaxed), relaxed);
            j.start.store(s_.slots[i].start.load(relaxed), relaxed);
            j.permits.store(s_.slots[i].permits.load(relaxed), relaxed);
        }
        std::atomic_thread_fence(std::memory_order_seq_cst);
        j.active.store(1, relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    void commit() noexcept {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        s_.journal.active.store(0, relaxed);
    }

private:
    SharedSemaphore& s_;
};

// The slot of `me`, or -1.
std::int32_t find_slot(const SharedSemaphore& s, const Self& me) noexcept {
    const u32 used = s.slots_used.load(relaxed);
    for (u32 i = 0; i < used; ++i) {
        if (s.slots[i].pid.load(relaxed) == me.pid && s.slots[i].start.load(relaxed) == me.start) {
            return static_cast<std::int32_t>(i);
        }
    }
    return -1;
}

// The slot of `me`, else a free one (possibly a never used one), else -1.
std::int32_t find_or_free_slot(const SharedSemaphore& s, const Self& me) noexcept {
    if (const std::int32_t mine = find_slot(s, me); mine >= 0) return mine;
    const u32 used = s.slots_used.load(relaxed);
    for (u32 i = 0; i < used; ++i) {
        if (s.slots[i].pid.load(relaxed) == 0) return static_cast<std::int32_t>(i);
    }
    return used < slot_count ? static_cast<std::int32_t>(used) : -1;
}

void bump_and_wake(SharedSemaphore& s, u64 permits) noexcept {
    // Dekker with the waiter (waiters++, read seq, try to take): either it
    // sees the new seq, or we see it counted.
    s.seq.fetch_add(1, std::memory_order_seq_cst);
    if (s.waiters.load(std::memory_order_seq_cst) != 0) {
        shared_futex_wake(s.seq, static_cast<int>(std::min<u64>(permits, INT_MAX)));
    }
}

bool take(SharedSemaphore& s) noexcept {
    const Self me = self();
    Critical cs(s);
    const u64 c = s.count.load(relaxed);
    if (c == 0) return false;
    const std::int32_t i = s.reclaim.load(relaxed) != 0 ? find_or_free_slot(s, me) : -1;
    cs.begin(i);
    s.count.store(c - 1, relaxed);
    if (i >= 0) {
        Slot& slot = s.slots[i];
        if (slot.pid.load(relaxed) == 0) {
            slot.pid.store(me.pid, relaxed);
            slot.start.store(me.start, relaxed);
            slot.permits.store(0, relaxed);
            if (static_cast<u32>(i) >= s.slots_used.load(relaxed)) {
                s.slots_used.store(static_cast<u32>(i) + 1, relaxed);
            }
        }
        slot.permits.store(slot.permits.load(relaxed) + 1, relaxed);
    }
    cs.commit();
    return true;
}

// Returns the permits of holders that have ended. True if it returned some.
bool reclaim_dead(SharedSemaphore& s) noexcept {
    if (s.reclaim.load(relaxed) == 0) return false;
    const Self me = self();
    // First a consistent list of holders, taken under the guard: taking it
    // also rolls back the change of a process that died inside a critical
    // section, which may bring a cleared slot back.
    struct Holder {
        std::int32_t pid;
        u64 start;
    };
    Holder holders[slot_count];
    u32 used = 0;
    {
        Critical cs(s);
        used = s.slots_used.load(relaxed);
        for (u32 i = 0; i < used; ++i) {
            holders[i] = {s.slots[i].pid.load(relaxed), s.slots[i].start.load(relaxed)};
        }
    }
    // The liveness checks make system calls: outside the guard.
    u64 returned = 0;
    for (u32 i = 0; i < used; ++i) {
        const Holder h = holders[i];
        if (h.pid == 0 || (h.pid == me.pid && h.start == me.start)) continue;
        if (holder_alive(h.pid, h.start, me)) continue;
        Critical cs(s);
        Slot& slot = s.slots[i];
        if (slot.pid.load(relaxed) != h.pid || slot.start.load(relaxed) != h.start) continue;
        cs.begin(static_cast<std::int32_t>(i));
        const u64 p = slot.permits.load(relaxed);
        // Saturate: a count near the maximum (release() refuses to pass it)
        // plus a dead holder's permits must not wrap to a small count.
        const u64 c = s.count.load(relaxed);
        s.count.store(p > UINT64_MAX - c ? UINT64_MAX : c + p, relaxed);
        slot.permits.store(0, relaxed);
        slot.start.store(0, relaxed);
        slot.pid.store(0, relaxed);
        cs.commit();
        returned += p;
    }
    if (returned == 0) return false;
    bump_and_wake(s, returned);
    return true;
}

struct WaiterCount {
    explicit WaiterCount(std::atomic<u32>& w) noexcept : waiters(w) {
        waiters.fetch_add(1, std::memory_order_seq_cst);
    }
    ~WaiterCount() { waiters.fetch_sub(1, relaxed); }
    WaiterCount(const WaiterCount&) = delete;
    WaiterCount& operator=(const WaiterCount&) = delete;
    std::atomic<u32>& waiters;
};

}  // namespace

struct SemaphoreCore {
    std::shared_ptr<ShmRegion> region;
    SharedSemaphore* shared = nullptr;
};

}  // namespace ringlet::ipc::detail

namespace ringlet::ipc {

using detail::SharedSemaphore;

// Every size_t count is representable in the shared u64: the constructor
// cannot wrap.
static_assert(sizeof(std::size_t) <= sizeof(std::uint64_t));

Semaphore::Semaphore(std::size_t value, SemaphoreOptions options)
    : core_(std::make_shared<detail::SemaphoreCore>()) {
    core_->region = detail::ShmRegion::create(sizeof(SharedSemaphore));
    auto* s = ::new (core_->region->data()) SharedSemaphore;
    pthread_mutexattr_t attr;
    ::pthread_mutexattr_init(&attr);
    ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    ::pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    const int r = ::pthread_mutex_init(&s->guard, &attr);
    ::pthread_mutexattr_destroy(&attr);
    if (r != 0) throw_io_error(-r, "pthread_mutex_init(ipc::Semaphore)");
    s->count.store(value, detail::relaxed);
    s->reclaim.store(options.reclaim ? 1 : 0, detail::relaxed);
    core_->shared = s;
}

bool Semaphore::acquire_until(TimePoint deadline) {
    SharedSemaphore& s = *core_->shared;
    ringlet::detail::check_interrupts();
    if (detail::take(s)) return true;
    if (Clock::now() >= deadline) return detail::reclaim_dead(s) && detail::take(s);
    detail::WaiterCount counted(s.waiters);
    TimePoint next_check = Clock::now() + detail::death_check_slice;
    for (;;) {
        const std::uint32_t seen = s.seq.load(std::memory_order_seq_cst);
        if (detail::take(s)) return true;
        TimePoint now = Clock::now();
        // Look for dead holders every slice, however the waits end (a busy
        // semaphore wakes us often without ever giving us a permit).
        if (now >= next_check) {
            if (detail::reclaim_dead(s) && detail::take(s)) return true;
            now = Clock::now();
            next_check = now + detail::death_check_slice;
        }
        if (now >= deadline) return false;
        detail::shared_futex_wait(s.seq, seen, std::min(deadline, next_check));
    }
}

void Semaphore::acquire() { acquire_until(TimePoint::max()); }

bool Semaphore::acquire_for(Duration timeout) { return acquire_until(deadline_after(timeout)); }

bool Semaphore::try_acquire() {
    SharedSemaphore& s = *core_->shared;
    if (detail::take(s)) return true;
    return detail::reclaim_dead(s) && detail::take(s);
}

void Semaphore::release(std::size_t n) {
    if (n == 0) return;
    SharedSemaphore& s = *core_->shared;
    const detail::Self me = detail::self();
    {
        detail::Critical cs(s);
        const std::uint64_t count = s.count.load(detail::relaxed);
        if (n > UINT64_MAX - count) {
            // Before begin(): nothing has changed, and the guard is released
            // on the way out.
            throw UsageError("ringlet::ipc::Semaphore::release: returning " + std::to_string(n) +
                             " permits to the " + std::to_string(count) +
                             " free would exceed the largest count (2^64 - 1); release fewer");
        }
        const std::int32_t i = detail::find_slot(s, me);
        cs.begin(i);
        s.count.store(count + n, detail::relaxed);
        if (i >= 0) {
            detail::Slot& slot = s.slots[i];
            const std::uint64_t held = slot.permits.load(detail::relaxed);
            const std::uint64_t left = held - std::min<std::uint64_t>(held, n);
            slot.permits.store(left, detail::relaxed);
            if (left == 0) {
                slot.start.store(0, detail::relaxed);
                slot.pid.store(0, detail::relaxed);
            }
        }
        cs.commit();
    }
    detail::bump_and_wake(s, n);
}

std::size_t Semaphore::value() const {
    SharedSemaphore& s = *core_->shared;
    detail::reclaim_dead(s);
    // Under the guard: a process that died inside a critical section may have
    // left the count half-changed until the guard's next holder rolls it back.
    detail::Critical cs(s);
    return static_cast<std::size_t>(s.count.load(detail::relaxed));
}

}  // namespace ringlet::ipc
