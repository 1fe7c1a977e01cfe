// cross_thread_bench — a Channel between tasks on two different schedulers
// (two ringlet::Threads): throughput and ping-pong latency.
//
// Baselines in this binary, with the ratios printed after the table:
//   - MutexCv: two std::threads and a bounded queue guarded by std::mutex with
//     two std::condition_variables (what a channel replaces between threads);
//   - Fiber:   Boost.Fiber's buffered_channel / unbuffered_channel between two
//     std::threads (each thread's main fiber pushes or pops), built when
//     libboost-fiber-dev is installed (RINGLET_BENCH_BOOST_FIBER);
//   - PlainThreads: ringlet::Channel between two plain std::threads (no
//     scheduler: waits spin briefly, then block in a futex), for reference.
//
//   build/bench/threads/cross_thread_bench --benchmark_repetitions=3
//
// Shape of every benchmark: the two sides are started once; each benchmark
// iteration is one batch (throughput: `batch` messages, producer to consumer;
// ping-pong: `round_trips` round trips), timed from the benchmark thread with
// manual time, so thread start-up is not measured. Throughput reports msgs
// (messages per second) and per_msg; ping-pong reports per_roundtrip.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <ringlet/channel.hpp>
#include <ringlet/semaphore.hpp>
#include <ringlet/stats.hpp>
#include <ringlet/thread.hpp>

#ifdef RINGLET_BENCH_BOOST_FIBER
#include <boost/fiber/buffered_channel.hpp>
#include <boost/fiber/unbuffered_channel.hpp>
#endif

namespace {

using benchmark::Counter;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t batch = 200'000;      // messages per throughput iteration
constexpr std::int64_t round_trips = 5'000;  // round trips per ping-pong iteration

void messages_counters(benchmark::State& state) {
    const double n = static_cast<double>(state.iterations() * batch);
    state.counters["msgs"] = Counter(n, Counter::kIsRate);
    state.counters["per_msg"] = Counter(n, Counter::kIsRate | Counter::kInvert);
}

void round_trip_counters(benchmark::State& state) {
    const double n = static_cast<double>(state.iterations() * round_trips);
    state.counters["per_roundtrip"] = Counter(n, Counter::kIsRate | Counter::kInvert);
}

// Control shared by every variant: the benchmark thread releases `go` once
// per batch (0 = stop), and waits on `done`. ringlet::Semaphore works from
// tasks and plain threads alike; it is outside the timed hot loop's cost
// (one wake-up each way per batch).
struct Control {
    std::atomic<bool> stop{false};
    ringlet::Semaphore go{0};
    ringlet::Semaphore done{0};

    // Runs batches until the benchmark's state loop ends, timing each.
    void drive(benchmark::State& state, int sides) {
        for (auto _ : state) {
            const auto t0 = Clock::now();
            go.release(static_cast<std::size_t>(sides));
            for (int i = 0; i < sides; ++i) done.acquire();
            state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
        }
        stop.store(true);
        go.release(static_cast<std::size_t>(sides));
    }
    // One side: waits for the next batch; false when told to stop.
    bool next() {
        go.acquire();
        return !stop.load();
    }
};

// ------------------------------------------------------------------ ringlet

// Producer task on thread A, consumer task on thread B, capacity range(0).
void BM_RingletThroughput(benchmark::State& state) {
    ringlet::Channel<std::uint64_t> ch(static_cast<std::size_t>(state.range(0)));
    Control control;
    std::uint64_t sink = 0;
    ringlet::Thread<void> producer([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < batch; ++i) ch.send(static_cast<std::uint64_t>(i));
            control.done.release();
        }
    });
    ringlet::Thread<ringlet::Stats> consumer([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < batch; ++i) sink += *ch.recv();
            control.done.release();
        }
        return ringlet::stats();
    });
    control.drive(state, 2);
    producer.get();
    const ringlet::Stats s = consumer.get();
    benchmark::DoNotOptimize(sink);
    messages_counters(state);
    state.counters["polls_per_msg"] =
        static_cast<double>(s.polls) / static_cast<double>(state.iterations() * batch);
}
BENCHMARK(BM_RingletThroughput)->Arg(1024)->UseManualTime();

