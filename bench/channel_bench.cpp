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

#include "baselines/ratio_reporter.hpp"
#include "baselines/raw_fcontext.hpp"

namespace {

using ringlet::bench::console_format;
using ringlet::bench::RatioReporter;

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
