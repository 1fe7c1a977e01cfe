// scheduler.hpp — one per thread: run queue, timers, backend, stack pool.
//
// Loop turn: run the ready tasks (a task that suspends switches straight to
// the next ready task, not through the loop), then do the housekeeping
// "turn" — drain cross-thread wake-ups, fire due timers, reap IO — and only
// when nothing at all is ready, block in the backend until the earliest
// timer. The turn also runs inline, on the suspending task's stack, each time
// the tasks that were ready at the previous turn have all had their go, so a
// busy scheduler never needs the loop context (nor a system call) to switch.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <vector>

#include <boost/context/detail/fcontext.hpp>

#include <ringlet/detail/task_base.hpp>
#include <ringlet/run.hpp>
#include <ringlet/stats.hpp>

#include "backend/backend.hpp"
#include "stack_pool.hpp"
#include "timer_heap.hpp"

namespace ringlet::detail {

class Scheduler {
  public:
    explicit Scheduler(const Options& options);
    ~Scheduler();
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // The scheduler of the calling thread, or null on a plain thread.
    static Scheduler* current() noexcept { return current_; }
    TaskControlBlock* running() const noexcept { return running_.load(std::memory_order_relaxed); }
    // True if tasks other than the running one are ready to run.
    bool has_ready() const noexcept { return ready_head_ != nullptr; }
    Backend& backend() noexcept { return *backend_; }

    // Task life cycle.
    // Reserves a stack and returns room for a control block of `size` bytes
    // at its top; start() (or abandon_reserved()) must follow before anything
    // can suspend. Throws: IoError.
    void* reserve_task(std::size_t size, std::size_t align, std::size_t stack_size);
    void abandon_reserved() noexcept;
    void start(TaskControlBlock* tcb, std::string_view name) noexcept;
    // Destroys an ended task whose last reference is gone and returns its
    // stack to its pool (owner thread, or any thread once the pool is orphaned).
    static void free_task(TaskControlBlock* tcb) noexcept;

    // Makes a claimed task ready. Owner thread only (wake() from elsewhere).
    [[gnu::always_inline]] inline void make_ready(TaskControlBlock* tcb) noexcept;
    // Any thread: makes a claimed task ready on its own scheduler.
    static void wake(TaskControlBlock* tcb) noexcept;

    // The running task gives up the CPU until something makes it ready.
    void suspend() noexcept;
    // The running task goes to the back of the run queue.
    void yield_running() noexcept;

    void add_timer(TimerEntry& e) { timers_.push(e); }
    void remove_timer(TimerEntry& e) noexcept {
        if (e.queued()) timers_.remove(e);
    }

    void run_until_done(TaskControlBlock* main);

    // Runs `hook` on this thread once run()'s loop has ended (every task is
    // done), before run() returns; outside any task, so waits there block.
    // Hooks run in the order they were added. (ipc joins child processes so.)
    void add_exit_hook(std::function<void()> hook) { exit_hooks_.push_back(std::move(hook)); }
    void run_exit_hooks() noexcept;

    // In a forked child: forget this thread's scheduler without running any of
    // it (DESIGN: nothing of the parent's scheduler is touched in the child).
    // Its memory and stacks are leaked; its kernel objects are closed.
    static void abandon_after_fork() noexcept;
    Stats stats() const;
    void dump_tasks(std::ostream& out) const;
    // Any thread (the dump_signal thread): the loop writes a dump to stderr at
    // its next housekeeping turn, waking first if it sleeps.
    void request_dump() noexcept;

    // Options::blocked_warning (watchdog.hpp). progress() moves at every switch
    // and housekeeping turn; any thread may read it. note_blocking_call() is
    // the hooks' record of the blocking libc call the running task is in.
    std::uint64_t progress() const noexcept {
        return switches_.load(std::memory_order_relaxed) + turns_.load(std::memory_order_relaxed);
    }
    void note_blocking_call(const char* name) noexcept {
        blocking_call_.store(name, std::memory_order_relaxed);
    }
    // From the watchdog thread: "id (name)" of the running task into `out`, and
    // the call it is in; false when no task runs. Racy by nature: the caller
    // re-reads progress() to discard a description that changed under it.
    bool describe_running(char* out, std::size_t size, const char*& call) const noexcept;

    // Stack-overflow diagnosis from the SIGSEGV handler (async-signal-safe).
    bool guard_hit(const void* addr) const noexcept;

  private:
    [[noreturn]] static void task_entry(boost::context::detail::transfer_t t) noexcept;
    [[noreturn]] void exit_running() noexcept;
    [[gnu::always_inline]] inline void switch_to(TaskControlBlock* next) noexcept;
    [[gnu::always_inline]] inline void after_switch() noexcept;
    [[gnu::always_inline]] inline TaskControlBlock* pick_next() noexcept;
    void housekeeping(bool may_block);
    void fire_timers() noexcept;
    void spin_for_remote(Duration timeout) noexcept;
    void drain_remote() noexcept;
    void push_remote(TaskControlBlock* tcb) noexcept;
    void cancel_leftovers() noexcept;
    void write_dump() noexcept;
    void link(TaskControlBlock* tcb) noexcept;
    void unlink(TaskControlBlock* tcb) noexcept;

    static thread_local Scheduler* current_;

    Scheduler* previous_;
    std::unique_ptr<Backend> backend_;
    StackPool* stacks_;  // owned; orphaned (not deleted) at destruction
    TimerHeap timers_;
    Context loop_ctx_;
    std::atomic<TaskControlBlock*> running_{nullptr};  // relaxed: read by the watchdog
    TaskControlBlock* ended_ = nullptr;
    TaskControlBlock* main_ = nullptr;  // run()'s main task while the loop runs  // a task that
                                        // just ended, freed off its stack

    TaskControlBlock* ready_head_ = nullptr;
    TaskControlBlock* ready_tail_ = nullptr;
    std::size_t ready_count_ = 0;
    std::size_t turn_budget_ = 0;  // tasks to run before the next housekeeping turn

    TaskControlBlock* all_head_ = nullptr;  // every live task
    std::size_t live_ = 0;

    std::vector<std::function<void()>> exit_hooks_;
    std::atomic<TaskControlBlock*> remote_{nullptr};
    std::atomic<int> pushers_{0};  // threads inside push_remote()
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> dump_requested_{false};

    void* alt_stack_ = nullptr;
    StackMemory reserved_;                    // between reserve_task() and start()
    static constexpr TaskId id_block = 1024;  // ids taken from the process counter at a time
    TaskId next_id_ = 0;
    TaskId id_block_end_ = 0;
    unsigned stack_colour_ = 0;

    // statistics
    std::uint64_t spawned_ = 0;
    // Relaxed atomics written only here (a plain load and store: no cost over
    // an integer) so that the watchdog thread may read them.
    std::atomic<std::uint64_t> switches_{0};
    std::atomic<std::uint64_t> turns_{0};
    std::atomic<const char*> blocking_call_{nullptr};
    bool watched_ = false;  // registered with the watchdog
    std::uint64_t polls_ = 0;
    std::uint64_t remote_wakeups_ = 0;
};

}  // namespace ringlet::detail
