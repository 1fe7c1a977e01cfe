// channel_bench — Channel<int> between two tasks: ping-pong and throughput.
//
// Baselines in this binary, with the ratios printed after the table:
//   - raw jump_fcontext ping-pongs (the switch floor under a channel round
//     trip, which is two switches), between like and unlike sides;
//   - two OS threads doing the same through std::mutex + std::condition_variable
//     (what a channel replaces when tasks are threads).
//
//   build/bench/channel_bench --benchmark_repetitions=3
//
// Ping-pong iterations are round trips (one message each way; per_roundtrip
// counter). Throughput: one producer, one consumer, capacity range(0);
// the msgs counter is messages per second and per_msg its inverse.
// Time base: the single-threaded benchmarks (ringlet, raw) measure the CPU
// time of their thread, which stays meaningful on a busy machine; the thread
// baselines measure real time, since their cost is mostly waiting for wake-ups.
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <ringlet/channel.hpp>
#include <ringlet/run.hpp>
#include <ringlet/task.hpp>

#include "baselines/raw_fcontext.hpp"

namespace {

using benchmark::Counter;
using benchmark::IterationCount;

void per_roundtrip(benchmark::State& state) {
    state.counters["per_roundtrip"] = Counter(static_cast<double>(state.iterations()),
                                              Counter::kIsRate | Counter::kInvert);
}

void messages(benchmark::State& state, double n) {
    state.counters["msgs"] = Counter(n, Counter::kIsRate);
    state.counters["per_msg"] = Counter(n, Counter::kIsRate | Counter::kInvert);
}

void BM_RawFcontextPingPong(benchmark::State& state) { ringlet::bench::raw_fcontext_ping_pong(state); }
BENCHMARK(BM_RawFcontextPingPong);

// Main and the echo task run different code, so each switch returns to a
// caller the CPU did not predict: this is the matching floor.
void BM_RawFcontextPingPongUnlike(benchmark::State& state) {
    ringlet::bench::raw_fcontext_ping_pong_unlike(state);
}
BENCHMARK(BM_RawFcontextPingPongUnlike);

// Main sends on `ping` and waits on `pong`; the echo task does the reverse.
// Capacity 0 is a rendezvous; with capacity 1 the send completes at once and
// the switch happens at the recv.
void BM_ChannelPingPong(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    const IterationCount n = state.max_iterations;
    ringlet::run([&state, capacity, n] {
        ringlet::Channel<int> ping(capacity);
        ringlet::Channel<int> pong(capacity);
        auto echo = ringlet::spawn([&ping, &pong, n] {
            for (IterationCount i = 0; i < n; ++i) pong.send(*ping.recv());
        });
        int v = 0;
        while (state.KeepRunningBatch(n)) {
            for (IterationCount i = 0; i < n; ++i) {
                ping.send(v);
                v = *pong.recv() + 1;
            }
        }
        echo.join();
        benchmark::DoNotOptimize(v);
    });
    per_roundtrip(state);
}
BENCHMARK(BM_ChannelPingPong)->Arg(0)->Arg(1);

// One producer task sends n values, the consumer (main) receives them.
void BM_ChannelThroughput(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    const IterationCount n = state.max_iterations;
    ringlet::run([&state, capacity, n] {
        ringlet::Channel<int> ch(capacity);
        auto producer = ringlet::spawn([&ch, n] {
            for (IterationCount i = 0; i < n; ++i) ch.send(static_cast<int>(i));
        });
        long sum = 0;
        while (state.KeepRunningBatch(n)) {
            for (IterationCount i = 0; i < n; ++i) sum += *ch.recv();
        }
        producer.join();
        benchmark::DoNotOptimize(sum);
    });
    messages(state, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_ChannelThroughput)->Arg(1024);

// --- baseline: two threads, std::mutex + std::condition_variable -----------

// A bounded FIFO of ints for threads (capacity >= 1).
class CondvarQueue {
public:
    explicit CondvarQueue(std::size_t capacity) : capacity_(capacity) {}
    void send(int v) {
        std::unique_lock lock(mutex_);
        not_full_.wait(lock, [this] { return items_.size() < capacity_; });
        items_.push_back(v);
        lock.unlock();
        not_empty_.notify_one();
    }
    int recv() {
        std::unique_lock lock(mutex_);
        not_empty_.wait(lock, [this] { return !items_.empty(); });
        const int v = items_.front();
        items_.pop_front();
        lock.unlock();
        not_full_.notify_one();
        return v;
    }

private:
    std::mutex mutex_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    std::deque<int> items_;
    const std::size_t capacity_;
};

// The ping-pong of BM_ChannelPingPong/1 with an echo thread.
void BM_ThreadCondvarPingPong(benchmark::State& state) {
    const IterationCount n = state.max_iterations;
    CondvarQueue ping(1);
    CondvarQueue pong(1);
    std::thread echo([&ping, &pong, n] {
        for (IterationCount i = 0; i < n; ++i) pong.send(ping.recv());
    });
    int v = 0;
    while (state.KeepRunningBatch(n)) {
        for (IterationCount i = 0; i < n; ++i) {
            ping.send(v);
            v = pong.recv() + 1;
        }
    }
    echo.join();
    benchmark::DoNotOptimize(v);
    per_roundtrip(state);
}
BENCHMARK(BM_ThreadCondvarPingPong)->UseRealTime();

// The throughput of BM_ChannelThroughput with a producer thread.
void BM_ThreadCondvarThroughput(benchmark::State& state) {
    const IterationCount n = state.max_iterations;
    CondvarQueue q(static_cast<std::size_t>(state.range(0)));
    std::thread producer([&q, n] {
        for (IterationCount i = 0; i < n; ++i) q.send(static_cast<int>(i));
    });
    long sum = 0;
    while (state.KeepRunningBatch(n)) {
        for (IterationCount i = 0; i < n; ++i) sum += q.recv();
    }
    producer.join();
    benchmark::DoNotOptimize(sum);
    messages(state, static_cast<double>(state.iterations()));
}
BENCHMARK(BM_ThreadCondvarThroughput)->Arg(1024)->UseRealTime();

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
            {"channel(0) round trip / raw, unlike sides", "BM_ChannelPingPong/0",
             "BM_RawFcontextPingPongUnlike", "per_roundtrip", 1e9, "ns", 0},
            {"channel(1) round trip / raw, unlike sides", "BM_ChannelPingPong/1",
             "BM_RawFcontextPingPongUnlike", "per_roundtrip", 1e9, "ns", 0},
            {"channel(0) round trip / raw jump_fcontext", "BM_ChannelPingPong/0",
             "BM_RawFcontextPingPong", "per_roundtrip", 1e9, "ns", 0},
            {"channel(1) round trip / threads+condvar", "BM_ChannelPingPong/1",
             "BM_ThreadCondvarPingPong", "per_roundtrip", 1e9, "ns", 0},
            {"channel(1024) per msg / threads+condvar", "BM_ChannelThroughput/1024",
             "BM_ThreadCondvarThroughput/1024", "per_msg", 1e9, "ns", 0},
            {"channel(1024) throughput", "BM_ChannelThroughput/1024", nullptr, "msgs", 1e-6,
             "M/s", 0},
        });
        benchmark::RunSpecifiedBenchmarks(&reporter);
    }
    benchmark::Shutdown();
    return 0;
}
