#include "scheduler.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <sched.h>
#include <signal.h>
#include <sstream>
#include <string>
#include <unistd.h>

#include <sys/mman.h>

#include <ringlet/detail/cpu_relax.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/task_local.hpp>

#include "check.hpp"
#include "context_switch.hpp"
#include "describe_exception.hpp"
#include "dump_signal.hpp"
#include "hook_support.hpp"
#include "park.hpp"
#include "watchdog.hpp"

#ifdef RINGLET_ASAN
#include <pthread.h>
extern "C" void __lsan_register_root_region(const void* p, std::size_t size);
#endif

namespace ringlet::detail {

thread_local Scheduler* Scheduler::current_ = nullptr;

namespace {

constexpr std::size_t alt_stack_size = 64 * 1024;
constexpr std::size_t min_turn = 16;
constexpr Duration idle_spin = std::chrono::microseconds(30);  // see spin_for_remote()
constexpr std::size_t min_stack_below_block = 16 * 1024;

// Process-wide, set once: the SIGSEGV/SIGBUS actions we chain to.
struct sigaction previous_segv;
struct sigaction previous_bus;

void write_all_stderr(const char* s, std::size_t n) noexcept {
    while (n > 0) {
        ssize_t w = ::write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= static_cast<std::size_t>(w);
    }
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
    Scheduler* s = Scheduler::current();
    if (s != nullptr && s->guard_hit(info->si_addr)) {
        // Async-signal-safe formatting only.
        TaskControlBlock* t = s->running();
        char buf[160];
        char digits[24];
        int nd = 0;
        for (TaskId id = t->id; id > 0 || nd == 0; id /= 10) digits[nd++] = char('0' + id % 10);
        std::size_t len = 0;
        auto put = [&](const char* text, std::size_t n) {
            for (std::size_t i = 0; i < n && len < sizeof buf; ++i) buf[len++] = text[i];
        };
        put("ringlet: stack overflow in task ", 32);
        while (nd > 0 && len < sizeof buf) buf[len++] = digits[--nd];
        put(" (", 2);
        put(t->name, ::strnlen(t->name, sizeof t->name));
        put("): raise SpawnOptions::stack_size\n", 34);
        write_all_stderr(buf, len);
        ::signal(SIGABRT, SIG_DFL);
        ::abort();
    }
    const struct sigaction& prev = sig == SIGSEGV ? previous_segv : previous_bus;
    if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
        prev.sa_sigaction(sig, info, uctx);
        return;
    }
    if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
        prev.sa_handler(sig);
        return;
    }
    // Not a guard page: restore the default action; the faulting instruction
    // re-executes and the process dies with the original signal (and core).
    ::signal(sig, SIG_DFL);
    // A signal sent by kill()/raise() has no instruction to re-execute: send
    // it again (delivered, with the default action, once we return).
    if (info->si_code <= 0) ::raise(sig);
}

void install_fault_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGSEGV, &sa, &previous_segv);
        ::sigaction(SIGBUS, &sa, &previous_bus);
    });
}

void report_unobserved_failure(const TaskControlBlock* t) noexcept {
    // gevent prints a failed greenlet nobody joined; so do we.
    const std::string what = describe_exception(t->error);
    std::fprintf(stderr, "ringlet: task %llu (%s) failed and was never joined: %s\n",
                 static_cast<unsigned long long>(t->id), t->name[0] ? t->name : "unnamed",
                 what.c_str());
}

}  // namespace

