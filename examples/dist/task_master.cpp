// examples/dist/task_master.cpp — multiprocessing.managers' task_master, over Redis.
//
// The Python task_master.py serves two queues with a BaseManager on one
// machine: put 10 random numbers in the task queue, read 10 results back.
// Here the broker is Redis, which outlives every client, and the queue is a
// redis::TaskQueue: the master submits square(n) by name and awaits each
// AsyncResult; any number of task_worker (or pool_worker) processes, on any
// machines that reach the Redis server, run them.
//
//   redis-server --bind 0.0.0.0 --requirepass abc            # machine R
//   task_worker --host R --password abc                      # machines A, B, …
//   task_master --host R --password abc --tasks 10           # anywhere
//
// Checked: every result is n*n for the n submitted; exit status 1 otherwise.
#include <cstdio>
#include <random>
#include <vector>

#include <ringlet/ringlet.hpp>

#include "dist_common.hpp"

using namespace ringlet;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
    dist::Options o;
    if (!dist::parse(argc, argv, o, "task_master")) return 2;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    int bad = 0;
    try {
        ringlet::run([&] {
            redis::TaskQueue tasks(dist::connect(o), o.queue);
            std::mt19937 rng(std::random_device{}());
            std::vector<std::pair<long long, redis::AsyncResult<long long>>> sent;
            for (int i = 0; i < o.tasks; ++i) {
                const long long n = rng() % 1000;
                if (!o.smoke || i < 10) std::printf("Put task %lld...\n", n);
                sent.emplace_back(n, tasks.submit<long long>("square", n));
            }
            std::printf("Try get results...\n");
            for (auto& [n, result] : sent) {
                const long long r = result.get(o.smoke ? 30s : 120s);
                if (!o.smoke || &result == &sent.front().second) {
                    std::printf("Result: %lld * %lld = %lld\n", n, n, r);
                }
                if (r != n * n) ++bad;
            }
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "task_master: %s\n", e.what());
        return 1;
    }
    std::printf("master exit (%d results, %d wrong)\n", o.tasks, bad);
    return bad == 0 ? 0 : 1;
}
