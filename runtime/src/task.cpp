#include <ringlet/task.hpp>

#include <sched.h>

#include "park.hpp"
#include "scheduler.hpp"
#include "stack_pool.hpp"

namespace ringlet::detail {

namespace {
// The stack reserved by allocate_task, claimed by start_task/abandon_task:
// nothing can suspend between the two, so one slot per thread suffices.
thread_local StackMemory pending_stack;
}  // namespace

void* allocate_task(std::size_t size, std::size_t align, std::size_t stack_size) {
    Scheduler* s = Scheduler::current();
    if (s == nullptr) {
        throw UsageError(
            "ringlet::spawn: no scheduler on this thread; call it inside ringlet::run() or a "
            "ringlet::Thread");
    }
    if (stack_size < size + 16 * 1024) stack_size = size + 16 * 1024;
    pending_stack = s->take_stack(stack_size);
    char* top = static_cast<char*>(pending_stack.base) + pending_stack.size;
    auto addr = reinterpret_cast<std::uintptr_t>(top - size);
    addr &= ~(std::uintptr_t{std::max<std::size_t>(align, 64)} - 1);
    return reinterpret_cast<void*>(addr);
}

void abandon_task(void*) noexcept {
    Scheduler::current()->give_back_stack(std::exchange(pending_stack, StackMemory{}));
}

void start_task(TaskControlBlock* tcb, const char* name) noexcept {
    tcb->stack = std::exchange(pending_stack, StackMemory{});
    Scheduler::current()->start(tcb, name);
}

void release_task(TaskControlBlock* tcb) noexcept {
    if (tcb->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // Last reference: the task has ended. Its stack belongs to its scheduler's
    // pool; hand it back on the owner thread, or directly once the owner is gone.
    Scheduler* here = Scheduler::current();
    if (tcb->pool->orphaned() || (here != nullptr && here == tcb->scheduler)) {
        Scheduler::free_task(tcb);
    } else {
        Scheduler::wake(tcb);  // the owner sees state == done and frees it
    }
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
    Waiter w;
    prepare_wait(w, "join");
    tcb->joiners.push_back(w);
    tcb->join_lock.unlock();
    return wait_granted(tcb->join_lock, tcb->joiners, w, deadline);
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
    detail::check_interrupts();
    s->yield_running();
    detail::check_interrupts();
}

TaskId current_task() noexcept {
    detail::TaskControlBlock* t = detail::current_task_block();
    return t ? t->id : 0;
}

}  // namespace ringlet
