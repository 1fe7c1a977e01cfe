// ringlet/generator.hpp — stackful generators with send(), like Python's.
//
// Generator<T, In> runs `body(yield)` on its own small stack, resumed by the
// consumer: next() / send(v) run the body until it calls yield(value), which
// hands `value` back and returns what the next send() passes (nullopt when
// resumed by next()). Each step is a context switch; no allocation per step.
// The body may use any suspension point (it runs inside the calling task).
// Destroying or close()-ing a suspended generator unwinds the body (its
// destructors run). Not thread-safe; owned by one task or thread.
//
//   Generator<std::string, int> consumer([](auto& yield) {
//       std::string reply;
//       while (auto n = yield(reply)) reply = "200 OK";   // n: std::optional<int>
//   });
//   consumer.next();                  // start it: runs to the first yield
//   auto r = consumer.send(1);        // r == "200 OK"
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include <ringlet/detail/pull_iterator.hpp>
#include <ringlet/detail/coroutine_core.hpp>
#include <ringlet/errors.hpp>

namespace ringlet {

inline constexpr std::size_t default_generator_stack_size = 64 * 1024;

template <class T, class In = void>
class Generator {
    struct State;

public:
    // Passed to the body; calling it yields a value to the consumer.
    class Yield {
    public:
        // Hands `value` to next()/send() and suspends until resumed again.
        // Returns the value of send(), or nullopt if resumed by next()
        // (returns void when In is void).
        auto operator()(T value) {
            state_->out.emplace(std::move(value));
            state_->suspend();
            if constexpr (!std::is_void_v<In>) return std::exchange(state_->in, std::nullopt);
        }

    private:
        friend struct State;
        explicit Yield(State* s) : state_(s) {}
        State* state_;
    };

    // Creates a suspended generator; the body first runs at next()/send().
    // Throws: IoError if its stack cannot be mapped.
    template <class F>
        requires std::invocable<F&, Yield&>
    explicit Generator(F body, std::size_t stack_size = default_generator_stack_size) {
        using Impl = StateWith<F>;
        detail::StackMemory stack;
        void* storage = detail::CoroutineCore::allocate(sizeof(Impl), alignof(Impl), stack_size, stack);
        state_ = ::new (storage) Impl(stack, std::move(body));
    }
    Generator(Generator&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
    Generator& operator=(Generator&& o) noexcept {
        if (this != &o) {
            detail::CoroutineCore::destroy(state_);
            state_ = std::exchange(o.state_, nullptr);
        }
        return *this;
    }
    ~Generator() { detail::CoroutineCore::destroy(state_); }

    // Resumes the body; the value it yields next, or nullopt once it returned.
    // Throws: whatever the body throws (then the generator is finished).
    std::optional<T> next() { return step(); }

    // Resumes the body with `value` as the result of its pending yield().
    template <class U = In>
        requires(!std::is_void_v<U>)
    std::optional<T> send(U value) {
        return step(std::move(value));
    }

    // True once the body has returned (or thrown, or been closed).
    bool done() const noexcept { return state_ == nullptr || state_->finished(); }
    // Unwinds a suspended body now. Idempotent.
    void close() noexcept {
        if (state_) state_->close();
    }

    using iterator = detail::PullIterator<Generator, T, &Generator::next>;
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() const noexcept { return {}; }

private:
    using InSlot = std::optional<std::conditional_t<std::is_void_v<In>, bool, In>>;

    struct State : detail::CoroutineCore {
        explicit State(detail::StackMemory s) : detail::CoroutineCore(s) {}
        using detail::CoroutineCore::suspend;
        std::optional<T> out;
        InSlot in;
        Yield make_yield() { return Yield(this); }
    };
    template <class F>
    struct StateWith final : State {
        StateWith(detail::StackMemory s, F f) : State(s), fn(std::move(f)) {}
        void body() override {
            Yield y = this->make_yield();
            fn(y);
        }
        F fn;
    };

    template <class... V>
    std::optional<T> step(V&&... v) {
        if (state_ == nullptr) throw UsageError("ringlet::Generator: moved-from generator");
        if (state_->finished()) return std::nullopt;
        if constexpr (sizeof...(V) > 0) state_->in.emplace(std::forward<V>(v)...);
        state_->out.reset();
        state_->resume();
        return std::exchange(state_->out, std::nullopt);
    }

    State* state_ = nullptr;
};

}  // namespace ringlet
