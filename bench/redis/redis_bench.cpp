// bench/redis/redis_bench.cpp — ringlet::redis throughput, driven by redis_compare.sh.
//
//   redis_bench setget --port P [--connections 50] [--requests N] [--pipeline K]
//     SET then GET of one 3-byte value ("key:__rand_int__", as redis-benchmark
//     without -r), N requests each spread over the connections, one task per
//     connection, all on one thread; K commands per pipeline (1 = none).
//     Prints "SET rps cpu_us_per_request" and the same for GET.
//   redis_bench tasks --port P [--tasks N] [--workers 2] [--concurrency 16]
//     TaskQueue: forks the worker processes, submits N trivial tasks (add)
//     from 256 tasks of one thread, waits for every result; prints tasks/s;
//     then one task at a time 200 times: the median end-to-end latency.
// CPU is this process's user + system time (getrusage), so the client side
// only (the workers are other processes).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <sys/resource.h>

#include <ringlet/group.hpp>
#include <ringlet/ipc/process.hpp>
#include <ringlet/redis.hpp>
#include <ringlet/ringlet.hpp>

using namespace ringlet;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Args {
    std::uint16_t port = 6379;
    long connections = 50, requests = 200000, pipeline = 1;
    long tasks = 20000, workers = 2, concurrency = 16;
};

void run_setget(const Args& a, bool is_set) {
    const std::string value = "xxx";
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    Group g;
    const long per_conn = a.requests / a.connections;
    for (long c = 0; c < a.connections; ++c) {
        g.spawn([&] {
            redis::Client client = redis::Client::connect("127.0.0.1", a.port);
            if (a.pipeline <= 1) {
                for (long i = 0; i < per_conn; ++i) {
                    if (is_set)
                        client.set("key:__rand_int__", value);
                    else
                        (void)client.get("key:__rand_int__");
                }
                return;
            }
            auto p = client.pipeline();
            for (long i = 0; i < per_conn; i += a.pipeline) {
                for (long k = 0; k < a.pipeline; ++k) {
                    if (is_set)
                        p.add({"SET", "key:__rand_int__", value});
                    else
                        p.add({"GET", "key:__rand_int__"});
                }
                (void)p.execute();
            }
        });
    }
    g.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    const double n = static_cast<double>(per_conn * a.connections);
    std::printf("%s %.0f %.3f\n", is_set ? "SET" : "GET", n / secs, cpu / n * 1e6);
}

long add(long x, long y) { return x + y; }

void run_tasks(const Args& a) {
    const std::uint16_t port = a.port;
    const long conc = a.concurrency;
    std::vector<std::unique_ptr<ipc::Process>> workers;
    for (long w = 0; w < a.workers; ++w) {
        workers.push_back(std::make_unique<ipc::Process>([port, conc] {
            redis::TaskQueue tq(redis::Client::connect("127.0.0.1", port), "bench");
            tq.register_function("add", &add);
            tq.work(static_cast<std::size_t>(conc));
        }));
        workers.back()->start();
    }
    redis::TaskQueue tq(redis::Client::connect("127.0.0.1", port), "bench",
                        {.max_connections = 64});
    // Warm-up: the workers are up once a task comes back.
    (void)tq.submit<long>("add", 1L, 2L).get();
    const auto t0 = Clock::now();
    Group g;
    const long submitters = 256;
    long sum = 0;
    for (long s = 0; s < submitters; ++s) {
        g.spawn([&, s] {
            std::vector<redis::AsyncResult<long>> mine;
            for (long i = s; i < a.tasks; i += submitters)
                mine.push_back(tq.submit<long>("add", i, 1L));
            for (auto& r : mine) sum += r.get();
        });
    }
    g.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (sum != a.tasks * (a.tasks - 1) / 2 + a.tasks) std::fprintf(stderr, "wrong sum %ld\n", sum);
    std::printf("TASKS %.0f\n", static_cast<double>(a.tasks) / secs);
    std::vector<double> lat;
    for (int i = 0; i < 200; ++i) {
        const auto s = Clock::now();
        (void)tq.submit<long>("add", 1L, 1L).get();
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
    }
    std::sort(lat.begin(), lat.end());
    std::printf("LATENCY_US %.0f\n", lat[lat.size() / 2]);
    for (auto& w : workers) {
        w->kill();
        w->join();
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: redis_bench setget|tasks --port P ...\n");
        return 2;
    }
    const std::string_view mode = argv[1];
    Args a;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string_view k = argv[i];
        const long v = std::atol(argv[i + 1]);
        if (k == "--port")
            a.port = static_cast<std::uint16_t>(v);
        else if (k == "--connections")
            a.connections = v;
        else if (k == "--requests")
            a.requests = v;
        else if (k == "--pipeline")
            a.pipeline = v;
        else if (k == "--tasks")
            a.tasks = v;
        else if (k == "--workers")
            a.workers = v;
        else if (k == "--concurrency")
            a.concurrency = v;
    }
    ringlet::run([&] {
        if (mode == "setget") {
            run_setget(a, true);
            run_setget(a, false);
        } else {
            run_tasks(a);
        }
    });
    return 0;
}
