#include <ringlet/task.hpp>

#include <sched.h>

#include <string>

#include "park.hpp"
#include "scheduler.hpp"
#include "stack_pool.hpp"

namespace ringlet::detail {

void* allocate_task(std::size_t size, std::size_t align, std::size_t stack_size) {
    Scheduler* s = Scheduler::current();
    if (s == nullptr) {
        throw UsageError(
            "ringlet::spawn: no scheduler on this thread; call it inside ringlet::run() or a "
            "ringlet::Thread");
    }
    // Refused, not rounded up: a caller asking for 0 (or 4 KiB) should learn
    // that it did not get what it asked for.
    if (stack_size < min_stack_size) {
        throw UsageError("ringlet::spawn: SpawnOptions::stack_size is " +
                         std::to_string(stack_size) + " bytes, below the minimum of " +
                         std::to_string(min_stack_size) +
                         " (ringlet::min_stack_size); ask for at least that, or leave the "
                         "default (ringlet::default_stack_size)");
    }
    return s->reserve_task(size, align, stack_size);
}

void abandon_task(void*) noexcept { Scheduler::current()->abandon_reserved(); }

void start_task(TaskControlBlock* tcb, std::string_view name) noexcept {
    Scheduler::current()->start(tcb, name);
}

void release_task(TaskControlBlock* tcb) noexcept {
    // Reading 1 means nobody else holds a reference, so nobody can add one.
    if (tcb->refs.load(std::memory_order_acquire) != 1 &&
        tcb->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
        return;
    }
    // Last reference: the task has ended. Its stack belongs to its scheduler's
    // pool; hand it back on the owner thread, or directly once the owner is gone.
    Scheduler* here = Scheduler::current();
    if (here != nullptr && here == tcb->scheduler) {
        Scheduler::free_task(tcb);
        return;
    }
    // Another thread. The owner frees it when it sees state == done; but the
    // owner may be past its last look (run() returning), so the hand-off and
    // the owner's orphan() are serialised by the pool's lock.
    if (!tcb->pool->while_owned([tcb] { Scheduler::wake(tcb); })) Scheduler::free_task(tcb);
}

bool join_task(TaskControlBlock* tcb, TimePoint deadline) {
    if (tcb->public_state.load(std::memory_order_acquire) == TaskState::done) return true;
    if (tcb == current_task_block()) {
        throw UsageError("ringlet::Task::join: a task cannot join itself (it would never end)");
    }
    check_interrupts();
    tcb->join_lock.lock();
    if (tcb->public_state.load(std::memory_order_relaxed) == TaskState::done) {
        tcb->join_lock.unlock();
        return true;
    }
    return wait_locked(tcb->join_lock, tcb->joiners, "join", deadline) != WaitStatus::waiting;
}

void cancel_task(TaskControlBlock* tcb) noexcept {
    if (tcb->public_state.load(std::memory_order_acquire) == TaskState::done) return;
    tcb->cancel_requested.store(true, std::memory_order_seq_cst);
    std::uint64_t parked = tcb->parked.load(std::memory_order_seq_cst);
    while (parked != 0 && interruptible(parked)) {
        if (try_claim(tcb, parked, WakeReason::cancelled)) {
            Scheduler::wake(tcb);
            return;
        }
        parked = tcb->parked.load(std::memory_order_seq_cst);
    }
}

TaskControlBlock* current_task_block() noexcept {
    Scheduler* s = Scheduler::current();
    return s ? s->running() : nullptr;
}

TaskControlBlock& TaskRef::checked(const char* what) const {
    if (tcb_ == nullptr) {
        throw UsageError(std::string("ringlet::Task::") + what +
                         ": empty handle (default-constructed, moved from or detached)");
    }
    return *tcb_;
}

}  // namespace ringlet::detail

namespace ringlet {

void yield() {
    detail::Scheduler* s = detail::Scheduler::current();
    if (s == nullptr || s->running() == nullptr) {
        ::sched_yield();
        return;
    }
    // One check after the switch covers a cancel that was pending before it too.
    s->yield_running();
    detail::check_interrupts_of(s->running());
}

TaskId current_task() noexcept {
    detail::TaskControlBlock* t = detail::current_task_block();
    return t ? t->id : 0;
}

}  // namespace ringlet
