#include <ringlet/task_local.hpp>

#include "scheduler.hpp"

namespace ringlet::detail {

namespace {

// Outside tasks: the thread's own list, freed when the thread exits.
struct ThreadLocals {
    LocalSlot* head = nullptr;
    ~ThreadLocals() { destroy_local_slots(head); }
};

}  // namespace

LocalSlot*& current_local_slots() noexcept {
    if (Scheduler* s = Scheduler::current()) {
        if (TaskControlBlock* t = s->running()) return t->locals;
    }
    thread_local ThreadLocals locals;
    return locals.head;
}

void destroy_local_slots(LocalSlot*& head) noexcept {
    // A destructor may create another task-local value: drain until empty.
    while (LocalSlot* s = head) {
        head = s->next;
        s->destroy(s->value);
        delete s;
    }
}

std::uint64_t next_local_key() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace ringlet::detail
