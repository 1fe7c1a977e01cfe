// ringlet/promise.hpp — a one-shot result that tasks and threads wait for.
//
// Promise<T> / Future<T> are gevent's AsyncResult split in two: the producer
// holds the Promise and sets a value or an exception once; any number of
// Future copies wait for it and read it. Works across tasks, schedulers and
// plain threads. Ordering: set_value() happens-before every wait() or get()
// that sees the result. A Promise destroyed unset breaks its futures: get()
// throws std::future_error(broken_promise).
#pragma once

#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include <ringlet/detail/spin_lock.hpp>
#include <ringlet/detail/waiter.hpp>
#include <ringlet/errors.hpp>
#include <ringlet/time.hpp>

namespace ringlet {

namespace detail {

template <class T>
struct SharedResult {
    using Value = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
    SpinLock lock;
    bool ready = false;
    std::optional<Value> value;
    std::exception_ptr error;
    WaitQueue waiters;

    template <class Fill>
    void complete(Fill fill) {
        std::lock_guard guard(lock);
        if (ready) throw UsageError("ringlet::Promise: the result is already set");
        fill(*this);
        ready = true;
        while (Waiter* w = waiters.front()) grant(waiters, *w, WaitStatus::granted);
    }

    bool wait_until(TimePoint deadline) {
        lock.lock();
        if (ready) {
            lock.unlock();
            return true;
        }
        lock.unlock();
        check_interrupts();
        lock.lock();
        if (ready) {
            lock.unlock();
            return true;
        }
        return wait_locked(lock, waiters, "Future::wait", deadline) != WaitStatus::waiting;
    }
};

}  // namespace detail

template <class T>
class Future {
public:
    Future() = default;

    // Waits for the result; returns (a copy of) the value or rethrows the
    // exception. Suspends. Throws: the stored exception, Cancelled,
    // TimeoutError, UsageError on an empty Future.
    T get() const {
        auto& s = checked();
        s.wait_until(TimePoint::max());
        if (s.error) std::rethrow_exception(s.error);
        if constexpr (!std::is_void_v<T>) return *s.value;
    }
    // Waits up to `timeout`; true if the result is there.
    // Suspends. Throws: Cancelled, TimeoutError (enclosing scope).
    bool wait(Duration timeout = forever) const {
        return checked().wait_until(deadline_after(timeout));
    }
    bool ready() const {
        auto& s = checked();
        std::lock_guard guard(s.lock);
        return s.ready;
    }
    // True if ready with a value (not an exception).
    bool successful() const {
        auto& s = checked();
        std::lock_guard guard(s.lock);
        return s.ready && !s.error;
    }
    bool valid() const noexcept { return state_ != nullptr; }

private:
    template <class>
    friend class Promise;
    explicit Future(std::shared_ptr<detail::SharedResult<T>> s) : state_(std::move(s)) {}
    detail::SharedResult<T>& checked() const {
        if (!state_) throw UsageError("ringlet::Future: empty future (use Promise::get_future)");
        return *state_;
    }
    std::shared_ptr<detail::SharedResult<T>> state_;
};

template <class T>
class Promise {
public:
    Promise() : state_(std::make_shared<detail::SharedResult<T>>()) {}
    Promise(Promise&&) noexcept = default;
    Promise& operator=(Promise&& o) noexcept {
        if (this != &o) {
            abandon();
            state_ = std::move(o.state_);
        }
        return *this;
    }
    ~Promise() { abandon(); }

    Future<T> get_future() const { return Future<T>(state_); }

    // Stores the value and wakes every waiter. Throws: UsageError if already set.
    template <class... V>
    void set_value(V&&... v) {
        checked().complete([&](auto& s) { s.value.emplace(std::forward<V>(v)...); });
    }
    void set_exception(std::exception_ptr e) {
        checked().complete([&](auto& s) { s.error = std::move(e); });
    }

private:
    detail::SharedResult<T>& checked() {
        if (!state_) throw UsageError("ringlet::Promise: moved-from promise");
        return *state_;
    }
    void abandon() noexcept {
        if (!state_) return;
        std::unique_lock guard(state_->lock);
        if (state_->ready) return;
        guard.unlock();
        try {
            state_->complete([](auto& s) {
                s.error = std::make_exception_ptr(std::future_error(std::future_errc::broken_promise));
            });
        } catch (...) {
        }
    }
    std::shared_ptr<detail::SharedResult<T>> state_;
};

}  // namespace ringlet
