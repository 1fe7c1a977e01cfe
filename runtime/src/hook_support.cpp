// hook_support.cpp — the table of runtime entry points handed to ringlet-hooks.
#include "hook_support.hpp"

#include <cerrno>
#include <dlfcn.h>
#include <mutex>
#include <system_error>

#include <ringlet/blocking.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/time.hpp>

#include "scheduler.hpp"

namespace ringlet::detail {

namespace {

// A forked child keeps a copy of its parent's scheduler (and of its ring) until
// it starts one of its own: hooked calls there must be the plain libc calls.
Scheduler* inherited_scheduler = nullptr;

TaskControlBlock* running_task() noexcept {
    Scheduler* s = Scheduler::current();
    if (s == nullptr || s == inherited_scheduler) return nullptr;
    return s->running();
}

void repost_cancel() noexcept {
    if (TaskControlBlock* t = running_task()) {
        t->cancel_requested.store(true, std::memory_order_relaxed);
    }
}

// Runs f() and turns the runtime's interrupts into an Interrupt: a C caller
// is above us, and an exception must never unwind through its frames.
template <class F>
Interrupt catching(F&& f) noexcept {
    try {
        f();
        return Interrupt::none;
    } catch (const Cancelled&) {
        repost_cancel();
        return Interrupt::cancelled;
    } catch (const TimeoutError&) {
        return Interrupt::timed_out;
    } catch (...) {
        // IoError from the backend (an SQ that cannot be flushed): the nearest
        // thing a C caller understands is an interrupted call.
        return Interrupt::cancelled;
    }
}

long perform(IoRequest& r, TimePoint deadline, Interrupt* why) noexcept {
    *why = Interrupt::none;
    try {
        return perform_io(r, deadline);
    } catch (const Cancelled&) {
        repost_cancel();
        *why = Interrupt::cancelled;
        return -EINTR;
    } catch (const TimeoutError&) {
        *why = Interrupt::timed_out;
        return -ETIMEDOUT;
    } catch (const std::system_error& e) {
        return -e.code().value();  // IoError from the backend (epoll_ctl, a full SQ)
    } catch (...) {
        // UsageError: two tasks waiting on one fd in the epoll backend.
        return -EBUSY;
    }
}

Interrupt sleep_until(TimePoint deadline) noexcept {
    return catching([&] {
        const TimePoint now = Clock::now();
        ringlet::sleep(deadline > now ? deadline - now : Duration::zero());
    });
}

class CallJob final : public BlockingJob {
  public:
    CallJob(void (*fn)(void*), void* arg) : fn_(fn), arg_(arg) {}
    void run() noexcept override { fn_(arg_); }

  private:
    void (*fn_)(void*);
    void* arg_;
};

Interrupt run_blocking_call(void (*fn)(void*), void* arg) noexcept {
    CallJob job(fn, arg);
    return catching([&] { run_blocking(job); });
}

void note_call(const char* name) noexcept {
    if (Scheduler* s = Scheduler::current()) s->note_blocking_call(name);
}

const HookRuntime table{
    .running_task = running_task,
    .perform = perform,
    .sleep_until = sleep_until,
    .run_blocking = run_blocking_call,
    .forget_fd = forget_fd,
    .note_call = note_call,
    .repost_cancel = repost_cancel,
};

}  // namespace

void attach_hooks() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        ::pthread_atfork(nullptr, nullptr, [] { inherited_scheduler = Scheduler::current(); });
        void* sym = ::dlsym(RTLD_DEFAULT, "ringlet_hooks_attach");
        if (sym != nullptr) {
            reinterpret_cast<void (*)(const HookRuntime*)>(sym)(&table);
        }
    });
}

}  // namespace ringlet::detail
