// wait.cpp — the waiting protocol of detail/waiter.hpp, for tasks and threads.
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <pthread.h>
#include <unistd.h>

#include <linux/futex.h>
#include <sys/syscall.h>

#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/time.hpp>

#include "park.hpp"
#include "scheduler.hpp"
#include "timeout_access.hpp"

namespace ringlet::detail {

namespace {

// A plain thread spins this many rounds on its wake word before sleeping in
// the kernel: waking an idle vCPU costs tens of microseconds, a spin far less.
constexpr int thread_spin_rounds = 200;

// The OS thread id, cached: gettid() is a system call. A forked child's one
// thread is the forking one, whose cache the atfork handler resets.
thread_local int cached_thread_id = 0;

int current_thread_id() noexcept {
    if (cached_thread_id == 0) [[unlikely]] {
        static const bool registered =
            ::pthread_atfork(nullptr, nullptr, [] { cached_thread_id = 0; }) == 0;
        (void)registered;
        cached_thread_id = static_cast<int>(::gettid());
    }
    return cached_thread_id;
}

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value,
           const timespec* timeout) noexcept {
    return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, timeout, nullptr,
                     FUTEX_BITSET_MATCH_ANY);
}

timespec to_monotonic_timespec(TimePoint t) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
    return ts;
}

WakeReason block_thread(Waiter& w, TimePoint deadline) noexcept {
    for (int i = 0; i < thread_spin_rounds; ++i) {
        if (std::uint32_t v = w.word.load(std::memory_order_acquire)) return WakeReason(v);
        cpu_relax();
    }
    for (;;) {
        if (std::uint32_t v = w.word.load(std::memory_order_acquire)) return WakeReason(v);
        if (deadline != TimePoint::max() && Clock::now() >= deadline) {
            std::uint32_t expected = 0;
            if (w.word.compare_exchange_strong(expected,
                                               static_cast<std::uint32_t>(WakeReason::timeout),
                                               std::memory_order_acq_rel)) {
                return WakeReason::timeout;
            }
            return WakeReason(expected);
        }
        // steady_clock is CLOCK_MONOTONIC, which FUTEX_WAIT_BITSET uses by default.
        timespec ts = to_monotonic_timespec(deadline);
        futex(&w.word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0,
              deadline == TimePoint::max() ? nullptr : &ts);
    }
}

WakeReason block_task(Scheduler* s, Waiter& w, TimePoint deadline) noexcept {
    TaskControlBlock* t = w.task;
    const bool can_interrupt = interruptible(w.token);
    TimePoint effective = deadline;
    if (can_interrupt) {
        if (Timeout* scope = TimeoutAccess::earliest(t)) {
            effective = std::min(effective, scope->deadline());
        }
        // A cancel that raced with prepare_wait(): its CAS may have seen
        // `parked` still zero, so look at the flag once more ourselves.
        if (t->cancel_requested.load(std::memory_order_seq_cst) &&
            try_claim(t, w.token, WakeReason::cancelled)) {
            t->waiting_on = nullptr;
            return WakeReason::cancelled;
        }
    }
    if (effective != TimePoint::max() && effective <= Clock::now() &&
        try_claim(t, w.token, WakeReason::timeout)) {
        t->waiting_on = nullptr;
        return WakeReason::timeout;
    }
    t->waiting_deadline = effective;
    TimerEntry timer;
    if (effective != TimePoint::max()) {
        timer.deadline = effective;
        timer.task = t;
        timer.parked_value = w.token;
        s->add_timer(timer);
    }
    // Whoever claimed us (grant, timer, cancel) has made us ready or will; in
    // every case exactly one resume follows.
    s->suspend();
    s->remove_timer(timer);
    t->waiting_on = nullptr;
    return t->wake_reason;
}

}  // namespace

void check_interrupts_slow(TaskControlBlock* t) {
    if (t->cancel_requested.load(std::memory_order_relaxed) &&
        t->cancel_requested.exchange(false, std::memory_order_acq_rel)) {
        throw Cancelled{};
    }
    if (Timeout* scope = TimeoutAccess::earliest(t)) {
        if (scope->deadline() <= Clock::now()) TimeoutAccess::fire(scope);
    }
}

