// ringlet/detail/waiter.hpp — how a task or a plain thread waits on a primitive.
//
// Every waiting call follows one protocol (the primitives are built on it):
//   1. check_interrupts() (Cancelled / TimeoutError before any side effect);
//   2. under the primitive's lock: try the fast path, else prepare_wait(w)
//      and link `w` into a WaitQueue; unlock;
//   3. block(w, deadline) suspends the task (or futex-waits the thread);
//   4. under the lock again: if w.status != waiting the operation was granted
//      (even if a timeout or cancel raced with it: "either it happened or the
//      call fails, never both"); otherwise unlink w and report the reason.
// Wakers call grant(w, status) under the same lock. A waiter is woken at most
// once per prepare_wait: wakers claim it with a CAS on the parked token.
#pragma once

#include <atomic>
#include <cstdint>

#include <ringlet/detail/cpu_relax.hpp>
#include <ringlet/time.hpp>

namespace ringlet::detail {

class TaskControlBlock;

enum class WakeReason : std::uint8_t { none, notified, timeout, cancelled };

enum class WaitStatus : std::uint8_t {
    waiting,  // still linked, nothing happened
    granted,  // the operation completed on the waiter's behalf
    closed,   // the primitive was closed (channels)
};

struct Waiter {
    TaskControlBlock* task = nullptr;    // null: a plain thread
    std::uint64_t token = 0;             // task park token (see TaskControlBlock::parked)
    std::atomic<std::uint32_t> word{0};  // plain thread: 0 while blocked, else WakeReason
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
    bool linked = false;
    WaitStatus status = WaitStatus::waiting;
    void* payload = nullptr;  // primitive-specific (value slot, count)
    int thread = 0;           // OS thread id of the waiter (Holder::set_to)
};

// Who holds a lock, for its owner checks and for dump_tasks' wait-for edges:
// the holding task's id (0: a plain thread) and its OS thread id (0: nobody).
// Relaxed atomics written under the lock's own lock; a dump on another thread
// reads them without it.
struct Holder {
    std::atomic<std::uint64_t> task{0};
    std::atomic<int> thread{0};

    bool held() const noexcept { return thread.load(std::memory_order_relaxed) != 0; }
    // The caller (running task, else this thread) holds it.
    bool held_by_caller() const noexcept;
    void set_to_caller() noexcept;
    // The waiter `w` (just granted the lock) holds it.
    void set_to(const Waiter& w) noexcept;
    void clear() noexcept {
        task.store(0, std::memory_order_relaxed);
        thread.store(0, std::memory_order_relaxed);
    }
};

// Intrusive FIFO of waiters. Not synchronised: its owner's lock guards it.
class WaitQueue {
  public:
    bool empty() const noexcept { return head_ == nullptr; }
    Waiter* front() const noexcept { return head_; }
    void push_back(Waiter& w) noexcept {
        w.prev = tail_;
        w.next = nullptr;
        (tail_ ? tail_->next : head_) = &w;
        tail_ = &w;
        w.linked = true;
    }
    void remove(Waiter& w) noexcept {
        (w.prev ? w.prev->next : head_) = w.next;
        (w.next ? w.next->prev : tail_) = w.prev;
        w.prev = w.next = nullptr;
        w.linked = false;
    }
    Waiter* pop_front() noexcept {
        Waiter* w = head_;
        if (w) remove(*w);
        return w;
    }

  private:
    Waiter* head_ = nullptr;
    Waiter* tail_ = nullptr;
};

// Destroying a primitive that tasks or threads still wait on would leave them
// waking into freed memory: it is a bug in the caller, diagnosed by printing
// `what` and aborting (like a stack overflow), never silent corruption.
[[noreturn]] void destroyed_with_waiters(const char* what) noexcept;
inline void check_no_waiters(const WaitQueue& q, const char* what) noexcept {
    if (!q.empty()) destroyed_with_waiters(what);
}

// True if the caller may spin briefly before it parks: a plain thread, or a
// task whose scheduler has no other task ready (they would wait for the spin).
bool may_spin_before_waiting() noexcept;
inline constexpr int channel_spin_rounds = 100;  // ~2-5 us of cpu_relax()

// Throws Cancelled if the calling task has a pending cancel, TimeoutError if an
// enclosing Timeout scope has expired. No-op on a plain thread.
void check_interrupts();

// Binds `w` to the caller (current task or this thread) and arms it so that a
// grant() racing with the caller's block() is never lost. `what` is shown by
// dump_tasks(). `interruptible` = false ignores cancel and scope deadlines
// (used to re-acquire a mutex during unwinding).
void prepare_wait(Waiter& w, const char* what, bool interruptible = true) noexcept;
// After prepare_wait, for dump_tasks: the primitive's address, the lock holder
// it waits for, the fd of an IO wait (any of them may be null / -1).
void describe_wait(const Waiter& w, const void* object, const Holder* holder = nullptr,
                   int fd = -1) noexcept;

// Suspends until granted, `deadline` (or a Timeout scope) passes, or the task
// is cancelled. Returns why it woke. Never throws.
WakeReason block(Waiter& w, TimePoint deadline) noexcept;

// Under the owner's lock: unlinks `w` if linked, records `status`, and wakes
// the waiter unless a timeout or cancel already did.
void grant(WaitQueue& q, Waiter& w, WaitStatus status) noexcept;

// After an un-granted wake: throws Cancelled or the scope's TimeoutError for
// `reason`; returns normally for the call's own timeout (the caller returns
// false / nullopt).
void throw_if_interrupted(WakeReason reason, TimePoint deadline);

// Steps 2 (slow path) to 4 of the protocol, entered with `lock` held after the
// fast path failed; returns with it released. dump_tasks shows `q`'s address
// as the primitive's, and `holder` as whom the waiter waits for. `payload` is stored in the
// waiter for the granter. Returns how the wait ended: granted or closed, or
// `waiting` when the call's own deadline passed. Throws: Cancelled,
// TimeoutError (then the waiter is unlinked and nothing was granted).
template <class Lock>
WaitStatus wait_locked(Lock& lock, WaitQueue& q, const char* what, TimePoint deadline,
                       void* payload = nullptr, bool interruptible = true,
                       const Holder* holder = nullptr) {
    Waiter w;
    prepare_wait(w, what, interruptible);
    describe_wait(w, &q, holder);
    w.payload = payload;
    q.push_back(w);
    lock.unlock();
    const WakeReason reason = block(w, deadline);
    lock.lock();
    const WaitStatus status = w.status;
    if (status == WaitStatus::waiting && w.linked) q.remove(w);
    lock.unlock();
    if (status == WaitStatus::waiting) throw_if_interrupted(reason, deadline);
    return status;
}

}  // namespace ringlet::detail
