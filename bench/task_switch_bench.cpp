// task_switch_bench — yield ping-pong between two tasks vs raw jump_fcontext.
//
// DESIGN "Performance budget": a task switch (yield ping-pong) within 2x of a
// raw jump_fcontext ping-pong; the aim is to match it. Both run in this binary
// and the ratio of their medians is printed after the table:
//
//   build/bench/task_switch_bench --benchmark_repetitions=3
//
// Iterations are rounds (each task switches away once); per_switch is the
// time per switch, in the CPU time of the thread.
//
// Like vs unlike tasks: when both tasks run the same code, every switch
// returns to the call site the CPU's return-stack buffer predicts, as in the
// raw ping-pong; between tasks running different code each switch costs one
// mispredicted return (~10 ns here) whatever the switch routine, so that case
// is compared with a raw ping-pong whose two sides also differ.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <ringlet/run.hpp>
#include <ringlet/task.hpp>

#include "baselines/ratio_reporter.hpp"
#include "baselines/raw_fcontext.hpp"

namespace {

using ringlet::bench::console_format;
using ringlet::bench::RatioReporter;

using benchmark::Counter;
using benchmark::IterationCount;

void per_switch(benchmark::State& state, double switches) {
    state.counters["per_switch"] = Counter(switches, Counter::kIsRate | Counter::kInvert);
}

void BM_RawFcontextPingPong(benchmark::State& state) { ringlet::bench::raw_fcontext_ping_pong(state); }
BENCHMARK(BM_RawFcontextPingPong);

void BM_RawFcontextPingPongUnlike(benchmark::State& state) {
    ringlet::bench::raw_fcontext_ping_pong_unlike(state);
}
BENCHMARK(BM_RawFcontextPingPongUnlike);

// Two tasks running the same loop yield to each other n times each; nothing
// else is ready, so every yield is one switch straight to the other task.
// Main only starts the clock and joins. One ringlet::run per batch: the
// scheduler's start and end stay outside the timing.
void yield_loop(IterationCount n) {
    for (IterationCount i = 0; i < n; ++i) ringlet::yield();
}

void BM_YieldPingPong(benchmark::State& state) {
    const IterationCount n = state.max_iterations;
    ringlet::run([&state, n] {
        auto a = ringlet::spawn(yield_loop, n);
        auto b = ringlet::spawn(yield_loop, n);
        while (state.KeepRunningBatch(n)) ringlet::joinall(a, b);
    });
    per_switch(state, 2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_YieldPingPong);

// The same between main and a task running different code: each switch then
// returns into a different caller than the one the CPU's return-stack buffer
// predicts, the cost any stackful switch pays between unlike tasks. Its floor
// is BM_RawFcontextPingPongUnlike.
void BM_YieldPingPongUnlike(benchmark::State& state) {
    const IterationCount n = state.max_iterations;
    ringlet::run([&state, n] {
        auto partner = ringlet::spawn([n] {
            for (IterationCount i = 0; i < n; ++i) ringlet::yield();
        });
        while (state.KeepRunningBatch(n)) {
            for (IterationCount i = 0; i < n; ++i) ringlet::yield();
        }
        partner.join();
    });
    per_switch(state, 2.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_YieldPingPongUnlike);

// Four tasks running the same loop take turns (a round is four switches):
// the run queue holds more than one task, as in a real program.
void BM_YieldRing4(benchmark::State& state) {
    const IterationCount n = state.max_iterations;
    ringlet::run([&state, n] {
        std::vector<ringlet::Task<void>> tasks;
        for (int t = 0; t < 4; ++t) tasks.push_back(ringlet::spawn(yield_loop, n));
        while (state.KeepRunningBatch(n)) ringlet::joinall(tasks);
    });
    per_switch(state, 4.0 * static_cast<double>(state.iterations()));
}
BENCHMARK(BM_YieldRing4);


}  // namespace

int main(int argc, char** argv) {
    const bool console = console_format(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (!console) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        RatioReporter reporter({
            {"yield / raw jump_fcontext, per switch", "BM_YieldPingPong", "BM_RawFcontextPingPong",
             "per_switch", 1e9, "ns", 2.0},
            {"yield, 4 tasks / raw jump_fcontext", "BM_YieldRing4", "BM_RawFcontextPingPong",
             "per_switch", 1e9, "ns", 2.0},
            {"yield, unlike tasks / raw, unlike sides", "BM_YieldPingPongUnlike",
             "BM_RawFcontextPingPongUnlike", "per_switch", 1e9, "ns", 2.0},
            {"yield, unlike tasks / raw jump_fcontext", "BM_YieldPingPongUnlike",
             "BM_RawFcontextPingPong", "per_switch", 1e9, "ns", 0},
        });
        benchmark::RunSpecifiedBenchmarks(&reporter);
    }
    benchmark::Shutdown();
    return 0;
}
