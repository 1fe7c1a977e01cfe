// spawn_join_bench — spawn a trivial task and join it.
//
// DESIGN "Performance budget": spawn + join under 150 ns (the aim: under
// 100 ns). The floor, in the same binary, is a raw make_fcontext + jump on a
// warm stack (what a spawn cannot avoid), and the ratio is printed after the
// table:
//
//   build/bench/spawn_join_bench --benchmark_repetitions=3
//
// The per_task counter is the time per spawn + join (CPU time of the thread).
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

void per_task(benchmark::State& state, double tasks) {
    state.counters["per_task"] = Counter(tasks, Counter::kIsRate | Counter::kInvert);
}

void BM_RawFcontextSpawn(benchmark::State& state) { ringlet::bench::raw_fcontext_spawn(state); }
BENCHMARK(BM_RawFcontextSpawn);

// One at a time: spawn, then join (the join is the spawner's suspension point
// where the task first runs). The same pooled stack is reused every time.
void BM_SpawnJoin(benchmark::State& state) {
    ringlet::run([&state] {
        ringlet::spawn([] {}).join();  // the pool maps its first slab here, untimed
        for (auto _ : state) {
            auto t = ringlet::spawn([] {});
            t.join();
        }
    });
    per_task(state, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_SpawnJoin);

// Spawn range(0) tasks, then join them all: the run queue is long and every
// task has its own stack. With the default Options, stacks beyond
// Options::warm_stacks (256) are given back to the kernel when they are freed
// and fault in again on the next batch.
void spawn_join_batch(benchmark::State& state, ringlet::Options options) {
    const auto batch = static_cast<std::size_t>(state.range(0));
    ringlet::run(
        [&state, batch] {
            std::vector<ringlet::Task<void>> tasks;
            tasks.reserve(batch);
            auto one_batch = [&tasks, batch] {
                for (std::size_t i = 0; i < batch; ++i) tasks.push_back(ringlet::spawn([] {}));
                ringlet::joinall(tasks);
                tasks.clear();
            };
            one_batch();  // map the slabs, untimed
            for (auto _ : state) one_batch();
        },
        options);
    per_task(state, static_cast<double>(state.iterations()) * static_cast<double>(batch));
}

void BM_SpawnJoinBatch(benchmark::State& state) { spawn_join_batch(state, {}); }
BENCHMARK(BM_SpawnJoinBatch)->Arg(1000);

// The same with every stack of the batch kept warm (warm_stacks >= batch).
void BM_SpawnJoinBatchWarm(benchmark::State& state) {
    spawn_join_batch(state, {.warm_stacks = static_cast<std::size_t>(state.range(0))});
}
BENCHMARK(BM_SpawnJoinBatchWarm)->Arg(1000);


}  // namespace

int main(int argc, char** argv) {
    const bool console = console_format(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (!console) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        RatioReporter reporter({
            {"spawn+join, one at a time", "BM_SpawnJoin", nullptr, "per_task", 1e9, "ns", 150},
            {"spawn+join, batches of 1000", "BM_SpawnJoinBatch/1000", nullptr, "per_task", 1e9,
             "ns", 150},
            {"spawn+join, batches of 1000, warm stacks", "BM_SpawnJoinBatchWarm/1000", nullptr,
             "per_task", 1e9, "ns", 150},
            {"spawn+join / raw make+jump_fcontext", "BM_SpawnJoin", "BM_RawFcontextSpawn",
             "per_task", 1e9, "ns", 0},
            {"batch of 1000: default / warm stacks", "BM_SpawnJoinBatch/1000",
             "BM_SpawnJoinBatchWarm/1000", "per_task", 1e9, "ns", 0},
        });
        benchmark::RunSpecifiedBenchmarks(&reporter);
    }
    benchmark::Shutdown();
    return 0;
}
