// bench/ipc/pool_bench.cpp — ProcessPool small-task throughput and latency,
// against ringlet::blocking() threads doing the same calls in this process.
//
// Each line: `<what> <model> <value> <unit>`; bench/ipc/pool_compare.sh runs
// this and the same workload on Python's multiprocessing.Pool
// (pool_bench.py) and prints the ratios. The task is trivial (returns its
// argument plus one), so the figures are the pool's own cost per task.
//
//   pool_bench [--workers N] [--tasks N] [--quick]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include <ringlet/blocking.hpp>
#include <ringlet/ipc/process_pool.hpp>
#include <ringlet/ringlet.hpp>

namespace ipc = ringlet::ipc;

namespace {

using Clock = std::chrono::steady_clock;

long inc(long x) { return x + 1; }

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

void report(const char* what, const char* model, double value, const char* unit) {
    std::printf("%-24s %-10s %14.1f %s\n", what, model, value, unit);
    std::fflush(stdout);
}

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "pool_bench: wrong results in %s\n", what);
        std::exit(1);
    }
}

// Best of `reps` runs of f() (seconds): the least disturbed one.
template <class F>
double best_of(int reps, F f) {
    double best = 1e30;
    for (int i = 0; i < reps; ++i) best = std::min(best, f());
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t workers = ipc::cpu_count();
    long tasks = 200000;
    int reps = 3;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--workers" && i + 1 < argc) workers = std::strtoul(argv[++i], nullptr, 10);
        if (a == "--tasks" && i + 1 < argc) tasks = std::strtol(argv[++i], nullptr, 10);
        if (a == "--quick") {
            tasks = 20000;
            reps = 1;
        }
    }
    const long round_trips = tasks / 10;
    const long map_items = 100000;
    std::printf("# pool_bench: %zu workers, %ld tasks, best of %d\n", workers, tasks, reps);

    return ringlet::run([&] {
        ipc::ProcessPool pool(workers);
        pool.apply(inc, 0L);  // workers up

        // Throughput: submit every task, then collect every result.
        double t = best_of(reps, [&] {
            const auto start = Clock::now();
            std::vector<ipc::AsyncResult<long>> rs;
            rs.reserve(static_cast<std::size_t>(tasks));
            for (long i = 0; i < tasks; ++i) rs.push_back(pool.apply_async(inc, i));
            long sum = 0;
            for (auto& r : rs) sum += r.get();
            check(sum == tasks * (tasks + 1) / 2, "apply_async");
            return seconds_since(start);
        });
        report("apply_async", "pool", tasks / t, "tasks/s");
        t = best_of(reps, [&] {
            const auto start = Clock::now();
            std::vector<ringlet::Task<long>> ts;
            ts.reserve(static_cast<std::size_t>(tasks));
            for (long i = 0; i < tasks; ++i) {
                ts.push_back(ringlet::spawn([i] { return ringlet::blocking([i] { return inc(i); }); }));
            }
            long sum = 0;
            for (auto& x : ts) sum += x.get();
            check(sum == tasks * (tasks + 1) / 2, "blocking");
            return seconds_since(start);
        });
        report("apply_async", "blocking", tasks / t, "tasks/s");

        // Latency: one call at a time.
        t = best_of(reps, [&] {
            const auto start = Clock::now();
            long x = 0;
            for (long i = 0; i < round_trips; ++i) x = pool.apply(inc, x);
            check(x == round_trips, "apply");
            return seconds_since(start);
        });
        report("apply_round_trip", "pool", t / round_trips * 1e6, "us");
        t = best_of(reps, [&] {
            const auto start = Clock::now();
            long x = 0;
            for (long i = 0; i < round_trips; ++i) x = ringlet::blocking([x] { return inc(x); });
            check(x == round_trips, "blocking round trip");
            return seconds_since(start);
        });
        report("apply_round_trip", "blocking", t / round_trips * 1e6, "us");

        // map over 100 000 items, default chunks (4 per worker) and chunks of 1.
        std::vector<long> items(static_cast<std::size_t>(map_items));
        std::iota(items.begin(), items.end(), 0L);
        for (std::size_t chunk : {std::size_t{0}, std::size_t{1}}) {
            t = best_of(reps, [&] {
                const auto start = Clock::now();
                auto out = pool.map(inc, items, chunk);
                check(out.size() == items.size() && out.back() == map_items, "map");
                return seconds_since(start);
            });
            report(chunk == 0 ? "map_100k_chunked" : "map_100k_chunksize1", "pool", t * 1e3, "ms");
            t = best_of(reps, [&] {
                const auto start = Clock::now();
                const std::size_t size = chunk == 0 ? items.size() / (4 * workers) + 1 : 1;
                std::vector<ringlet::Task<std::vector<long>>> ts;
                for (std::size_t at = 0; at < items.size(); at += size) {
                    ts.push_back(ringlet::spawn([&items, at, size] {
                        return ringlet::blocking([&items, at, size] {
                            std::vector<long> part;
                            for (std::size_t i = at; i < std::min(items.size(), at + size); ++i) {
                                part.push_back(inc(items[i]));
                            }
                            return part;
                        });
                    }));
                }
                std::vector<long> out;
                for (auto& x : ts) {
                    auto part = x.get();
                    out.insert(out.end(), part.begin(), part.end());
                }
                check(out.size() == items.size() && out.back() == map_items, "blocking map");
                return seconds_since(start);
            });
            report(chunk == 0 ? "map_100k_chunked" : "map_100k_chunksize1", "blocking", t * 1e3, "ms");
        }
        pool.close();
        pool.join();
        return 0;
    });
}