// Thread A's task sends on `ping` and waits on `pong`; thread B's task echoes.
void BM_RingletPingPong(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    ringlet::Channel<std::uint64_t> ping(capacity);
    ringlet::Channel<std::uint64_t> pong(capacity);
    Control control;
    ringlet::Thread<void> a([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < round_trips; ++i) {
                ping.send(static_cast<std::uint64_t>(i));
                benchmark::DoNotOptimize(pong.recv());
            }
            control.done.release();
        }
        ping.close();
    });
    ringlet::Thread<void> b([&] {
        while (auto v = ping.recv()) pong.send(*v);
    });
    control.drive(state, 1);
    a.get();
    b.get();
    round_trip_counters(state);
}
BENCHMARK(BM_RingletPingPong)->Arg(0)->Arg(1)->UseManualTime();

// Diagnosis, not a baseline: the same ping-pong while each scheduler also
// runs a task that only yields, so neither ever sleeps in the kernel. The gap
// to BM_RingletPingPong is the cost of putting an idle scheduler to sleep and
// waking it (eventfd write + io_uring_enter / epoll_wait on an idle vCPU).
void BM_RingletPingPongAwake(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    ringlet::Channel<std::uint64_t> ping(capacity);
    ringlet::Channel<std::uint64_t> pong(capacity);
    Control control;
    std::atomic<bool> stop{false};
    auto spinner = [&] {
        return ringlet::spawn([&] {
            while (!stop.load(std::memory_order_relaxed)) ringlet::yield();
        });
    };
    ringlet::Thread<void> a([&] {
        auto awake = spinner();
        while (control.next()) {
            for (std::int64_t i = 0; i < round_trips; ++i) {
                ping.send(static_cast<std::uint64_t>(i));
                benchmark::DoNotOptimize(pong.recv());
            }
            control.done.release();
        }
        ping.close();
        awake.join();
    });
    ringlet::Thread<void> b([&] {
        auto awake = spinner();
        while (auto v = ping.recv()) pong.send(*v);
        awake.join();
    });
    control.drive(state, 1);
    stop.store(true);
    a.get();
    b.get();
    round_trip_counters(state);
}
BENCHMARK(BM_RingletPingPongAwake)->Arg(1)->UseManualTime();

// The same channel between two plain std::threads (no scheduler).
void BM_PlainThreadsThroughput(benchmark::State& state) {
    ringlet::Channel<std::uint64_t> ch(static_cast<std::size_t>(state.range(0)));
    Control control;
    std::uint64_t sink = 0;
    std::thread producer([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < batch; ++i) ch.send(static_cast<std::uint64_t>(i));
            control.done.release();
        }
    });
    std::thread consumer([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < batch; ++i) sink += *ch.recv();
            control.done.release();
        }
    });
    control.drive(state, 2);
    producer.join();
    consumer.join();
    benchmark::DoNotOptimize(sink);
    messages_counters(state);
}
BENCHMARK(BM_PlainThreadsThroughput)->Arg(1024)->UseManualTime();

void BM_PlainThreadsPingPong(benchmark::State& state) {
    const auto capacity = static_cast<std::size_t>(state.range(0));
    ringlet::Channel<std::uint64_t> ping(capacity);
    ringlet::Channel<std::uint64_t> pong(capacity);
    Control control;
    std::thread a([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < round_trips; ++i) {
                ping.send(static_cast<std::uint64_t>(i));
                benchmark::DoNotOptimize(pong.recv());
            }
            control.done.release();
        }
        ping.close();
    });
    std::thread b([&] {
        while (auto v = ping.recv()) pong.send(*v);
    });
    control.drive(state, 1);
    a.join();
    b.join();
    round_trip_counters(state);
}
BENCHMARK(BM_PlainThreadsPingPong)->Arg(1)->UseManualTime();

// ------------------------------------------------------------------ mutex + condvar

// A bounded FIFO between OS threads, the textbook way.
class MutexCvQueue {
public:
    explicit MutexCvQueue(std::size_t capacity) : buf_(capacity), capacity_(capacity) {}
    void push(std::uint64_t v) {
        std::unique_lock lock(m_);
        not_full_.wait(lock, [&] { return count_ < capacity_; });
        buf_[(head_ + count_) % capacity_] = v;
        ++count_;
        lock.unlock();
        not_empty_.notify_one();
    }
    std::optional<std::uint64_t> pop() {
        std::unique_lock lock(m_);
        not_empty_.wait(lock, [&] { return count_ > 0 || closed_; });
        if (count_ == 0) return std::nullopt;
        const std::uint64_t v = buf_[head_];
        head_ = (head_ + 1) % capacity_;
        --count_;
        lock.unlock();
        not_full_.notify_one();
        return v;
    }
    void close() {
        std::lock_guard lock(m_);
        closed_ = true;
        not_empty_.notify_all();
    }

private:
    std::mutex m_;
    std::condition_variable not_empty_;
    std::condition_variable not_full_;
    std::vector<std::uint64_t> buf_;
    std::size_t capacity_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
    bool closed_ = false;
};

