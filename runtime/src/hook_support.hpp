// hook_support.hpp — the runtime's side of ringlet-hooks (libc interposition).
//
// The hooks library (hooks/) replaces libc's blocking calls, but it does not
// link the runtime: a program links ringlet statically or shared, and the
// hooks must use that one copy. So the runtime hands the hooks a table of
// entry points: each new Scheduler looks up `ringlet_hooks_attach` with
// dlsym(RTLD_DEFAULT) (found in libringlet-hooks.so or an LD_PRELOAD'ed
// libringlet_preload.so) and calls it once per process. Nothing in the table
// throws: a Cancelled or TimeoutError is turned into an Interrupt here, so no
// exception ever unwinds through the C library frames above a hooked call.
#pragma once

#include <cstdint>

#include <ringlet/detail/task_base.hpp>
#include <ringlet/time.hpp>

#include "io_request.hpp"

namespace ringlet::detail {

// Why a hooked wait ended early.
enum class Interrupt : int {
    none,
    cancelled,  // the task was cancelled; the cancel stays pending (see below)
    timed_out,  // the deadline of an enclosing Timeout scope passed
};

struct HookRuntime {
    static constexpr std::uint32_t current_version = 1;
    std::uint32_t version = current_version;
    std::uint32_t size = sizeof(HookRuntime);

    // The task running on this thread, or null: a plain thread, the scheduler
    // loop, or a forked child still holding its parent's scheduler.
    TaskControlBlock* (*running_task)() noexcept;
    // perform_io(r, deadline). On Cancelled: *why = cancelled, the cancel is
    // re-armed (the task's next ringlet suspension point throws Cancelled) and
    // the result is -EINTR. On TimeoutError: *why = timed_out, -ETIMEDOUT (the
    // scope stays expired, so its next suspension point throws again). Any
    // other failure of the backend comes back as -errno (-EBUSY for a second
    // waiter on one fd where the backend allows one).
    long (*perform)(IoRequest& r, TimePoint deadline, Interrupt* why) noexcept;
    // Suspends the running task until `deadline`; interrupts as perform().
    Interrupt (*sleep_until)(TimePoint deadline) noexcept;
    // Runs fn(arg) on the blocking pool while the task waits. When it returns,
    // fn has run to its end, or (a cancel or Timeout already pending, then
    // reported) never started; interrupts as perform().
    Interrupt (*run_blocking)(void (*fn)(void*), void* arg) noexcept;
    // detail::forget_fd: wakes this thread's waiters on fd (EBADF).
    void (*forget_fd)(int fd) noexcept;
    // For Options::blocked_warning: the blocking call the running task is in
    // now (a string literal), or null when it left it.
    void (*note_call)(const char* name) noexcept;
    // Re-arms a cancel on the running task (delivered at its next suspension point).
    void (*repost_cancel)() noexcept;
};

// Hands the table to the hooks library if one is loaded (once per process).
void attach_hooks() noexcept;

}  // namespace ringlet::detail

// The hooks library defines `extern "C" void ringlet_hooks_attach(const
// ringlet::detail::HookRuntime*)`; the runtime finds it at run time.
