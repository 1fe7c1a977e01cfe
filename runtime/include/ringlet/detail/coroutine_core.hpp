// ringlet/detail/coroutine_core.hpp — a body on its own stack, resumed and
// suspended symmetrically by its caller (the engine under Generator).
//
// Unlike a task it is not scheduled: resume() runs the body on the caller's
// thread until the body calls suspend() or returns. The core object itself
// lives at the top of its own stack.
#pragma once

#include <cstddef>
#include <exception>

#include <ringlet/detail/task_base.hpp>

namespace ringlet::detail {

// Thrown at the suspension point of a body being closed. Not a
// std::exception; a body must let it pass.
struct CoroutineUnwind {};

class CoroutineCore {
public:
    CoroutineCore(const CoroutineCore&) = delete;
    CoroutineCore& operator=(const CoroutineCore&) = delete;

    // Maps a guarded stack of `stack_size` usable bytes and returns storage for
    // an object of `size` bytes at its top; `stack` receives the mapping.
    // Throws: IoError.
    static void* allocate(std::size_t size, std::size_t align, std::size_t stack_size,
                          StackMemory& stack);
    static void deallocate(StackMemory stack) noexcept;
    // Destroys `core` (which lives on its own stack) and unmaps that stack.
    // Closes a suspended body first.
    static void destroy(CoroutineCore* core) noexcept;

    // Runs the body until it suspends or ends. Rethrows the body's exception.
    // Throws: UsageError if the body has ended or resume() is re-entered.
    void resume();
    // From inside the body: returns control to resume()'s caller.
    // Throws: CoroutineUnwind when the coroutine is being closed.
    void suspend();
    bool finished() const noexcept { return finished_; }
    bool started() const noexcept { return started_; }
    // Unwinds a suspended body (its destructors run). No-op otherwise.
    void close() noexcept;

protected:
    explicit CoroutineCore(StackMemory stack) noexcept;
    virtual ~CoroutineCore();
    virtual void body() = 0;

private:
    struct CallerContext : Context {
        CoroutineCore* owner = nullptr;
    };
    friend struct CoroutineEntry;

    StackMemory stack_;
    Context self_;
    CallerContext caller_;
    std::exception_ptr error_;
    bool started_ = false;
    bool running_ = false;
    bool finished_ = false;
    bool unwinding_ = false;
};

}  // namespace ringlet::detail
