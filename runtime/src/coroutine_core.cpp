#include <ringlet/detail/coroutine_core.hpp>

#include <cerrno>
#include <cstdint>

#include <sys/mman.h>

#include <ringlet/errors.hpp>

#include "check.hpp"
#include "context_switch.hpp"
#include "stack_pool.hpp"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace ringlet::detail {

struct CoroutineEntry {
    [[noreturn]] static void entry(fctx::transfer_t t) noexcept {
        Context* prev = finish_switch(t, nullptr);
        CoroutineCore* core = static_cast<CoroutineCore::CallerContext*>(prev)->owner;
        try {
            core->body();
        } catch (const CoroutineUnwind&) {
            // closed: the body unwound as asked
        } catch (...) {
            core->error_ = std::current_exception();
        }
        core->finished_ = true;
        switch_context(core->self_, core->caller_, /*from_ends=*/true);
        RINGLET_CHECK(!"a finished coroutine was resumed");
        __builtin_unreachable();
    }
};

void* CoroutineCore::allocate(std::size_t size, std::size_t align, std::size_t stack_size,
                              StackMemory& stack) {
    const std::size_t page = StackPool::page_size();
    const std::size_t guard = StackPool::guard_size();
    const std::size_t bytes = (stack_size + size + page - 1) / page * page + guard;
    void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw_io_error(-errno, "mmap(coroutine stack)");
    if (::madvise(base, guard, MADV_GUARD_INSTALL) != 0 &&
        ::mprotect(base, guard, PROT_NONE) != 0) {
        const int err = errno;
        ::munmap(base, bytes);
        throw_io_error(-err, "mprotect(coroutine guard)");
    }
    stack = {base, bytes};
    auto top = reinterpret_cast<std::uintptr_t>(base) + bytes - size;
    top &= ~(std::uintptr_t{align < 64 ? 64 : align} - 1);
    return reinterpret_cast<void*>(top);
}

void CoroutineCore::deallocate(StackMemory stack) noexcept { ::munmap(stack.base, stack.size); }

CoroutineCore::CoroutineCore(StackMemory stack) noexcept : stack_(stack) {
    char* bottom = static_cast<char*>(stack.base) + StackPool::guard_size();
    auto sp = reinterpret_cast<std::uintptr_t>(this) & ~std::uintptr_t{63};
    self_.stack_bottom = bottom;
    self_.stack_size = static_cast<std::size_t>(reinterpret_cast<char*>(sp) - bottom);
    self_.fctx = fctx::make_fcontext(reinterpret_cast<void*>(sp), self_.stack_size,
                                     &CoroutineEntry::entry);
    create_fiber(self_);
    caller_.owner = this;
}

CoroutineCore::~CoroutineCore() { destroy_fiber(self_); }

void CoroutineCore::destroy(CoroutineCore* core) noexcept {
    if (core == nullptr) return;
    core->close();
    StackMemory stack = core->stack_;
    core->~CoroutineCore();
    deallocate(stack);
}

namespace {

// While a body runs inside a task, a suspension point in the body parks the
// task with the body's stack as its execution context: the scheduler must
// then resume the body's fiber and stack (sanitizers track both), not the
// task's own. Swaps them in for the duration of a resume.
class RunningOnCoroutine {
public:
    explicit RunningOnCoroutine(const Context& body) noexcept : task_(current_task_block()) {
        if (task_ == nullptr) return;
        saved_ = task_->ctx;
        task_->ctx.stack_bottom = body.stack_bottom;
        task_->ctx.stack_size = body.stack_size;
        task_->ctx.tsan_fiber = body.tsan_fiber;
    }
    ~RunningOnCoroutine() {
        if (task_ == nullptr) return;
        task_->ctx.stack_bottom = saved_.stack_bottom;
        task_->ctx.stack_size = saved_.stack_size;
        task_->ctx.tsan_fiber = saved_.tsan_fiber;
    }

private:
    TaskControlBlock* task_;
    Context saved_;
};

}  // namespace

void CoroutineCore::resume() {
    if (finished_) throw UsageError("ringlet::Generator: the generator has finished");
    if (running_) throw UsageError("ringlet::Generator: resumed from inside its own body");
    started_ = true;
    running_ = true;
    {
        RunningOnCoroutine on_body(self_);
        caller_.stack_bottom = nullptr;  // learned anew: the caller may be another task
        init_thread_context(caller_);
        switch_context(caller_, self_);
    }
    running_ = false;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void CoroutineCore::suspend() {
    switch_context(self_, caller_);
    if (unwinding_) throw CoroutineUnwind{};
}

void CoroutineCore::close() noexcept {
    if (!started_ || finished_ || running_) {
        if (!started_) finished_ = true;  // never ran: nothing to unwind
        return;
    }
    unwinding_ = true;
    running_ = true;
    {
        RunningOnCoroutine on_body(self_);
        caller_.stack_bottom = nullptr;
        init_thread_context(caller_);
        switch_context(caller_, self_);
    }
    running_ = false;
    error_ = nullptr;
    RINGLET_CHECK(finished_);  // the body swallowed CoroutineUnwind and yielded again
}

}  // namespace ringlet::detail