Scheduler::Scheduler(const Options& options)
    : previous_(current_), backend_(make_backend(options.backend, options.ring_entries)) {
    list_scheduler(this, options.dump_signal);     // first: it may throw UsageError
    stacks_ = new StackPool(options.warm_stacks);  // deletes itself after orphan()
    init_thread_context(loop_ctx_);
    install_fault_handler();
    // The overflow handler cannot run on the stack that overflowed.
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) != 0) {
        void* mem = ::mmap(nullptr, alt_stack_size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem != MAP_FAILED) {
            stack_t ss{};
            ss.ss_sp = mem;
            ss.ss_size = alt_stack_size;
            if (::sigaltstack(&ss, nullptr) == 0) {
                alt_stack_ = mem;
            } else {
                ::munmap(mem, alt_stack_size);
            }
        }
    }
    current_ = this;
    attach_hooks();
    if (options.blocked_warning > Duration::zero()) {
        watched_ = true;
        watch_scheduler(this, options.blocked_warning);
    }
}

Scheduler::~Scheduler() {
    unlist_scheduler(this);
    if (watched_) unwatch_scheduler(this);
    // A thread that pushed a wake-up may still be finishing push_remote().
    while (pushers_.load(std::memory_order_acquire) != 0) ::sched_yield();
    current_ = previous_;
    if (alt_stack_ != nullptr) {
        stack_t ss{};
        ss.ss_flags = SS_DISABLE;
        ::sigaltstack(&ss, nullptr);
        ::munmap(alt_stack_, alt_stack_size);
    }
    // Tasks that never ended (the loop died by an exception) keep their stacks:
    // leaking them is the only safe choice.
    if (live_ == 0) {
        stacks_->orphan();
        // Handles dropped on other threads up to orphan() were queued to us.
        drain_remote();
    }
}

void* Scheduler::reserve_task(std::size_t size, std::size_t align, std::size_t stack_size) {
    stack_size = std::max(stack_size, size + min_stack_below_block);
    reserved_ = stacks_->allocate(stack_size);
#ifdef RINGLET_ASAN
    // An ended task never returned from its last frames, so their redzones are
    // still poisoned on this (reused) stack.
    __asan_unpoison_memory_region(static_cast<char*>(reserved_.base) + StackPool::guard_size(),
                                  reserved_.size - StackPool::guard_size());
#endif
    // Stagger where stacks start: stacks a multiple of 4 KiB apart make the
    // registers one task saves and the next restores alias in the CPU's
    // store-to-load forwarding (4K aliasing), which slows every switch.
    // Steps of 128 bytes (at most 1.75 KiB) keep a sleeping task within one page.
    stack_colour_ = (stack_colour_ + 1) % 15;
    char* top = static_cast<char*>(reserved_.base) + reserved_.size - stack_colour_ * 128;
    auto addr = reinterpret_cast<std::uintptr_t>(top - size);
    addr &= ~(std::uintptr_t{std::max<std::size_t>(align, 64)} - 1);
    return reinterpret_cast<void*>(addr);
}

void Scheduler::abandon_reserved() noexcept { stacks_->release(std::exchange(reserved_, {})); }

void Scheduler::start(TaskControlBlock* tcb, std::string_view name) noexcept {
    tcb->stack = std::exchange(reserved_, {});
    static std::atomic<TaskId> next_block{1};  // ids unique per process
    if (next_id_ == id_block_end_) {
        next_id_ = next_block.fetch_add(id_block, std::memory_order_relaxed);
        id_block_end_ = next_id_ + id_block;
    }
    tcb->scheduler = this;
    tcb->pool = stacks_;
    tcb->id = next_id_++;
    // A string_view need not be NUL-terminated: copy its bytes, not a C string.
    const std::size_t n = std::min(name.size(), sizeof tcb->name - 1);
    if (n > 0) std::memcpy(tcb->name, name.data(), n);
    tcb->name[n] = '\0';
    const std::size_t guard = StackPool::guard_size();
    char* bottom = static_cast<char*>(tcb->stack.base) + guard;
    // The control block sits at the very top; the stack grows down below it.
    auto top = reinterpret_cast<std::uintptr_t>(tcb) & ~std::uintptr_t{63};
    char* sp = reinterpret_cast<char*>(top);
    tcb->ctx.stack_bottom = bottom;
    tcb->ctx.stack_size = static_cast<std::size_t>(sp - bottom);
    tcb->ctx.fctx = fctx::make_fcontext(sp, tcb->ctx.stack_size, &Scheduler::task_entry);
    create_fiber(tcb->ctx);
    link(tcb);
    ++spawned_;
    make_ready(tcb);
}

