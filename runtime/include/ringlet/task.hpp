// ringlet/task.hpp — tasks: spawn, join, cancel, yield.
//
// A task is a stackful coroutine with its own pooled stack, run by the
// scheduler of the thread that spawned it; it never migrates. spawn() only
// makes the task ready: it first runs when the spawner reaches a suspension
// point (gevent's rule). Suspension points — sleep, yield, join, every wait on
// a primitive or channel, every IO call — are the only places other tasks run
// and where Cancelled and TimeoutError are delivered.
//
// Arguments are forwarded by value into the new task (decay-copied, moved when
// given rvalues); pass std::ref to share a caller's object, and then keep it
// alive until the task is done.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <ranges>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <ringlet/detail/task_base.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

inline constexpr std::size_t default_stack_size = 256 * 1024;
// The smallest SpawnOptions::stack_size spawn() accepts: below it even the
// runtime's own frames (a context switch, an IO wait) may not fit.
inline constexpr std::size_t min_stack_size = 16 * 1024;

struct SpawnOptions {
    std::string_view name = {};  // shown by dump_tasks; truncated to 31 bytes
    // Usable bytes, rounded up to pages; at least min_stack_size (spawn()
    // throws UsageError below it).
    std::size_t stack_size = default_stack_size;
};

namespace detail {

// Control block plus the storage for a task's value.
template <class R>
class TaskResult : public TaskControlBlock {
public:
    struct Empty {};
    using Value = std::conditional_t<std::is_void_v<R>, Empty, R>;

    Value& value() noexcept { return value_; }

protected:
    TaskResult() noexcept {}
    ~TaskResult() {
        if (has_value_) value_.~Value();
    }
    template <class... V>
    void emplace(V&&... v) {
        ::new (static_cast<void*>(&value_)) Value(std::forward<V>(v)...);
        has_value_ = true;
    }

private:
    union {
        Value value_;
    };
    bool has_value_ = false;
};

template <class R, class Fn, class... Args>
class TaskImpl final : public TaskResult<R> {
public:
    template <class F2, class... A2>
    explicit TaskImpl(F2&& f, A2&&... args)
        : call_(std::in_place, std::forward<F2>(f), std::forward<A2>(args)...) {}

    void invoke() override {
        auto call = [](auto&& f, auto&&... a) -> decltype(auto) {
            return std::invoke(std::forward<decltype(f)>(f), std::forward<decltype(a)>(a)...);
        };
        if constexpr (std::is_void_v<R>) {
            std::apply(call, std::move(*call_));
            this->emplace();
        } else {
            this->emplace(std::apply(call, std::move(*call_)));
        }
    }
    void drop_callable() noexcept override { call_.reset(); }
    void destroy() noexcept override { this->~TaskImpl(); }

private:
    std::optional<std::tuple<Fn, Args...>> call_;  // destroyed as soon as the task ends
};

// Owning reference to a control block, the untyped core of Task<T>.
class TaskRef {
public:
    TaskRef() noexcept = default;
    explicit TaskRef(TaskControlBlock* tcb) noexcept : tcb_(tcb) {}
    TaskRef(TaskRef&& o) noexcept : tcb_(std::exchange(o.tcb_, nullptr)) {}
    TaskRef& operator=(TaskRef&& o) noexcept {
        if (this != &o) {
            reset();
            tcb_ = std::exchange(o.tcb_, nullptr);
        }
        return *this;
    }
    ~TaskRef() { reset(); }
    void reset() noexcept {
        if (tcb_) release_task(std::exchange(tcb_, nullptr));
    }
    TaskControlBlock* get() const noexcept { return tcb_; }
    TaskControlBlock& checked(const char* what) const;

private:
    TaskControlBlock* tcb_ = nullptr;
};

template <class F, class... A>
using SpawnResult = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;

}  // namespace detail

// Handle to a spawned task. Move-only; destroying it detaches the task (it
// keeps running; a failure is then reported on stderr). An empty (moved-from
// or default) handle throws UsageError from every member but valid().
template <class T>
class Task {
public:
    Task() noexcept = default;

    // Waits for the task, then returns its value or rethrows its exception
    // (Cancelled if it was cancelled, as asyncio does). For a move-only T the
    // value is moved out: a second get() throws UsageError.
    // Suspends. Throws: the task's exception, Cancelled, TimeoutError.
    T get() {
        auto& tcb = ref_.checked("get");
        join_task(&tcb, TimePoint::max());
        tcb.error_observed = true;
        if (tcb.outcome == detail::TaskOutcome::cancelled) throw Cancelled{};
        if (tcb.outcome == detail::TaskOutcome::failed) std::rethrow_exception(tcb.error);
        if constexpr (!std::is_void_v<T>) {
            auto& impl = static_cast<detail::TaskResult<T>&>(tcb);
            if constexpr (std::is_copy_constructible_v<T>) {
                return impl.value();
            } else {
                if (taken_) throw UsageError("Task::get: the move-only value was already taken");
                taken_ = true;
                return std::move(impl.value());
            }
        }
    }

    // Waits up to `timeout` for the task to end. True if it has ended (by
    // value, exception or cancel); never throws the task's error.
    // Suspends. Throws: UsageError (joining yourself), Cancelled, TimeoutError
    // (of the caller's own Timeout scope).
    bool join(Duration timeout = forever) {
        return join_task(&ref_.checked("join"), deadline_after(timeout));
    }