bool may_spin_before_waiting() noexcept {
    Scheduler* s = Scheduler::current();
    return s == nullptr || s->running() == nullptr || !s->has_ready();
}

void check_interrupts() {
    Scheduler* s = Scheduler::current();
    if (s == nullptr) return;
    if (TaskControlBlock* t = s->running()) check_interrupts_of(t);
}

void destroyed_with_waiters(const char* what) noexcept {
    std::fprintf(stderr,
                 "ringlet: %s destroyed while tasks or threads still wait on it; keep it alive "
                 "until they are done (close() it and join them first)\n",
                 what);
    std::abort();
}

void prepare_wait(Waiter& w, const char* what, bool can_interrupt) noexcept {
    w.status = WaitStatus::waiting;
    w.thread = current_thread_id();
    Scheduler* s = Scheduler::current();
    TaskControlBlock* t = s ? s->running() : nullptr;
    w.task = t;
    if (t == nullptr) {
        w.word.store(0, std::memory_order_relaxed);
        return;
    }
    t->waiting_on = what;
    t->waiting_object = nullptr;
    t->waiting_holder = nullptr;
    t->waiting_fd = -1;
    t->wake_reason = WakeReason::none;
    w.token = (++t->park_counter << 1) | (can_interrupt ? 1 : 0);
    t->parked.store(w.token, std::memory_order_seq_cst);
}

void describe_wait(const Waiter& w, const void* object, const Holder* holder, int fd) noexcept {
    if (TaskControlBlock* t = w.task) {
        t->waiting_object = object;
        t->waiting_holder = holder;
        t->waiting_fd = fd;
    }
}

bool Holder::held_by_caller() const noexcept {
    if (thread.load(std::memory_order_relaxed) != current_thread_id()) return false;
    Scheduler* s = Scheduler::current();
    TaskControlBlock* t = s ? s->running() : nullptr;
    return task.load(std::memory_order_relaxed) == (t ? t->id : 0);
}

void Holder::set_to_caller() noexcept {
    Scheduler* s = Scheduler::current();
    TaskControlBlock* t = s ? s->running() : nullptr;
    task.store(t ? t->id : 0, std::memory_order_relaxed);
    thread.store(current_thread_id(), std::memory_order_relaxed);
}

void Holder::set_to(const Waiter& w) noexcept {
    task.store(w.task ? w.task->id : 0, std::memory_order_relaxed);
    thread.store(w.thread, std::memory_order_relaxed);
}

WakeReason block(Waiter& w, TimePoint deadline) noexcept {
    if (w.task == nullptr) return block_thread(w, deadline);
    return block_task(Scheduler::current(), w, deadline);
}

void grant(WaitQueue& q, Waiter& w, WaitStatus status) noexcept {
    if (w.linked) q.remove(w);
    w.status = status;
    if (w.task != nullptr) {
        if (try_claim(w.task, w.token, WakeReason::notified)) Scheduler::wake(w.task);
        return;
    }
    std::uint32_t expected = 0;
    if (w.word.compare_exchange_strong(expected, static_cast<std::uint32_t>(WakeReason::notified),
                                       std::memory_order_acq_rel)) {
        // The waiter may already be gone (it saw the word while spinning); a
        // wake on a stale address is harmless.
        futex(&w.word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr);
    }
}

void throw_if_interrupted(WakeReason reason, TimePoint deadline) {
    if (reason == WakeReason::cancelled) {
        Scheduler* s = Scheduler::current();
        s->running()->cancel_requested.store(false, std::memory_order_relaxed);
        throw Cancelled{};
    }
    if (reason != WakeReason::timeout) return;
    Scheduler* s = Scheduler::current();
    if (s == nullptr || s->running() == nullptr) return;
    if (Timeout* scope = TimeoutAccess::earliest(s->running())) {
        if (scope->deadline() <= deadline && scope->deadline() <= Clock::now()) {
            TimeoutAccess::fire(scope);
        }
    }
}

}  // namespace ringlet::detail
