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

#include "baselines/raw_fcontext.hpp"

namespace {

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

// ---------------------------------------------------------------------------
// Prints the console table, then each comparison from the median over the
// repetitions (--benchmark_repetitions) of the benchmarks involved.
class RatioReporter final : public benchmark::ConsoleReporter {
public:
    struct Line {
        const char* label;
        const char* bench;     // function_name[/args]
        const char* baseline;  // null: an absolute figure, not a ratio
        const char* counter;   // compared counter (for both)
        double scale;          // counter value * scale = shown in `unit`
        const char* unit;
        double target;         // the ratio (or absolute) must not exceed it; 0: none
    };

    RatioReporter(std::vector<Line> lines)
        : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_Color : OO_None), lines_(std::move(lines)) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            if (r.error_occurred) continue;
            std::string key = r.run_name.function_name;
            if (!r.run_name.args.empty()) key += "/" + r.run_name.args;
            for (const auto& [name, c] : r.counters) {
                if (r.run_type == Run::RT_Iteration) {
                    samples_[key + "|" + name].push_back(c.value);
                } else if (r.aggregate_name == "median") {
                    medians_[key + "|" + name] = c.value;
                }
            }
        }
    }

    void Finalize() override {
        ConsoleReporter::Finalize();
        std::printf("\n== ringlet: comparisons (medians) ==\n");
        for (const Line& l : lines_) {
            double v = 0;
            double b = 0;
            if (!median(l.bench, l.counter, v) || (l.baseline && !median(l.baseline, l.counter, b))) {
                std::printf("%-46s (not run)\n", l.label);
                continue;
            }
            if (l.baseline == nullptr) {
                std::printf("%-46s %8s %-4s", l.label, num(v * l.scale).c_str(), l.unit);
                if (l.target > 0) {
                    std::printf("  target < %g %s: %s", l.target, l.unit,
                                v * l.scale < l.target ? "ok" : "MISSED");
                }
            } else {
                const double ratio = v / b;
                std::printf("%-46s %7sx   (%s / %s %s)", l.label, num(ratio).c_str(),
                            num(v * l.scale).c_str(), num(b * l.scale).c_str(), l.unit);
                if (l.target > 0) {
                    std::printf("  target <= %gx: %s", l.target, ratio <= l.target ? "ok" : "MISSED");
                }
            }
            std::printf("\n");
        }
        std::fflush(stdout);
    }

private:
    static std::string num(double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, v >= 100 || v <= -100 ? "%.0f" : "%.3g", v);
        return buf;
    }

    bool median(const std::string& bench, const std::string& counter, double& out) {
        const std::string key = bench + "|" + counter;
        if (auto it = samples_.find(key); it != samples_.end() && !it->second.empty()) {
            std::vector<double> v = it->second;
            std::sort(v.begin(), v.end());
            const std::size_t m = v.size() / 2;
            out = v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
            return true;
        }
        if (auto it = medians_.find(key); it != medians_.end()) {
            out = it->second;
            return true;
        }
        return false;
    }

    std::vector<Line> lines_;
    std::map<std::string, std::vector<double>> samples_;
    std::map<std::string, double> medians_;
};

bool console_format(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0 &&
            std::strcmp(argv[i] + 19, "console") != 0) {
            return false;
        }
    }
    return true;
}

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