void Scheduler::link(TaskControlBlock* tcb) noexcept {
    tcb->all_prev = nullptr;
    tcb->all_next = all_head_;
    if (all_head_) all_head_->all_prev = tcb;
    all_head_ = tcb;
    ++live_;
}

void Scheduler::unlink(TaskControlBlock* tcb) noexcept {
    (tcb->all_prev ? tcb->all_prev->all_next : all_head_) = tcb->all_next;
    if (tcb->all_next) tcb->all_next->all_prev = tcb->all_prev;
    tcb->all_prev = tcb->all_next = nullptr;
    --live_;
}

void Scheduler::free_task(TaskControlBlock* tcb) noexcept {
    if (tcb->outcome == TaskOutcome::failed && !tcb->error_observed) report_unobserved_failure(tcb);
    StackMemory stack = tcb->stack;
    StackPool* pool = tcb->pool;
    destroy_fiber(tcb->ctx);
    tcb->destroy();
    pool->release(stack);
}

inline void Scheduler::make_ready(TaskControlBlock* tcb) noexcept {
    tcb->state = TaskState::ready;
    tcb->run_next = nullptr;
    (ready_tail_ ? ready_tail_->run_next : ready_head_) = tcb;
    ready_tail_ = tcb;
    ++ready_count_;
}

void Scheduler::wake(TaskControlBlock* tcb) noexcept {
    Scheduler* owner = tcb->scheduler;
    if (owner == current_) {
        owner->make_ready(tcb);
    } else {
        owner->push_remote(tcb);
    }
}

