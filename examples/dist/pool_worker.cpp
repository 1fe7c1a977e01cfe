// examples/dist/pool_worker.cpp — a Redis TaskQueue worker that uses every core.
//
// One task_worker process runs its tasks on one thread: right for IO-bound
// functions, not for CPU-bound ones. pool_worker registers the same
// "square" function, but each call is handed to an ipc::ProcessPool of one
// process per core (apply_async from the worker's task, which suspends only
// that task), so one machine's worker keeps all its cores busy while a
// single thread talks to Redis. The function is CPU-bound on purpose here
// (a slow square), to show the pool at work.
//
//   pool_worker --host R --password abc [--concurrency N]  # N defaults to 2 x cores
#include <cstdio>
#include <unistd.h>

#include <ringlet/ipc.hpp>
#include <ringlet/ringlet.hpp>

#include "dist_common.hpp"

using namespace ringlet;

namespace {

// Runs in a pool process: the CPU-bound part.
long long slow_square(long long n) {
    volatile long long acc = 0;
    for (long long i = 0; i < n; ++i) acc = acc + n;  // n additions = n*n
    return acc;
}

ipc::ProcessPool* g_pool = nullptr;

// Runs in the worker's task: forwards to the pool and waits (suspends).
long long square(long long n) { return g_pool->apply_async(&slow_square, n).get(); }

}  // namespace

int main(int argc, char** argv) {
    dist::Options o;
    o.concurrency = 0;
    if (!dist::parse(argc, argv, o, "pool_worker")) return 2;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    try {
        ringlet::run([&] {
            ipc::ProcessPool pool;  // one process per core
            g_pool = &pool;
            const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
            const std::size_t concurrency =
                o.concurrency > 0 ? static_cast<std::size_t>(o.concurrency)
                                  : static_cast<std::size_t>(2 * (cores > 0 ? cores : 1));
            redis::TaskQueue tasks(dist::connect(o), o.queue);
            tasks.register_function("square", &square);
            std::printf("pool worker %s: %zu tasks at a time over %ld processes\n",
                        tasks.consumer().c_str(), concurrency, cores);
            tasks.work(concurrency);
            pool.close();
            pool.join();
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pool_worker: %s\n", e.what());
        return 1;
    }
    return 0;
}