    // Requests cancellation: Cancelled is thrown inside the task at its
    // current or next suspension point. A task cancelled before it first runs
    // never runs. No effect on an ended task. Does not wait. Thread-safe.
    void cancel() { detail::cancel_task(&ref_.checked("cancel")); }

    bool done() const { return state() == detail::TaskState::done; }
    // True if the task ended by an exception other than Cancelled.
    bool failed() const { return outcome_seen() == detail::TaskOutcome::failed; }
    // True if the task ended by Cancelled.
    bool cancelled() const { return outcome_seen() == detail::TaskOutcome::cancelled; }
    // The exception that ended the task (null while running or on success).
    std::exception_ptr exception() const {
        auto& tcb = ref_.checked("exception");
        if (state() != detail::TaskState::done) return nullptr;
        tcb.error_observed = true;
        return tcb.error;
    }
    TaskId id() const { return ref_.checked("id").id; }
    std::string_view name() const { return ref_.checked("name").name; }
    bool valid() const noexcept { return ref_.get() != nullptr; }
    // Drops the handle; the task keeps running.
    void detach() noexcept { ref_.reset(); }

    detail::TaskControlBlock* control_block() const noexcept { return ref_.get(); }

private:
    template <class F, class... A>
    friend auto spawn(SpawnOptions, F&&, A&&...);

    explicit Task(detail::TaskControlBlock* tcb) noexcept : ref_(tcb) {}
    detail::TaskState state() const {
        return ref_.checked("done").public_state.load(std::memory_order_acquire);
    }
    detail::TaskOutcome outcome_seen() const {
        auto& tcb = ref_.checked("failed");
        if (state() != detail::TaskState::done) return detail::TaskOutcome::none;
        tcb.error_observed = true;
        return tcb.outcome;
    }

    detail::TaskRef ref_;
    bool taken_ = false;
};

// Spawns `f(args...)` as a new task on the calling thread's scheduler.
// Throws: UsageError outside ringlet::run / a ringlet::Thread or for a
// stack_size below min_stack_size; IoError if no stack can be mapped.
template <class F, class... A>
auto spawn(SpawnOptions options, F&& f, A&&... args) {
    using R = detail::SpawnResult<F, A...>;
    static_assert(!std::is_reference_v<R>, "ringlet::spawn: a task cannot return a reference");
    using Impl = detail::TaskImpl<R, std::decay_t<F>, std::decay_t<A>...>;
    void* storage = detail::allocate_task(sizeof(Impl), alignof(Impl), options.stack_size);
    Impl* impl;
    try {
        impl = ::new (storage) Impl(std::forward<F>(f), std::forward<A>(args)...);
    } catch (...) {
        detail::abandon_task(storage);
        throw;
    }
    detail::start_task(impl, options.name);
    Task<R> task(impl);
    return task;
}

template <class F, class... A>
    requires(!std::same_as<std::decay_t<F>, SpawnOptions>)
auto spawn(F&& f, A&&... args) {
    return spawn(SpawnOptions{}, std::forward<F>(f), std::forward<A>(args)...);
}

// Lets the other ready tasks run, then continues. From a plain thread it
// yields the CPU. Suspends. Throws: Cancelled, TimeoutError.
void yield();

// Id of the running task; 0 on a plain thread or in the scheduler itself.
TaskId current_task() noexcept;

// Waits for every task in `tasks` (any range of Task<T>) to end, with one
// deadline for all. True if all ended in time. Never throws the tasks' errors.
// Suspends. Throws: Cancelled, TimeoutError (caller's scope).
template <std::ranges::range Range>
    requires requires(std::ranges::range_reference_t<Range> t) { t.join(); }
bool joinall(Range&& tasks, Duration timeout = forever) {
    const TimePoint deadline = deadline_after(timeout);
    for (auto& t : tasks) {
        if (!t.valid()) continue;
        if (!detail::join_task(t.control_block(), deadline)) return false;
    }
    return true;
}

namespace detail {
template <class T>
inline constexpr bool is_duration_v = false;
template <class Rep, class Period>
inline constexpr bool is_duration_v<std::chrono::duration<Rep, Period>> = true;

template <class X>
void joinall_one(const X& x, TimePoint deadline, bool& ok) {
    if constexpr (!is_duration_v<std::remove_cvref_t<X>>) {
        if (ok && x.valid()) ok = join_task(x.control_block(), deadline);
    }
}
template <class X>
void joinall_deadline(const X& x, TimePoint& deadline) {
    if constexpr (is_duration_v<std::remove_cvref_t<X>>) deadline = deadline_after(x);
}
}  // namespace detail

// Variadic form: joinall(a, b, c) or joinall(a, b, c, 2s) (a timeout last).
template <class First, class... Rest>
    requires(!std::ranges::range<First>)
bool joinall(First& first, Rest&&... rest) {
    TimePoint deadline = TimePoint::max();
    (detail::joinall_deadline(rest, deadline), ...);
    bool ok = true;
    detail::joinall_one(first, deadline, ok);
    (detail::joinall_one(rest, deadline, ok), ...);
    return ok;
}

}  // namespace ringlet
