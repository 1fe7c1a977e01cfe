// bench/baselines/raw_fcontext.hpp — the floor under every task switch.
//
// Two bare Boost.Context contexts handing control back and forth with
// jump_fcontext: no scheduler, no run queue, no bookkeeping. A ringlet yield
// ping-pong does the same two switches per round trip plus everything the
// scheduler adds, so the ratio of the two is the scheduler's overhead
// (DESIGN "Performance budget": yield within 2x of this).
//
// Note: Boost 1.74's jump_fcontext leaves with `jmp *%r8`, not `ret` (ringlet's
// own switch, runtime/src/jump_context.cpp, leaves with `ret`). In
// RawPingPong neither side ever returns from a function, so nothing is
// mispredicted and it is the true floor; RawPingPongUnlike adds the one
// return per switch that a scheduler switching between unlike tasks cannot
// avoid (it is then mispredicted, with either routine).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <utility>

#include <benchmark/benchmark.h>
#include <boost/context/detail/fcontext.hpp>

namespace ringlet::bench {

namespace fctx = boost::context::detail;

// A stack for a raw context: one anonymous mapping, no guard (the partner's
// frames are tiny and fixed).
class RawStack {
public:
    explicit RawStack(std::size_t size = 64 * 1024) : size_(size) {
        base_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base_ == MAP_FAILED) std::abort();
    }
    ~RawStack() { ::munmap(base_, size_); }
    RawStack(const RawStack&) = delete;
    RawStack& operator=(const RawStack&) = delete;

    void* top() const noexcept { return static_cast<char*>(base_) + size_; }
    std::size_t size() const noexcept { return size_; }

private:
    void* base_;
    std::size_t size_;
};

// The caller and one partner context. round_trip() = two switches: here ->
// partner -> here. The partner never returns from its entry function (that
// would exit the thread); it stays suspended for good when we stop calling,
// with nothing on its stack that needs destroying, and the stack is unmapped.
class RawPingPong {
public:
    RawPingPong() { partner_ = fctx::make_fcontext(stack_.top(), stack_.size(), &entry); }
    RawPingPong(const RawPingPong&) = delete;
    RawPingPong& operator=(const RawPingPong&) = delete;

    void round_trip() noexcept { partner_ = fctx::jump_fcontext(partner_, nullptr).fctx; }

private:
    [[noreturn]] static void entry(fctx::transfer_t t) noexcept {
        fctx::fcontext_t back = t.fctx;
        for (;;) back = fctx::jump_fcontext(back, nullptr).fctx;
    }

    RawStack stack_;
    fctx::fcontext_t partner_ = nullptr;
};

// The same round trip, but each side switches through a shared function that
// returns to a different caller on each side (main's loop, the partner's
// loop), as a scheduler's yield() does between tasks running different code.
// Every such return goes to another address than the one the CPU's
// return-stack buffer predicts: this is the floor for a switch between unlike
// tasks, whatever the switch routine.
class RawPingPongUnlike {
public:
    RawPingPongUnlike() { partner_ = fctx::make_fcontext(stack_.top(), stack_.size(), &entry); }
    RawPingPongUnlike(const RawPingPongUnlike&) = delete;
    RawPingPongUnlike& operator=(const RawPingPongUnlike&) = delete;

    void round_trip() noexcept { partner_ = hop(partner_); }

private:
    [[gnu::noinline]] static fctx::fcontext_t hop(fctx::fcontext_t to) noexcept {
        fctx::transfer_t t = fctx::jump_fcontext(to, nullptr);
        asm volatile("" ::: "memory");  // a real call and return, not a tail jump
        return t.fctx;
    }
    [[noreturn]] static void entry(fctx::transfer_t t) noexcept {
        fctx::fcontext_t back = t.fctx;
        for (;;) back = hop(back);
    }

    RawStack stack_;
    fctx::fcontext_t partner_ = nullptr;
};

// The floor under spawn + join: make_fcontext on an already-mapped (pooled,
// warm) stack, jump in, and the new context jumps straight back and is
// abandoned — a "task" that does nothing, with no allocation and no queue.
class RawSpawn {
public:
    RawSpawn() = default;
    RawSpawn(const RawSpawn&) = delete;
    RawSpawn& operator=(const RawSpawn&) = delete;

    void spawn_and_finish() noexcept {
        fctx::fcontext_t c = fctx::make_fcontext(stack_.top(), stack_.size(), &entry);
        benchmark::DoNotOptimize(fctx::jump_fcontext(c, nullptr).fctx);
    }

private:
    [[noreturn]] static void entry(fctx::transfer_t t) noexcept {
        fctx::jump_fcontext(t.fctx, nullptr);
        std::abort();  // never resumed
    }

    RawStack stack_;
};

// BM_RawFcontextPingPong: iterations are round trips; counters per_switch and
// per_roundtrip are seconds per switch / per round trip.
inline void raw_fcontext_ping_pong(benchmark::State& state) {
    RawPingPong pp;
    pp.round_trip();  // first entry into the partner, outside the timing
    for (auto _ : state) pp.round_trip();
    const auto n = static_cast<double>(state.iterations());
    state.counters["per_switch"] = benchmark::Counter(2 * n, benchmark::Counter::kIsRate |
                                                                 benchmark::Counter::kInvert);
    state.counters["per_roundtrip"] =
        benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// BM_RawFcontextPingPongUnlike: as above, through RawPingPongUnlike.
inline void raw_fcontext_ping_pong_unlike(benchmark::State& state) {
    RawPingPongUnlike pp;
    pp.round_trip();
    for (auto _ : state) pp.round_trip();
    const auto n = static_cast<double>(state.iterations());
    state.counters["per_switch"] = benchmark::Counter(2 * n, benchmark::Counter::kIsRate |
                                                                 benchmark::Counter::kInvert);
    state.counters["per_roundtrip"] =
        benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// BM_RawFcontextSpawn: iterations are create + run-to-end of a bare context.
inline void raw_fcontext_spawn(benchmark::State& state) {
    RawSpawn rs;
    rs.spawn_and_finish();  // fault the stack's top page in
    for (auto _ : state) rs.spawn_and_finish();
    state.counters["per_task"] = benchmark::Counter(
        static_cast<double>(state.iterations()),
        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace ringlet::bench
