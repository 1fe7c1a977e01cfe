// ringlet/detail/task_base.hpp — TaskControlBlock: the state of one task.
//
// A task's control block, its callable and its result live at the top of the
// task's own pooled stack (spawn allocates nothing else). The block is shared
// by the running task and its Task<T> handle through a reference count; the
// stack goes back to the pool when both are gone. Only the owning scheduler's
// thread touches the non-atomic fields; other threads use the atomics only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include <ringlet/detail/spin_lock.hpp>
#include <ringlet/detail/waiter.hpp>

namespace ringlet {
class Timeout;
using TaskId = std::uint64_t;  // 1, 2, 3 … per process; 0 means "not a task"
}  // namespace ringlet

namespace ringlet::detail {

class Scheduler;
struct LocalSlot;
class StackPool;

enum class TaskState : std::uint8_t { ready, running, waiting, done };
enum class TaskOutcome : std::uint8_t { none, value, failed, cancelled };

// A suspended execution context plus what sanitizers need to follow a switch.
struct Context {
    void* fctx = nullptr;
    void* stack_bottom = nullptr;  // lowest usable address
    std::size_t stack_size = 0;
    void* fake_stack = nullptr;  // AddressSanitizer fake-stack handle
    void* tsan_fiber = nullptr;  // ThreadSanitizer fiber
};

struct StackMemory {
    void* base = nullptr;  // mapping start (guard page first)
    std::size_t size = 0;  // whole mapping, guard included
};

class TaskControlBlock {
  public:
    TaskControlBlock() = default;
    TaskControlBlock(const TaskControlBlock&) = delete;
    TaskControlBlock& operator=(const TaskControlBlock&) = delete;

    // Runs the callable, storing its value; exceptions escape to the caller.
    virtual void invoke() = 0;
    // Destroys the callable and its arguments (the task has ended).
    virtual void drop_callable() noexcept = 0;
    // Destroys the result and the rest of the most-derived object.
    virtual void destroy() noexcept = 0;

    Context ctx;
    StackMemory stack;
    StackPool* pool = nullptr;  // outlives its stacks, even past the scheduler
    Scheduler* scheduler = nullptr;
    TaskId id = 0;
    char name[32] = {};
    TaskState state = TaskState::ready;
    TaskOutcome outcome = TaskOutcome::none;
    bool error_observed = false;  // someone called get()/exception()/failed()
    std::exception_ptr error;

    // running task + handle; the block is freed when it drops to zero
    std::atomic<int> refs{2};
    // 0 when not parked, else (token << 1) | interruptible. Wakers claim a
    // parked task by CAS to 0; the claimer alone may make it ready.
    std::atomic<std::uint64_t> parked{0};
    std::uint64_t park_counter = 0;
    std::atomic<bool> cancel_requested{false};
    std::atomic<TaskState> public_state{TaskState::ready};  // readable from any thread
    WakeReason wake_reason = WakeReason::none;
    Timeout* timeouts = nullptr;  // innermost Timeout scope
    LocalSlot* locals = nullptr;  // TaskLocal values
    // What the task waits on, for dump_tasks (set by prepare_wait/describe_wait).
    const char* waiting_on = nullptr;
    const void* waiting_object = nullptr;
    const Holder* waiting_holder = nullptr;
    int waiting_fd = -1;
    TimePoint waiting_deadline = TimePoint::max();

    SpinLock join_lock;
    WaitQueue joiners;

    TaskControlBlock* run_next = nullptr;     // ready queue
    TaskControlBlock* remote_next = nullptr;  // cross-thread wake-up stack
    TaskControlBlock* all_prev = nullptr;     // every live task, for dump_tasks
    TaskControlBlock* all_next = nullptr;

  protected:
    ~TaskControlBlock() = default;
};

// Reserves a pooled stack on the current scheduler and returns storage for
// a control block of `size` bytes at its top. Throws UsageError with no
// scheduler, IoError if the stack cannot be mapped.
void* allocate_task(std::size_t size, std::size_t align, std::size_t stack_size);
// Undoes allocate_task when the block's constructor threw.
void abandon_task(void* storage) noexcept;
// Makes a constructed block runnable (it first runs at the spawner's next
// suspension point) and names it.
void start_task(TaskControlBlock* tcb, std::string_view name) noexcept;
// Drops one reference; the last one returns the stack to its pool.
void release_task(TaskControlBlock* tcb) noexcept;
// Waits for the task to finish. Returns false on timeout.
// Suspends. Throws: UsageError (a task joining itself), Cancelled, TimeoutError.
bool join_task(TaskControlBlock* tcb, TimePoint deadline);
void cancel_task(TaskControlBlock* tcb) noexcept;
TaskControlBlock* current_task_block() noexcept;

}  // namespace ringlet::detail
