// ringlet/blocking.hpp — run blocking code on a worker thread; the caller waits.
//
// blocking(f) hands f to a process-wide pool of OS threads (it grows on demand
// up to blocking_pool_limit() threads; idle workers exit after a few seconds)
// and suspends the calling task until f returns, so CPU-heavy or blocking
// calls (getaddrinfo, a C library that blocks) do not stall the scheduler.
// From a plain thread it simply blocks that thread until f returns.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include <ringlet/detail/completion.hpp>

namespace ringlet {

namespace detail {

// A job on its submitter's stack; the pool runs it and signals `done`.
class BlockingJob {
public:
    virtual void run() noexcept = 0;
    Completion done;
    BlockingJob* next = nullptr;

protected:
    ~BlockingJob() = default;
};

// Queues `job` on the pool and waits (uninterruptibly) until it has run, then
// delivers a cancel or timeout that arrived meanwhile. Throws: Cancelled,
// TimeoutError (after the job finished), IoError if no worker can start.
void run_blocking(BlockingJob& job);

template <class F>
class BlockingCall final : public BlockingJob {
public:
    using R = std::invoke_result_t<F&>;
    explicit BlockingCall(F& f) : f_(f) {}
    void run() noexcept override {
        try {
            if constexpr (std::is_void_v<R>) {
                std::invoke(f_);
            } else {
                result_.emplace(std::invoke(f_));
            }
        } catch (...) {
            error_ = std::current_exception();
        }
    }
    R take() {
        if (error_) std::rethrow_exception(error_);
        if constexpr (!std::is_void_v<R>) return std::move(*result_);
    }

private:
    F& f_;
    std::optional<std::conditional_t<std::is_void_v<R>, int, R>> result_;
    std::exception_ptr error_;
};

}  // namespace detail

// Runs f() on a worker thread and returns its value (or rethrows its
// exception). Suspends. Cancellation: f cannot be interrupted, so a cancel or
// Timeout that arrives while it runs is delivered after f returns (its result
// is then discarded). Throws: what f throws, Cancelled, TimeoutError, IoError.
template <class F>
auto blocking(F&& f) {
    detail::BlockingCall<std::remove_reference_t<F>> call(f);
    detail::run_blocking(call);
    return call.take();
}

// Upper bound on the pool's threads (default: 64). Thread-safe.
void set_blocking_pool_limit(std::size_t threads);
std::size_t blocking_pool_limit() noexcept;

}  // namespace ringlet