void BM_MutexCvThroughput(benchmark::State& state) {
    MutexCvQueue q(static_cast<std::size_t>(state.range(0)));
    Control control;
    std::uint64_t sink = 0;
    std::thread producer([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < batch; ++i) q.push(static_cast<std::uint64_t>(i));
            control.done.release();
        }
    });
    std::thread consumer([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < batch; ++i) sink += *q.pop();
            control.done.release();
        }
    });
    control.drive(state, 2);
    producer.join();
    consumer.join();
    benchmark::DoNotOptimize(sink);
    messages_counters(state);
}
BENCHMARK(BM_MutexCvThroughput)->Arg(1024)->UseManualTime();

void BM_MutexCvPingPong(benchmark::State& state) {
    MutexCvQueue ping(1);
    MutexCvQueue pong(1);
    Control control;
    std::thread a([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < round_trips; ++i) {
                ping.push(static_cast<std::uint64_t>(i));
                benchmark::DoNotOptimize(pong.pop());
            }
            control.done.release();
        }
        ping.close();
    });
    std::thread b([&] {
        while (auto v = ping.pop()) pong.push(*v);
    });
    control.drive(state, 1);
    a.join();
    b.join();
    round_trip_counters(state);
}
BENCHMARK(BM_MutexCvPingPong)->Arg(1)->UseManualTime();

// ------------------------------------------------------------------ Boost.Fiber

#ifdef RINGLET_BENCH_BOOST_FIBER
namespace fibers = boost::fibers;

void BM_FiberThroughput(benchmark::State& state) {
    fibers::buffered_channel<std::uint64_t> ch(static_cast<std::size_t>(state.range(0)));
    Control control;
    std::uint64_t sink = 0;
    std::thread producer([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < batch; ++i) ch.push(static_cast<std::uint64_t>(i));
            control.done.release();
        }
    });
    std::thread consumer([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < batch; ++i) sink += ch.value_pop();
            control.done.release();
        }
    });
    control.drive(state, 2);
    producer.join();
    consumer.join();
    benchmark::DoNotOptimize(sink);
    messages_counters(state);
}
BENCHMARK(BM_FiberThroughput)->Arg(1024)->UseManualTime();

// buffered_channel needs a power-of-two capacity of at least 2; the
// rendezvous case uses unbuffered_channel.
template <class Ch>
void fiber_ping_pong(benchmark::State& state, Ch& ping, Ch& pong) {
    Control control;
    std::thread a([&] {
        while (control.next()) {
            for (std::int64_t i = 0; i < round_trips; ++i) {
                ping.push(static_cast<std::uint64_t>(i));
                benchmark::DoNotOptimize(pong.value_pop());
            }
            control.done.release();
        }
        ping.close();
    });
    std::thread b([&] {
        std::uint64_t v;
        while (ping.pop(v) == fibers::channel_op_status::success) pong.push(v);
    });
    control.drive(state, 1);
    a.join();
    b.join();
    round_trip_counters(state);
}

void BM_FiberPingPong(benchmark::State& state) {
    if (state.range(0) == 0) {
        fibers::unbuffered_channel<std::uint64_t> ping, pong;
        fiber_ping_pong(state, ping, pong);
    } else {
        fibers::buffered_channel<std::uint64_t> ping(2), pong(2);
        fiber_ping_pong(state, ping, pong);
    }
}
BENCHMARK(BM_FiberPingPong)->Arg(0)->Arg(2)->UseManualTime();
#endif

// ---------------------------------------------------------------------------
// Prints the console table, then each comparison from the median over the
// repetitions (--benchmark_repetitions) of the benchmarks involved.
class RatioReporter final : public benchmark::ConsoleReporter {
public:
    struct Line {
        const char* label;
        const char* bench;     // function_name[/args]
        const char* baseline;  // null: an absolute figure
        const char* counter;
        double scale;          // counter value * scale = shown in `unit`
        const char* unit;
        bool lower_is_better;  // per_* counters; the ratio is then baseline / ringlet
    };