void Scheduler::push_remote(TaskControlBlock* tcb) noexcept {
    // Once the task is on our list, its scheduler may run it to its end and
    // be destroyed while we still look at sleeping_: ~Scheduler waits for
    // pushers in flight. (It is alive now: the task we wake lives on it.)
    pushers_.fetch_add(1, std::memory_order_acquire);
    TaskControlBlock* head = remote_.load(std::memory_order_relaxed);
    do {
        tcb->remote_next = head;
    } while (!remote_.compare_exchange_weak(head, tcb, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
    // Dekker with housekeeping(true), all seq_cst: either the sleeper sees our
    // push, or we see it sleeping and kick the backend.
    if (sleeping_.load(std::memory_order_seq_cst)) backend_->wake();
    pushers_.fetch_sub(1, std::memory_order_release);  // our last touch
}

void Scheduler::drain_remote() noexcept {
    TaskControlBlock* list = remote_.exchange(nullptr, std::memory_order_acquire);
    TaskControlBlock* reversed = nullptr;  // pushes came LIFO; wake in FIFO order
    while (list) {
        TaskControlBlock* next = list->remote_next;
        list->remote_next = reversed;
        reversed = list;
        list = next;
    }
    while (reversed) {
        TaskControlBlock* next = reversed->remote_next;
        reversed->remote_next = nullptr;
        if (reversed->state == TaskState::done) {
            free_task(reversed);  // its last handle was dropped on another thread
        } else {
            ++remote_wakeups_;
            make_ready(reversed);
        }
        reversed = next;
    }
}

void Scheduler::fire_timers() noexcept {
    if (timers_.empty()) return;
    const TimePoint now = Clock::now();
    while (!timers_.empty() && timers_.top()->deadline <= now) {
        TimerEntry* e = timers_.top();
        timers_.remove(*e);
        if (try_claim(e->task, e->parked_value, WakeReason::timeout)) make_ready(e->task);
    }
}

void Scheduler::housekeeping(bool may_block) {
    turns_.store(turns_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (may_block) {
        Duration timeout = forever;
        if (!timers_.empty()) {
            const auto left = timers_.top()->deadline - Clock::now();
            timeout = left > Duration::zero() ? std::chrono::duration_cast<Duration>(left)
                                              : Duration::zero();
        }
        if (timeout != Duration::zero()) {
            stacks_->trim();  // idle: a good time to give pages back
            spin_for_remote(timeout);
        }
        sleeping_.store(true, std::memory_order_seq_cst);
        if (remote_.load(std::memory_order_seq_cst) != nullptr ||
            dump_requested_.load(std::memory_order_seq_cst)) {
            timeout = Duration::zero();
        }
        ++polls_;
        backend_->poll(timeout);
        sleeping_.store(false, std::memory_order_relaxed);
    } else if (backend_->has_pending()) {
        backend_->poll(Duration::zero());
    }
    if (remote_.load(std::memory_order_relaxed) != nullptr) drain_remote();
    if (!timers_.empty()) fire_timers();
    if (dump_requested_.load(std::memory_order_relaxed)) [[unlikely]]
        write_dump();
}

void Scheduler::request_dump() noexcept {
    // Dekker with housekeeping(true), like push_remote().
    dump_requested_.store(true, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst)) backend_->wake();
}

void Scheduler::write_dump() noexcept {
    dump_requested_.store(false, std::memory_order_relaxed);
    try {
        std::ostringstream out;
        char name[32] = "?";
        ::pthread_getname_np(::pthread_self(), name, sizeof name);
        out << "ringlet: tasks of thread " << ::gettid() << " (" << name << "), "
            << backend_->name() << ", " << live_ << " live\n";
        dump_tasks(out);
        const std::string text = out.str();
        // One write: the dumps of several threads do not interleave their lines.
        for (std::size_t done = 0; done < text.size();) {
            const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
    } catch (...) {
        // Out of memory while dumping: skip this dump rather than end the loop.
    }
}

void Scheduler::spin_for_remote(Duration timeout) noexcept {
    // With no IO in flight only another thread can make a task ready. Sleeping
    // in the kernel and being woken costs 25-60 us on a VM; watching the
    // wake-up queue for a few microseconds costs far less, and while we spin
    // (sleeping_ is false) the waker skips its system call too. With IO in
    // flight we do not spin: a completion would wait for the spin to end.
    if (backend_->has_pending() || remote_.load(std::memory_order_relaxed) != nullptr) return;
    const TimePoint end = Clock::now() + std::min<Duration>(timeout, idle_spin);
    do {
        for (int i = 0; i < 32; ++i) cpu_relax();
    } while (remote_.load(std::memory_order_relaxed) == nullptr && Clock::now() < end);
}

inline TaskControlBlock* Scheduler::pick_next() noexcept {
    if (turn_budget_ == 0 || ready_head_ == nullptr) [[unlikely]] {
        housekeeping(false);
        // At least min_turn switches between turns: amortises the turn (and the
        // io_uring_enter it makes while IO is in flight) when few tasks are ready.
        turn_budget_ = std::max(ready_count_, min_turn);
        if (ready_head_ == nullptr) return nullptr;
    }
    --turn_budget_;
    TaskControlBlock* t = ready_head_;
    ready_head_ = t->run_next;
    if (ready_head_ == nullptr) ready_tail_ = nullptr;
    --ready_count_;
    return t;
}

inline void Scheduler::switch_to(TaskControlBlock* next) noexcept {
    TaskControlBlock* self = running_.load(std::memory_order_relaxed);
    running_.store(next, std::memory_order_relaxed);
    if (next) next->state = TaskState::running;
    switches_.store(switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    switch_context(self ? self->ctx : loop_ctx_, next ? next->ctx : loop_ctx_);
    after_switch();
}

inline void Scheduler::after_switch() noexcept {
    if (ended_ != nullptr) release_task(std::exchange(ended_, nullptr));
}

void Scheduler::suspend() noexcept {
    TaskControlBlock* self = running();
    self->state = TaskState::waiting;
    TaskControlBlock* next = pick_next();
    if (next == self) {
        self->state = TaskState::running;
        return;
    }
    switch_to(next);
}

void Scheduler::yield_running() noexcept {
    TaskControlBlock* self = running();
    TaskControlBlock* next = pick_next();
    if (next == nullptr) return;  // nothing else is ready: keep running
    make_ready(self);
    switch_to(next);
}

void Scheduler::task_entry(fctx::transfer_t t) noexcept {
    Scheduler* s = current_;
    finish_switch(t, nullptr);
    s->after_switch();
    TaskControlBlock* tcb = s->running();
    if (tcb->cancel_requested.load(std::memory_order_relaxed) &&
        tcb->cancel_requested.exchange(false)) {
        tcb->outcome = TaskOutcome::cancelled;  // cancelled before it first ran: never runs
    } else {
        try {
            tcb->invoke();
            tcb->outcome = TaskOutcome::value;
        } catch (const Cancelled&) {
            tcb->outcome = TaskOutcome::cancelled;
        } catch (...) {
            tcb->outcome = TaskOutcome::failed;
            tcb->error = std::current_exception();
        }
    }
    // Captured state and task-locals die when the task ends, not when its
    // last handle does.
    tcb->drop_callable();
    destroy_local_slots(tcb->locals);
    s->exit_running();
}

void Scheduler::exit_running() noexcept {
    TaskControlBlock* self = running();
    self->join_lock.lock();
    self->state = TaskState::done;
    self->public_state.store(TaskState::done, std::memory_order_release);
    while (Waiter* w = self->joiners.front()) grant(self->joiners, *w, WaitStatus::granted);
    self->join_lock.unlock();
    unlink(self);
    ended_ = self;  // released by whoever runs next, once we are off this stack
    // When main ends, go to the loop even if tasks are ready: it must cancel the
    // leftovers now, or tasks that never block would keep run() alive forever.
    TaskControlBlock* next = self == main_ ? nullptr : pick_next();
    running_.store(next, std::memory_order_relaxed);
    if (next) next->state = TaskState::running;
    switches_.store(switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    switch_context(self->ctx, next ? next->ctx : loop_ctx_, /*from_ends=*/true);
    RINGLET_CHECK(!"an ended task was resumed");
    __builtin_unreachable();
}

void Scheduler::cancel_leftovers() noexcept {
    for (TaskControlBlock* t = all_head_; t; t = t->all_next) {
        if (!t->cancel_requested.load(std::memory_order_relaxed)) cancel_task(t);
    }
}

void Scheduler::run_until_done(TaskControlBlock* main) {
    main_ = main;
    bool leftovers_cancelled = false;
    for (;;) {
        if (!leftovers_cancelled &&
            main->public_state.load(std::memory_order_relaxed) == TaskState::done) {
            leftovers_cancelled = true;
            cancel_leftovers();
        }
        if (TaskControlBlock* next = pick_next()) {
            switch_to(next);
            continue;
        }
        if (main->public_state.load(std::memory_order_relaxed) == TaskState::done) {
            if (live_ == 0) break;
            cancel_leftovers();
            if (ready_head_ != nullptr) continue;
        }
        housekeeping(true);
    }
    main_ = nullptr;
    drain_remote();  // handles released from other threads
}

void Scheduler::run_exit_hooks() noexcept {
    // Hooks may add hooks (a child joined at exit has nothing to do with us,
    // but be safe): take them one at a time.
    for (std::size_t i = 0; i < exit_hooks_.size(); ++i) {
        std::function<void()> hook = std::move(exit_hooks_[i]);
        try {
            hook();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ringlet: an exit hook of run() failed: %s\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "ringlet: an exit hook of run() failed\n");
        }
    }
    exit_hooks_.clear();
}

void Scheduler::abandon_after_fork() noexcept {
    Scheduler* s = current_;
    if (s == nullptr) return;
    s->backend_->abandon_after_fork();
    s->exit_hooks_.clear();
    // Leaked on purpose, but kept reachable: a child that ends with exit()
    // must not make a leak checker report the parent's scheduler.
    [[maybe_unused]] static Scheduler* volatile abandoned = nullptr;
    abandoned = s;
    s->stacks_->register_leak_roots();
#ifdef RINGLET_ASAN
    // Forked from a task, the child runs on that task's stack, so a leak
    // checker no longer scans the thread's own stack, where the frames below
    // run() (main's locals, say) still point to live objects.
    pthread_attr_t attr;
    if (::pthread_getattr_np(::pthread_self(), &attr) == 0) {
        void* addr = nullptr;
        std::size_t size = 0;
        if (::pthread_attr_getstack(&attr, &addr, &size) == 0) {
            __lsan_register_root_region(addr, size);
        }
        ::pthread_attr_destroy(&attr);
    }
#endif
    current_ = nullptr;
}

bool Scheduler::describe_running(char* out, std::size_t size, const char*& call) const noexcept {
    const TaskControlBlock* t = running();
    if (t == nullptr) return false;
    char name[sizeof t->name];
    std::memcpy(name, t->name, sizeof name);
    name[sizeof name - 1] = '\0';
    std::snprintf(out, size, "%llu (%s)", static_cast<unsigned long long>(t->id),
                  name[0] ? name : "unnamed");
    call = blocking_call_.load(std::memory_order_relaxed);
    return true;
}

bool Scheduler::guard_hit(const void* addr) const noexcept {
    const TaskControlBlock* t = running();
    if (t == nullptr) return false;
    auto* base = static_cast<const char*>(t->stack.base);
    auto* p = static_cast<const char*>(addr);
    return p >= base && p < base + StackPool::guard_size();
}

Stats Scheduler::stats() const {
    Stats s;
    s.backend = backend_->name();
    s.ring_flags = backend_->flags();
    s.guard_pages_by_madvise = stacks_->guard_by_madvise();
    s.tasks_spawned = spawned_;
    s.tasks_live = live_;
    s.context_switches = switches_.load(std::memory_order_relaxed);
    s.polls = polls_;
    s.remote_wakeups = remote_wakeups_;
    s.timers = timers_.size();
    s.stacks_in_use = stacks_->outstanding();
    s.stacks_free = stacks_->free_count();
    s.stack_bytes_mapped = stacks_->mapped_bytes();
    return s;
}

void Scheduler::dump_tasks(std::ostream& out) const {
    static constexpr const char* names[] = {"ready", "running", "waiting", "done"};
    const TimePoint now = Clock::now();
    for (const TaskControlBlock* t = all_head_; t; t = t->all_next) {
        out << t->id << ' ' << (t->name[0] ? t->name : "-") << ' '
            << names[static_cast<int>(t->state)];
        if (t->state == TaskState::waiting && t->waiting_on) {
            out << " on " << t->waiting_on;
            if (t->waiting_object) out << ' ' << t->waiting_object;
            if (t->waiting_fd >= 0) out << " fd " << t->waiting_fd;
            if (const Holder* h = t->waiting_holder; h && h->held()) {
                const std::uint64_t task = h->task.load(std::memory_order_relaxed);
                out << ", held by ";
                if (task != 0) out << "task " << task << " on ";
                out << "thread " << h->thread.load(std::memory_order_relaxed);
            }
            if (t->waiting_deadline != TimePoint::max()) {
                const auto left = std::chrono::duration<double>(t->waiting_deadline - now).count();
                char text[48];
                std::snprintf(text, sizeof text, ", deadline in %.3f s", left);
                out << text;
            }
        }
        out << '\n';
    }
}

}  // namespace ringlet::detail
