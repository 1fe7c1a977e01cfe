// sleep_many_bench — 100 000 tasks sleeping at once: time and memory.
//
// DESIGN "Performance budget": 100 000 sleeping tasks under 10 KiB resident
// each (the aim: one page). Each run spawns range(0) tasks that each sleep
// 50 ms, joins them and drops the handles; the reported time is the wall time
// of all that. Counters:
//   rss_KiB_per_task   VmRSS growth while all sleep, / tasks (the budget)
//   pte_KiB_per_task   VmPTE growth (page tables for the stacks), / tasks
//   spawn_ns_per_task  CPU time of the loop of spawn() calls, / tasks
//   park_ns_per_task   CPU time from there until every task is parked, / tasks
//   cpu_ns_per_task    CPU time from the first spawn until the last handle is
//                      dropped (the stacks are back in the pool), / tasks
//   beyond_nap_ms      wall time minus the 50 ms nap (noisy on a busy machine)
// CPU times are the thread's (page faults and system calls included), so
// they hold up when other processes compete for the CPU.
// BM_SleepManyWarm keeps every stack warm (Options::warm_stacks = tasks):
// the difference is what giving stacks back to the kernel one by one costs.
//
//   build/bench/sleep_many_bench --benchmark_repetitions=3
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <ringlet/run.hpp>
#include <ringlet/stats.hpp>
#include <ringlet/task.hpp>
#include <ringlet/time.hpp>

#include "baselines/ratio_reporter.hpp"

namespace {

using ringlet::bench::console_format;
using ringlet::bench::RatioReporter;

using namespace std::chrono_literals;

constexpr auto nap = 50ms;

// A "Vm...:  123 kB" line of /proc/self/status, in KiB (0 if absent).
double status_kib(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    const std::size_t len = std::strlen(field);
    while (std::getline(in, line)) {
        if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
            return std::stod(line.substr(len + 1));
        }
    }
    return 0;
}

double thread_cpu_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

void sleep_many(benchmark::State& state, ringlet::Options options) {
    const auto n = static_cast<std::size_t>(state.range(0));
    double rss = 0;
    double pte = 0;
    double spawn_ns = 0;
    double park_ns = 0;
    double cpu_ns = 0;
    double beyond_nap_ms = 0;
    for (auto _ : state) {
        ringlet::run(
            [&] {
                // The handles' memory is touched before the first reading:
                // only what the tasks themselves cost is counted.
                std::vector<ringlet::Task<void>> tasks(n);
                const double rss0 = status_kib("VmRSS");
                const double pte0 = status_kib("VmPTE");
                const auto wall0 = std::chrono::steady_clock::now();
                const double c0 = thread_cpu_ns();
                for (auto& t : tasks) t = ringlet::spawn([] { ringlet::sleep(nap); });
                const double c1 = thread_cpu_ns();
                // The tasks run at our first suspension point, each up to its
                // sleep; we are back once all of them have parked.
                do {
                    ringlet::yield();
                } while (ringlet::stats().timers < n);
                const double c2 = thread_cpu_ns();
                rss += status_kib("VmRSS") - rss0;
                pte += status_kib("VmPTE") - pte0;
                const double c3 = thread_cpu_ns();  // the readings are not counted
                ringlet::joinall(tasks);
                tasks.clear();  // the last handles: stacks go back to the pool
                const double c4 = thread_cpu_ns();
                const auto wall1 = std::chrono::steady_clock::now();
                spawn_ns += c1 - c0;
                park_ns += c2 - c1;
                cpu_ns += (c2 - c0) + (c4 - c3);
                beyond_nap_ms +=
                    std::chrono::duration<double, std::milli>(wall1 - wall0 - nap).count();
                state.SetIterationTime(std::chrono::duration<double>(wall1 - wall0).count());
            },
            options);
    }
    const double runs = static_cast<double>(state.iterations());
    const double tasks = static_cast<double>(n) * runs;
    state.counters["rss_KiB_per_task"] = rss / tasks;
    state.counters["pte_KiB_per_task"] = pte / tasks;
    state.counters["spawn_ns_per_task"] = spawn_ns / tasks;
    state.counters["park_ns_per_task"] = park_ns / tasks;
    state.counters["cpu_ns_per_task"] = cpu_ns / tasks;
    state.counters["beyond_nap_ms"] = beyond_nap_ms / runs;
}

// One run is a whole 100k-task round trip (~0.1-0.4 s): repeat with
// --benchmark_repetitions rather than iterations.
void BM_SleepMany(benchmark::State& state) { sleep_many(state, {}); }
BENCHMARK(BM_SleepMany)->Arg(100000)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_SleepManyWarm(benchmark::State& state) {
    sleep_many(state, {.warm_stacks = static_cast<std::size_t>(state.range(0))});
}
BENCHMARK(BM_SleepManyWarm)->Arg(100000)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);


}  // namespace

int main(int argc, char** argv) {
    const bool console = console_format(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (!console) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        RatioReporter reporter({
            {"100k sleeping: resident per task", "BM_SleepMany/100000", nullptr,
             "rss_KiB_per_task", 1, "KiB", 10},
            {"100k sleeping: page tables per task", "BM_SleepMany/100000", nullptr,
             "pte_KiB_per_task", 1, "KiB", 0},
            {"100k sleeping: spawn() loop, CPU per task", "BM_SleepMany/100000", nullptr,
             "spawn_ns_per_task", 1, "ns", 0},
            {"100k sleeping: first run to parked, CPU/task", "BM_SleepMany/100000", nullptr,
             "park_ns_per_task", 1, "ns", 0},
            {"100k sleeping: spawn to freed, CPU per task", "BM_SleepMany/100000", nullptr,
             "cpu_ns_per_task", 1, "ns", 0},
            {"  same / with all stacks kept warm", "BM_SleepMany/100000",
             "BM_SleepManyWarm/100000", "cpu_ns_per_task", 1, "ns", 0},
            {"100k sleeping: wall time beyond the nap", "BM_SleepMany/100000", nullptr,
             "beyond_nap_ms", 1, "ms", 0},
        });
        benchmark::RunSpecifiedBenchmarks(&reporter);
    }
    benchmark::Shutdown();
    return 0;
}