    explicit RatioReporter(std::vector<Line> lines)
        : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_Color : OO_None), lines_(std::move(lines)) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& r : runs) {
            if (r.error_occurred) continue;
            std::string key = r.run_name.function_name;
            if (!r.run_name.args.empty()) key += "/" + r.run_name.args;
            for (const auto& [name, c] : r.counters) {
                // With --benchmark_display_aggregates_only the console sees
                // only the aggregates: take the median from there.
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
        std::printf("\n== ringlet: comparisons (medians; > 1 = ringlet faster) ==\n");
        for (const Line& l : lines_) {
            double v = 0, b = 0;
            if (!median(l.bench, l.counter, v) || (l.baseline && !median(l.baseline, l.counter, b))) {
                std::printf("%-44s (not run)\n", l.label);
                continue;
            }
            if (l.baseline == nullptr) {
                std::printf("%-44s %10s %s\n", l.label, num(v * l.scale).c_str(), l.unit);
                continue;
            }
            const double ratio = l.lower_is_better ? b / v : v / b;
            std::printf("%-44s %7sx   (%s vs %s %s)  target >= 1: %s\n", l.label,
                        num(ratio).c_str(), num(v * l.scale).c_str(), num(b * l.scale).c_str(),
                        l.unit, ratio >= 1 ? "ok" : "MISSED");
        }
        std::fflush(stdout);
    }

private:
    static std::string num(double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : "%.3g", v);
        return buf;
    }
    bool median(const std::string& bench, const std::string& counter, double& out) {
        if (auto m = medians_.find(bench + "|" + counter); m != medians_.end()) {
            out = m->second;
            return true;
        }
        auto it = samples_.find(bench + "|" + counter);
        if (it == samples_.end() || it->second.empty()) return false;
        std::vector<double> v = it->second;
        std::sort(v.begin(), v.end());
        const std::size_t m = v.size() / 2;
        out = v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
        return true;
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
#ifndef RINGLET_BENCH_BOOST_FIBER
    std::printf("(built without Boost.Fiber: the Fiber baseline is not run)\n");
#endif
    if (!console) {
        benchmark::RunSpecifiedBenchmarks();
    } else {
        RatioReporter reporter({
            {"throughput(1024) ringlet / mutex-cv", "BM_RingletThroughput/1024",
             "BM_MutexCvThroughput/1024", "msgs", 1e-6, "M msgs/s", false},
            {"throughput(1024) ringlet / fiber", "BM_RingletThroughput/1024",
             "BM_FiberThroughput/1024", "msgs", 1e-6, "M msgs/s", false},
            {"throughput(1024) ringlet / plain threads", "BM_RingletThroughput/1024",
             "BM_PlainThreadsThroughput/1024", "msgs", 1e-6, "M msgs/s", false},
            {"ping-pong(1) ringlet / mutex-cv(1)", "BM_RingletPingPong/1", "BM_MutexCvPingPong/1",
             "per_roundtrip", 1e9, "ns/rt", true},
            {"ping-pong(1) ringlet / fiber buffered(2)", "BM_RingletPingPong/1",
             "BM_FiberPingPong/2", "per_roundtrip", 1e9, "ns/rt", true},
            {"ping-pong(0) ringlet / fiber unbuffered", "BM_RingletPingPong/0",
             "BM_FiberPingPong/0", "per_roundtrip", 1e9, "ns/rt", true},
            {"ping-pong(1) ringlet / plain threads(1)", "BM_RingletPingPong/1",
             "BM_PlainThreadsPingPong/1", "per_roundtrip", 1e9, "ns/rt", true},
            {"ping-pong(1) schedulers kept awake / ringlet", "BM_RingletPingPongAwake/1",
             "BM_RingletPingPong/1", "per_roundtrip", 1e9, "ns/rt", true},
            {"ringlet throughput(1024)", "BM_RingletThroughput/1024", nullptr, "msgs", 1e-6,
             "M msgs/s", false},
            {"ringlet ping-pong(0) round trip", "BM_RingletPingPong/0", nullptr, "per_roundtrip",
             1e9, "ns", true},
        });
        benchmark::RunSpecifiedBenchmarks(&reporter);
    }
    benchmark::Shutdown();
    return 0;
}
