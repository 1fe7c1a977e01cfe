// examples/pool_gevent.cpp — gevent's Pool: bounded concurrency, map with ordered results.
//
// Ports these Python tutorial programs:
//   gevent.pool:     from gevent.pool import Pool; p = Pool(number);
//                    p.spawn(function, parament); p.join()
//   multiprocessing: p = Pool(5); p.map(Pri, range(10))   (there a process pool)
// and a multiprocessing "进程池" program: po = Pool(3), po.apply_async() over
// 10 jobs printing "----start----" / "-----end-----". Here the workers are tasks
// of one thread, so the jobs sleep instead of computing; the process-pool
// version comes with ringlet::ipc::ProcessPool.
//
//   pool_gevent            time unit 100 ms
//   pool_gevent --smoke    time unit 10 ms

#include <chrono>
#include <cstdio>
#include <ranges>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <ringlet/ringlet.hpp>

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
Clock::time_point start;

double stamp() { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Part 1: p.map(Pri, range(10)) on Pool(5). The calls sleep for different
// times (1 to 10 units), so they finish out of order; map() still returns the
// results in input order.
void map_in_order(ringlet::Duration unit) {
    std::printf("== Part 1: Pool(5).map(square, range(10))\n");
    ringlet::Pool pool(5);
    auto square = [unit](int x) {
        const int units = x * 3 % 10 + 1;
        ringlet::sleep(units * unit);
        std::printf("[%5.2fs] square(%d) finished after %d units\n", stamp(), x, units);
        return x * x;
    };
    const std::vector<int> results = pool.map(square, std::views::iota(0, 10));
    std::printf("[%5.2fs] results, in input order:", stamp());
    for (int r : results) std::printf(" %d", r);
    std::printf("\n\n");
}

// Part 2: po = Pool(3); po.apply_async(worker, (i,)) for i in range(10);
// po.join(). With gevent's Pool, spawn() itself waits for a free slot.
void spawn_and_join(ringlet::Duration unit) {
    std::printf("== Part 2: Pool(3), spawn 10 jobs one by one, then join\n");
    constexpr int work[] = {3, 1, 2, 4, 1, 2, 3, 1, 2, 1};  // units each job sleeps
    ringlet::Pool pool(3);
    std::printf("[%5.2fs] ----start----\n", stamp());
    for (int i = 0; i < 10; ++i) {
        if (pool.free_count() == 0) {
            std::printf("[%5.2fs] main: pool full, spawn(%d) waits for a free slot\n", stamp(), i);
        }
        pool.spawn([i, nap = work[i] * unit] {
            const Clock::time_point begin = Clock::now();
            std::printf("[%5.2fs] job %d starts\n", stamp(), i);
            ringlet::sleep(nap);
            std::printf("[%5.2fs] job %d done, took %0.2f s\n", stamp(), i,
                        std::chrono::duration<double>(Clock::now() - begin).count());
        });
    }
    std::printf("[%5.2fs] main: all 10 spawned; %zu still running\n", stamp(), pool.size());
    pool.join();
    std::printf("[%5.2fs] -----end-----\n\n", stamp());
}

// Part 3: one failing call. map() cancels the calls still running and
// rethrows the first failure in input order.
void map_failure(ringlet::Duration unit) {
    std::printf("== Part 3: a call that throws inside map()\n");
    ringlet::Pool pool(4);
    try {
        pool.map(
            [unit](int x) {
                ringlet::sleep(x * unit);
                if (x == 2) throw std::runtime_error("no square for 2 today");
                return x * x;
            },
            std::vector<int>{1, 2, 3, 8});
    } catch (const std::runtime_error& e) {
        std::printf("[%5.2fs] map() threw: %s (the call for 8 was cancelled, not awaited)\n",
                    stamp(), e.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool smoke = false;
    for (int i = 1; i < argc; ++i) smoke = smoke || std::string_view(argv[i]) == "--smoke";
    const ringlet::Duration unit = smoke ? ringlet::Duration(10ms) : ringlet::Duration(100ms);

    start = Clock::now();
    ringlet::run([unit] {
        map_in_order(unit);
        spawn_and_join(unit);
        map_failure(unit);
    });
    return 0;
}
